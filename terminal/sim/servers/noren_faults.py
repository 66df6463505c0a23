"""Fault injection for the Noren (Flattrade) sandbox: the failures traders meet on a bad day.

A fault profile is a comma-separated list of ``name=value`` items, given on the command line
(``trading-terminal sandbox noren --faults SPEC [--fault-seed N]``) or from Python
(``NorenSandbox(faults=SPEC, fault_seed=N)`` or ``sandbox.set_faults(SPEC)``)::

    drop_reply_after_accept=0.1,http_500=0.05,html_error=0.03,truncated_json=0.03,
    rate_limited=0.03,session_expired=0.02,delay_ms=0-300,ws_drop=0.01,ws_stall=0.01

REST faults (``P`` is a probability in [0, 1]; at most one of them hits a request, drawn per
request, so their sum must not pass 1):

``drop_reply_after_accept=P``  the request is processed (an order IS placed), then the connection
                               is closed without a reply: the client sees a dropped connection.
``html_error=P``               the request is processed, then a gateway's HTML page comes back
                               (HTTP 502 Bad Gateway): the reply was lost behind a proxy.
``truncated_json=P``           the request is processed; the JSON reply is cut short at a random
                               byte (Content-Length matches the cut body).
``http_500=P``                 HTTP 500 with a plain-text body; the request is NOT processed.
``rate_limited=P``             the documented rate-limit reply, HTTP 200 + ``Not_Ok`` "... exceeds
                               Limit 10 for user"; the request is NOT processed.
``session_expired=P``          ``{"stat":"Not_Ok","emsg":"Session Expired : Invalid Session Key"}``;
                               the request is NOT processed (the token stays valid afterwards).

Other items:

``delay_ms=LO-HI`` (or ``=N``)  every REST reply is delayed by a uniform LO..HI milliseconds.
``ws_drop=P``                   per websocket session and market step (``step_interval``, 0.1 s by
                                default): the server closes the connection.
``ws_stall=P``                  per session and market step: the connection stays open but the
                                server sends nothing more on it (no ticks, order updates or
                                heartbeat acks) until the client gives up and reconnects.
``routes=A+B``                  REST faults only on these routes (e.g. ``routes=PlaceOrder+OrderBook``);
                                default every PiConnectAPI route. Login, token exchange and the
                                scrip master are never faulted.

Draws come from one RNG seeded by ``fault_seed`` (the market seed by default), taken in the order
requests arrive: a run with one client at a time replays exactly; concurrent clients get the same
rates, not the same sequence. ``FaultInjector.counts`` says what was injected.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, fields

# REST faults, in the order they are drawn. "before": the request never reaches the OMS.
PROCESSED_FAULTS = ("drop_reply_after_accept", "html_error", "truncated_json")
REFUSED_FAULTS = ("http_500", "rate_limited", "session_expired")
REST_FAULTS = PROCESSED_FAULTS + REFUSED_FAULTS
WS_FAULTS = ("ws_drop", "ws_stall")


@dataclass(frozen=True)
class FaultProfile:
    """Probabilities (0..1) of each fault, a reply delay range (ms) and the routes REST faults hit."""

    drop_reply_after_accept: float = 0.0
    html_error: float = 0.0
    truncated_json: float = 0.0
    http_500: float = 0.0
    rate_limited: float = 0.0
    session_expired: float = 0.0
    ws_drop: float = 0.0
    ws_stall: float = 0.0
    delay_ms: tuple[int, int] = (0, 0)
    routes: frozenset[str] | None = None  # None: every PiConnectAPI route

    def __post_init__(self) -> None:
        for name in REST_FAULTS + WS_FAULTS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {name}={value}: a probability must be between 0 and 1")
        if self.rest_rate > 1.0 + 1e-9:
            raise ValueError(f"REST fault probabilities add up to {self.rest_rate:.3f}; at most 1 fault a request")
        low, high = self.delay_ms
        if not 0 <= low <= high:
            raise ValueError(f"delay_ms={low}-{high}: want 0 <= LO <= HI milliseconds")

    @property
    def rest_rate(self) -> float:
        """The chance a REST request meets one of the REST faults."""
        return sum(getattr(self, name) for name in REST_FAULTS)

    @property
    def active(self) -> bool:
        return bool(self.rest_rate or self.ws_drop or self.ws_stall or self.delay_ms[1])

    @classmethod
    def parse(cls, spec: str | None) -> "FaultProfile":
        """A profile from ``name=value,...`` text; empty or None means no faults. Raises ValueError."""
        values: dict[str, object] = {}
        for item in (spec or "").split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, raw = (part.strip() for part in item.partition("="))
            if not sep or not raw:
                raise ValueError(f"fault item {item!r}: write name=value")
            if name in values:
                raise ValueError(f"fault {name} given twice")
            if name == "delay_ms":
                values[name] = _range_ms(raw)
            elif name == "routes":
                values[name] = frozenset(r.strip() for r in raw.split("+") if r.strip())
            elif name in REST_FAULTS + WS_FAULTS:
                try:
                    values[name] = float(raw)
                except ValueError:
                    raise ValueError(f"fault {name}={raw!r}: not a probability") from None
            else:
                known = ", ".join(REST_FAULTS + WS_FAULTS + ("delay_ms", "routes"))
                raise ValueError(f"unknown fault {name!r}; known: {known}")
        return cls(**values)  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name):g}" for f in fields(self)
                 if f.name in REST_FAULTS + WS_FAULTS and getattr(self, f.name)]
        if self.delay_ms[1]:
            parts.append(f"delay_ms={self.delay_ms[0]}-{self.delay_ms[1]}")
        if self.routes is not None:
            parts.append("routes=" + "+".join(sorted(self.routes)))
        return ",".join(parts)


def _range_ms(raw: str) -> tuple[int, int]:
    low, _, high = raw.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise ValueError(f"delay_ms={raw!r}: write LO-HI or N (milliseconds)") from None
    return bounds


@dataclass(frozen=True, slots=True)
class RestFault:
    """What to do to one REST request: ``kind`` (None: answer normally) after ``delay`` seconds."""

    kind: str | None
    delay: float = 0.0

    @property
    def refuses(self) -> bool:
        """True when the request must not reach the OMS."""
        return self.kind in REFUSED_FAULTS


NO_FAULT = RestFault(None)


class FaultInjector:
    """A profile plus a seeded RNG and counters. Thread-safe: the HTTP server answers in threads."""

    def __init__(self, profile: FaultProfile | str | None = None, seed: int = 0):
        self.profile = profile if isinstance(profile, FaultProfile) else FaultProfile.parse(profile)
        self.seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # fault kind -> times injected
        self.by_route: Counter[tuple[str, str]] = Counter()  # (route, kind or "ok") -> requests
        self.rest_requests = 0

    def rest_fault(self, route: str) -> RestFault:
        """Draw the fault for one PiConnectAPI request to ``route``."""
        profile = self.profile
        with self._lock:
            self.rest_requests += 1
            low, high = profile.delay_ms
            delay = self._rng.uniform(low, high) / 1000.0 if high else 0.0
            kind = None
            if profile.routes is None or route in profile.routes:
                draw, edge = self._rng.random(), 0.0
                for name in REST_FAULTS:
                    edge += getattr(profile, name)
                    if draw < edge:
                        kind = name
                        break
            if kind:
                self.counts[kind] += 1
            self.by_route[(route, kind or "ok")] += 1
        return RestFault(kind, delay) if (kind or delay) else NO_FAULT

    def cut_point(self, length: int) -> int:
        """Where to truncate a reply of ``length`` bytes: anywhere before its end."""
        with self._lock:
            return self._rng.randrange(0, max(length, 1))

    def ws_fault(self) -> str | None:
        """Draw one session's websocket fault for one market step: "ws_drop", "ws_stall" or None."""
        profile = self.profile
        if not (profile.ws_drop or profile.ws_stall):
            return None
        with self._lock:
            draw = self._rng.random()
            kind = ("ws_drop" if draw < profile.ws_drop
                    else "ws_stall" if draw < profile.ws_drop + profile.ws_stall else None)
            if kind:
                self.counts[kind] += 1
        return kind

    def measured_rate(self, route: str | None = None) -> float:
        """The share of REST requests (to ``route``, or all) that met a fault so far."""
        with self._lock:
            if route is None:
                total, faulted = self.rest_requests, sum(self.counts[k] for k in REST_FAULTS)
            else:
                total = sum(n for (r, _), n in self.by_route.items() if r == route)
                faulted = sum(n for (r, k), n in self.by_route.items() if r == route and k != "ok")
        return faulted / total if total else 0.0
