"""Fault profiles for the SmartAPI sandbox: the failures Angel One traders meet, injected on purpose.

Syntax (``trading-terminal sandbox smartapi --faults PROFILE``): comma-separated ``name=value``::

    drop_reply_after_accept=0.1,http_500=0.05,html_error=0.03,truncated_json=0.03,rate_limited=0.03,
    token_expired=0.02,empty_body=0.03,delay_ms=0-300,ws_drop=0.01,ws_stall=0.01

REST faults (value = probability per REST call, 0..1; their sum must not exceed 1; at most one
fault hits a call). "Carried out" means the route ran: an order was placed, modified, cancelled.

=========================  ============================================================  ===========
name                       what the client gets                                          carried out
=========================  ============================================================  ===========
drop_reply_after_accept    the connection closes without a reply                         yes
http_500                   HTTP 500/502/503/504 with a short text body                   half the time
html_error                 an HTML error page (HTTP 502/503/504, or 200 from a proxy)    half the time
truncated_json             HTTP 200, the JSON reply cut short                            yes
rate_limited               HTTP 403 ``Access denied because of exceeding access rate``   no
token_expired              ``{"success": false, "errorCode": "AG8001"}``; every JWT dies  no
empty_body                 HTTP 200 with an empty body (shape D)                         yes
=========================  ============================================================  ===========

``rate_limited`` and ``token_expired`` happen only *before* the call is carried out, as at the real
gateway, which checks the token and the rate before the order system sees the request: that is
what makes the adapter's one repeat of a call after AG8001 safe. 5xx and HTML pages come from
gateways and proxies that may time out before or after the order system acted, so they are
carried out half the time and the client cannot know which. The login route and the
instrument master file are never faulted (a session must be able to start), and the token
routes (login, generateTokens) never get ``token_expired``.

Other settings:

- ``delay_ms=A-B`` (or ``delay_ms=N``): every REST reply is held back a uniform A..B ms.
- ``ws_drop=P``: each open websocket (market feed and order updates) is killed without a close
  frame with probability P per second.
- ``ws_stall=P``: each open websocket goes silent with probability P per second: the TCP
  connection stays open but nothing more is written to it (no ticks, no order updates, no pong
  of any kind), like a NAT box that silently stopped forwarding. The client must notice and
  reconnect.

From Python: ``FaultInjector(parse_faults("http_500=0.1"), seed=1)`` - the random draws come from
one seeded RNG (thread-safe), so a single-threaded run repeats exactly.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

REST_FAULTS = ("drop_reply_after_accept", "http_500", "html_error", "truncated_json", "rate_limited",
               "token_expired", "empty_body")
WS_FAULTS = ("ws_drop", "ws_stall")
BEFORE = frozenset({"rate_limited", "token_expired"})  # never carried out
AFTER = frozenset({"drop_reply_after_accept", "truncated_json", "empty_body"})  # always carried out
EITHER = frozenset({"http_500", "html_error"})  # carried out half the time
EXEMPT_ROUTES = frozenset({"loginByPassword"})
TOKEN_ROUTES = frozenset({"loginByPassword", "generateTokens"})

SYNTAX = ("comma-separated name=value: " + ", ".join(f"{n}=P" for n in REST_FAULTS + WS_FAULTS)
          + ", delay_ms=A-B (P: probability 0..1 per REST call, per socket per second for ws_*)")


class FaultSyntaxError(ValueError):
    """A fault profile that cannot be read; the message names the part and says what is expected."""


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """Probabilities of each fault. REST rates are per call; ws rates are per open socket per second."""

    rest: dict[str, float] = field(default_factory=dict)
    delay_ms: tuple[int, int] = (0, 0)
    ws_drop: float = 0.0
    ws_stall: float = 0.0

    @property
    def rest_rate(self) -> float:
        """The chance that a REST call is hit by some fault."""
        return sum(self.rest.values())

    def __str__(self) -> str:
        parts = [f"{name}={rate:g}" for name, rate in self.rest.items() if rate]
        if self.delay_ms != (0, 0):
            parts.append(f"delay_ms={self.delay_ms[0]}-{self.delay_ms[1]}")
        parts += [f"{name}={getattr(self, name):g}" for name in WS_FAULTS if getattr(self, name)]
        return ",".join(parts) or "none"


NO_FAULTS = FaultProfile()


def _probability(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSyntaxError(f"{name}={text}: expected a probability between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise FaultSyntaxError(f"{name}={text}: a probability must be between 0 and 1")
    return value


def _delay(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        bounds = (int(low), int(high if sep else low))
    except ValueError:
        raise FaultSyntaxError(f"delay_ms={text}: expected milliseconds N or a range A-B") from None
    if bounds[0] < 0 or bounds[1] < bounds[0]:
        raise FaultSyntaxError(f"delay_ms={text}: expected 0 <= A <= B")
    return bounds


def parse_faults(text: str) -> FaultProfile:
    """A FaultProfile from ``name=value,...`` (see the module docstring). Raises FaultSyntaxError."""
    rest: dict[str, float] = {}
    delay = (0, 0)
    ws = {name: 0.0 for name in WS_FAULTS}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not value:
            raise FaultSyntaxError(f"{part!r}: expected name=value ({SYNTAX})")
        if name in REST_FAULTS:
            rest[name] = _probability(name, value)
        elif name in WS_FAULTS:
            ws[name] = _probability(name, value)
        elif name == "delay_ms":
            delay = _delay(value)
        else:
            raise FaultSyntaxError(f"unknown fault {name!r}; known: {', '.join(REST_FAULTS + WS_FAULTS)}, delay_ms")
    if sum(rest.values()) > 1.0 + 1e-9:
        raise FaultSyntaxError(f"REST fault probabilities add up to {sum(rest.values()):g}, more than 1")
    return FaultProfile(rest, delay, ws["ws_drop"], ws["ws_stall"])


@dataclass(frozen=True, slots=True)
class RestFault:
    """What to do to one REST call: ``kind`` ("" = none), ``carried_out``, reply ``delay_s``."""

    kind: str = ""
    carried_out: bool = True
    delay_s: float = 0.0
    status: int = 200  # for http_500 / html_error


class FaultInjector:
    """Draws faults from one seeded RNG and counts what it injected. Thread-safe."""

    def __init__(self, profile: FaultProfile = NO_FAULTS, seed: int = 0):
        self.profile = profile
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.calls = 0  # REST calls seen (exempt routes excluded)
        self.injected: Counter[str] = Counter()  # fault -> times injected
        self._drawn = threading.local()

    def rest(self, route: str) -> RestFault:
        """The fault (if any) for one call of ``route`` (the last path segment, e.g. "placeOrder")."""
        fault = self._draw(route)
        self._drawn.fault = fault
        return fault

    def drawn(self) -> RestFault | None:
        """The fault this thread drew last (None: none since ``forget_drawn``). The sandbox answers
        each request on one thread, so a request log can tell what the request met."""
        return getattr(self._drawn, "fault", None)

    def forget_drawn(self) -> None:
        self._drawn.fault = None

    def _draw(self, route: str) -> RestFault:
        if route in EXEMPT_ROUTES:
            return RestFault()
        with self._lock:
            self.calls += 1
            low, high = self.profile.delay_ms
            delay = self._rng.uniform(low, high) / 1000 if high else 0.0
            draw = self._rng.random()
            kind = ""
            for name, rate in self.profile.rest.items():
                if name == "token_expired" and route in TOKEN_ROUTES:
                    continue
                if draw < rate:
                    kind = name
                    break
                draw -= rate
            if not kind:
                return RestFault(delay_s=delay)
            self.injected[kind] += 1
            carried_out = kind in AFTER or (kind in EITHER and self._rng.random() < 0.5)
            status = 200
            if kind == "http_500":
                status = self._rng.choice((500, 502, 503, 504))
            elif kind == "html_error":
                status = self._rng.choice((200, 502, 503, 504))
            return RestFault(kind, carried_out, delay, status)

    def socket_fault(self, seconds: float) -> str:
        """"ws_drop", "ws_stall" or "" for one open socket over the next ``seconds``."""
        drop, stall = self.profile.ws_drop * seconds, self.profile.ws_stall * seconds
        if not drop and not stall:
            return ""
        with self._lock:
            draw = self._rng.random()
            kind = "ws_drop" if draw < drop else "ws_stall" if draw < drop + stall else ""
            if kind:
                self.injected[kind] += 1
            return kind

    def cut(self, body: bytes) -> bytes:
        """A JSON reply cut short at a random point (never empty, never the whole)."""
        if len(body) < 2:
            return body[:0] + b"{"
        with self._lock:
            return body[:self._rng.randrange(1, len(body))]


def error_body(fault: RestFault) -> bytes:
    """The body of an http_500 or html_error reply."""
    if fault.kind == "html_error":
        title = {200: "Service Unavailable", 502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable",
                 504: "504 Gateway Time-out"}[fault.status]
        return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
                "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()
    return {500: b"Internal Server Error", 502: b"Bad Gateway", 503: b"Service Unavailable",
            504: b"Gateway Timeout"}[fault.status]
