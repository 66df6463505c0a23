"""The PiConnect REST transport: ``jData=<json>&jKey=<token>`` posts and the error envelope.

Transport only: it knows the envelope, not the meaning of any route. Every value is sent as a
string, and string values are form-escaped (``quote_plus``) because the server form-decodes
the body: an unescaped "&" in a symbol (M&M-EQ) or a remark would cut the request short.
Errors map to the terminal's types: "Session Expired" -> SessionExpiredError, "exceeds Limit"
-> RateLimitedError, "no data" -> an empty list for book routes.

Order routes are never retried, and on an order route anything that is not a clear answer (no
reply, a dropped connection, a 5xx or HTML page, truncated or garbled JSON, "Server Timeout")
is OrderOutcomeUnknown: the order may exist, so the caller looks it up by its tag. Read-only
routes retry a network failure or a rate-limit reply with backoff (READ_RETRY_DELAYS, jittered).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from urllib.parse import quote_plus

import requests
from urllib3.exceptions import NewConnectionError

from terminal.brokers.base import (
    BrokerError, NetworkError, OrderOutcomeUnknown, RateLimitedError, SessionExpiredError,
)
from terminal.brokers.ratelimit import RateLimits

log = logging.getLogger(__name__)

# Published limits: order routes 10/s and 40/min; every other route 40/s and 200/min.
RATE_LIMITS = {"orders": (10, 40), "other": (40, 200)}
ORDER_ROUTES = frozenset({"PlaceOrder", "ModifyOrder", "CancelOrder", "ExitSNOOrder", "ProductConversion",
                          "PlaceGTTOrder", "ModifyGTTOrder", "CancelGTTOrder", "PlaceOCOOrder",
                          "ModifyOCOOrder", "CancelOCOOrder"})
_NO_DATA = re.compile(r"no\s*data", re.IGNORECASE)
_RATE = re.compile(r"exceeds\s+limit", re.IGNORECASE)
_SERVER_TIMEOUT = re.compile(r"^\s*server\s+timeout", re.IGNORECASE)  # the OMS did not answer in time
READ_RETRY_DELAYS = (0.2, 0.5, 1.0)  # seconds before each retry of a read-only call (x0.8..1.2 jitter)


class NorenError(BrokerError):
    """A ``Not_Ok`` reply; ``emsg`` is the server's text."""

    def __init__(self, emsg: str, route: str):
        super().__init__(f"{route}: {emsg}")
        self.emsg = emsg
        self.route = route


def encode_body(data: dict, token: str | None) -> str:
    """The literal request body. Values become strings; strings are form-escaped."""
    fields = {k: quote_plus(str(v)) for k, v in data.items() if v is not None}
    body = "jData=" + json.dumps(fields, separators=(",", ":"))
    if token is not None:
        body += "&jKey=" + token
    return body


def is_no_data(emsg: str) -> bool:
    return bool(_NO_DATA.search(emsg or ""))


def check_reply(reply, route: str, *, list_route: bool = False):
    """The payload of a parsed reply, or the matching error. ``list_route``: "no data" means []."""
    if isinstance(reply, list):
        return reply
    if not isinstance(reply, dict):
        raise BrokerError(f"{route}: unexpected reply {str(reply)[:120]!r}")
    stat = str(reply.get("stat") or "").strip().lower()
    if stat == "ok":
        return reply
    if stat != "not_ok" and not (reply.get("emsg") or reply.get("dmsg")):
        # Neither a success nor a refusal (a feed frame, a proxy's JSON): on an order route the
        # order may exist, so it is unknown, never refused.
        unclear = OrderOutcomeUnknown if route in ORDER_ROUTES else NetworkError
        raise unclear(f"Flattrade {route}: reply without a status: {str(reply)[:120]!r}")
    emsg = str(reply.get("emsg") or reply.get("dmsg") or "no error text")
    if _SERVER_TIMEOUT.search(emsg):  # the backend may still act on it: not a refusal
        if route in ORDER_ROUTES:
            raise OrderOutcomeUnknown(f"Flattrade {route}: {emsg}")
        raise NetworkError(f"Flattrade {route}: {emsg}")
    if emsg.lower().startswith("session expired"):
        raise SessionExpiredError(f"Flattrade: {emsg}")
    if _RATE.search(emsg):
        raise RateLimitedError(f"Flattrade: {emsg}")
    if list_route and is_no_data(emsg):
        return []
    raise NorenError(emsg, route)


class NorenHttp:
    """Posts to ``{rest_url}{Route}``; thread-safe (one requests.Session behind a lock-free pool)."""

    def __init__(self, rest_url: str, *, timeout: float = 10.0, limits: RateLimits | None = None,
                 session: requests.Session | None = None, read_retry_delays: tuple[float, ...] = READ_RETRY_DELAYS):
        self.rest_url = rest_url if rest_url.endswith("/") else rest_url + "/"
        self.timeout = timeout
        self.read_retry_delays = tuple(read_retry_delays)
        self.limits = limits or RateLimits(RATE_LIMITS)
        self._session = session or _pooled_session()
        self._token: str | None = None
        self._lock = threading.Lock()

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        with self._lock:
            self._token = value

    def post(self, route: str, data: dict, *, list_route: bool = False, authenticated: bool = True):
        """Send ``data`` to ``route`` and return the checked reply (dict or list)."""
        if authenticated and not self._token:
            raise SessionExpiredError("Not logged in to Flattrade.")
        is_order = route in ORDER_ROUTES
        delays = () if is_order else self.read_retry_delays
        for attempt in range(len(delays) + 1):
            try:
                return self._post_once(route, data, is_order, list_route, authenticated)
            except (NetworkError, RateLimitedError) as exc:
                if is_order or attempt == len(delays):
                    raise
                wait = delays[attempt] * random.uniform(0.8, 1.2)
                log.info("Flattrade %s failed (%s); retry %d in %.2f s", route, exc, attempt + 1, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _post_once(self, route: str, data: dict, is_order: bool, list_route: bool, authenticated: bool):
        self.limits.acquire("orders" if is_order else "other")
        body = encode_body(data, self._token if authenticated else None)
        url = self.rest_url + route
        try:
            response = self._session.post(url, data=body, timeout=self.timeout,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        except requests.RequestException as exc:
            if is_order and not _never_sent(exc):
                raise OrderOutcomeUnknown(f"Flattrade {route}: no reply ({exc.__class__.__name__})") from exc
            raise NetworkError(f"Flattrade {route}: {exc.__class__.__name__}: {exc}") from exc
        unreadable = OrderOutcomeUnknown if is_order else NetworkError
        try:
            reply = response.json()
        except (ValueError, RecursionError):  # HTML error page, truncated or garbled JSON
            raise unreadable(f"Flattrade {route}: HTTP {response.status_code}, not JSON: "
                             f"{response.text[:120]!r}") from None
        if not isinstance(reply, (dict, list)):
            raise unreadable(f"Flattrade {route}: HTTP {response.status_code}, unexpected reply {str(reply)[:120]!r}")
        return check_reply(reply, route, list_route=list_route)


def _pooled_session() -> requests.Session:
    """A session whose pool has room for every worker thread (requests keeps 10 by default), and
    no transport-level retries: a PlaceOrder must leave the machine at most once."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request surely never reached the server (refused or timed out connecting)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (NewConnectionError, ConnectionRefusedError)):
            return True
        pending += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return False
