"""SmartAPI REST transport: routes, headers, client-side rate limits and the four reply shapes.

Reply shapes (all parsed here, nowhere else):
A. ``{"status": true|"true"|false, "message", "errorcode", "data"}`` - the standard envelope;
B. ``{"success": ..., "message", "errorCode", "data"}`` - the gateway's (AG8001 and quotes);
C. HTTP 403 with the plain text "Access denied because of exceeding access rate" -> RateLimitedError;
D. an empty (or non-JSON) body -> EmptyReplyError, which a placement turns into OrderOutcomeUnknown.
This module never retries: it reports, and the caller (auth refresh, broker) decides.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from terminal.brokers.base import BrokerError, NetworkError, RateLimitedError
from terminal.brokers.ratelimit import RateLimits

log = logging.getLogger(__name__)

RATE_LIMIT_TEXT = "exceeding access rate"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    group: str  # rate-limit group
    authenticated: bool = True


_SECURE = "/rest/secure/angelbroking"
ROUTES: dict[str, Route] = {
    "login": Route("POST", "/rest/auth/angelbroking/user/v1/loginByPassword", "login", authenticated=False),
    "refresh": Route("POST", "/rest/auth/angelbroking/jwt/v1/generateTokens", "refresh"),
    "profile": Route("GET", f"{_SECURE}/user/v1/getProfile", "profile"),
    "logout": Route("POST", f"{_SECURE}/user/v1/logout", "logout"),
    "rms": Route("GET", f"{_SECURE}/user/v1/getRMS", "rms"),
    "place_order": Route("POST", f"{_SECURE}/order/v1/placeOrder", "orders"),
    "modify_order": Route("POST", f"{_SECURE}/order/v1/modifyOrder", "orders"),
    "cancel_order": Route("POST", f"{_SECURE}/order/v1/cancelOrder", "orders"),
    "order_book": Route("GET", f"{_SECURE}/order/v1/getOrderBook", "order_book"),
    "trade_book": Route("GET", f"{_SECURE}/order/v1/getTradeBook", "trade_book"),
    "order_details": Route("GET", f"{_SECURE}/order/v1/details/", "order_details"),
    "ltp": Route("POST", f"{_SECURE}/order/v1/getLtpData", "ltp"),
    "positions": Route("GET", f"{_SECURE}/order/v1/getPosition", "positions"),
    "convert_position": Route("POST", f"{_SECURE}/order/v1/convertPosition", "convert"),
    "holdings": Route("GET", f"{_SECURE}/portfolio/v1/getHolding", "holdings"),
    "all_holdings": Route("GET", f"{_SECURE}/portfolio/v1/getAllHolding", "all_holdings"),
    "gtt_create": Route("POST", f"{_SECURE}/gtt/v1/createRule", "gtt_write"),
    "gtt_modify": Route("POST", f"{_SECURE}/gtt/v1/modifyRule", "gtt_write"),
    "gtt_cancel": Route("POST", f"{_SECURE}/gtt/v1/cancelRule", "gtt_write"),
    "gtt_details": Route("POST", f"{_SECURE}/gtt/v1/ruleDetails", "gtt_read"),
    "gtt_list": Route("POST", f"{_SECURE}/gtt/v1/ruleList", "gtt_read"),
    "candles": Route("POST", f"{_SECURE}/historical/v1/getCandleData", "candles"),
    "quote": Route("POST", f"{_SECURE}/market/v1/quote", "quote"),
    "search": Route("POST", f"{_SECURE}/order/v1/searchScrip", "search"),
    "margin": Route("POST", f"{_SECURE}/margin/v1/batch", "margin"),
    "charges": Route("POST", f"{_SECURE}/brokerage/v1/estimateCharges", "charges"),
    "edis_verify": Route("POST", f"{_SECURE}/edis/v1/verifyDis", "edis"),
    "edis_tpin": Route("POST", f"{_SECURE}/edis/v1/generateTPIN", "edis"),
    "edis_status": Route("POST", f"{_SECURE}/edis/v1/getTranStatus", "edis"),
    "option_greeks": Route("POST", f"{_SECURE}/marketData/v1/optionGreek", "greeks"),
    "gainers_losers": Route("POST", f"{_SECURE}/marketData/v1/gainersLosers", "movers"),
    "put_call_ratio": Route("GET", f"{_SECURE}/marketData/v1/putCallRatio", "movers"),
    "oi_buildup": Route("POST", f"{_SECURE}/marketData/v1/OIBuildup", "movers"),
}

# (per second, per minute) per group, from the docs' table; quotes budgeted at the stricter 1/s;
# undocumented groups (charges, EDIS, movers) at a cautious 1/s.
RATE_LIMITS: dict[str, tuple[int | None, int | None]] = {
    "login": (1, None), "refresh": (1, None), "profile": (3, None), "logout": (1, None), "rms": (2, None),
    "orders": (9, 500), "order_book": (1, None), "trade_book": (1, None), "positions": (1, None),
    "holdings": (1, None), "all_holdings": (1, None), "search": (1, None), "order_details": (10, 500),
    "ltp": (10, 500), "convert": (10, 500), "quote": (1, None), "margin": (10, 500), "gtt_write": (9, 500),
    "gtt_read": (10, 500), "candles": (3, 180), "greeks": (1, None), "charges": (1, None), "edis": (1, None),
    "movers": (1, None),
}


class SmartApiError(BrokerError):
    """The broker answered with ``status: false``; ``code`` is its error code (AB1007, AG8001, ...)."""

    def __init__(self, message: str, code: str = "", *, hint: str | None = None):
        super().__init__(f"{message} ({code})" if code else message, hint=hint)
        self.code = code
        self.broker_message = message


class EmptyReplyError(NetworkError):
    """HTTP 200 with an empty or unreadable body: the request may well have been carried out."""


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    message: str
    code: str
    data: Any


def parse_reply(status: int, body: bytes | str) -> Reply:
    """One HTTP reply as a Reply (shapes A and B), or raise RateLimitedError (C) / EmptyReplyError (D).

    A non-JSON body on an HTTP error status raises BrokerError with the status and the text.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if RATE_LIMIT_TEXT in text.lower() or (status == 403 and not text.lstrip().startswith("{")):
        raise RateLimitedError(f"Angel One rate limit: {text.strip()[:120] or 'HTTP 403'}")
    if not text.strip():
        raise EmptyReplyError(f"Angel One sent an empty reply (HTTP {status}).")
    try:
        payload = json.loads(text)
    except ValueError:
        if status >= 400:
            raise BrokerError(f"Angel One HTTP {status}: {text.strip()[:200]}") from None
        raise EmptyReplyError(f"Angel One sent an unreadable reply (HTTP {status}): {text.strip()[:80]!r}") from None
    if not isinstance(payload, dict):
        raise BrokerError(f"Angel One sent an unexpected reply: {text.strip()[:200]}")
    flag = payload.get("status", payload.get("success"))
    ok = flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")
    code = str(payload.get("errorcode") or payload.get("errorCode") or "")
    data = payload.get("data")
    if data == "null":  # the docs' own failure sample writes null as a string
        data = None
    return Reply(ok, str(payload.get("message") or ""), code, data)


def mac_address() -> str:
    """This machine's MAC as aa:bb:cc:dd:ee:ff (read locally, no network)."""
    return ":".join(re.findall("..", f"{uuid.getnode():012x}"))


class SmartApiHttp:
    """Blocking, thread-safe REST calls to one SmartAPI root. One ``requests.Session`` (pooled, TLS verified)."""

    def __init__(self, root_url: str, api_key: str, *, public_ip: str = "", local_ip: str = "127.0.0.1",
                 timeout: float = 7.0, limits: RateLimits | None = None, session: requests.Session | None = None):
        self.root_url = root_url.rstrip("/")
        self.timeout = timeout
        self.limits = limits or RateLimits(RATE_LIMITS)
        self._session = session or requests.Session()
        self._base_headers = {
            "Content-Type": "application/json", "Accept": "application/json", "X-PrivateKey": api_key,
            "X-UserType": "USER", "X-SourceID": "WEB", "X-ClientLocalIP": local_ip or "127.0.0.1",
            "X-ClientPublicIP": public_ip or local_ip or "127.0.0.1", "X-MACAddress": mac_address(),
        }

    def send(self, name: str, body: dict | None = None, *, jwt: str | None = None, suffix: str = "") -> Reply:
        """Call route ``name`` once (after waiting for its rate-limit window) and parse the reply.

        Raises NetworkError when no reply arrived (connection refused, reset, timeout) - for a
        placement that means the outcome is unknown - and the errors of ``parse_reply``.
        """
        route = ROUTES[name]
        headers = dict(self._base_headers)
        if route.authenticated:
            if not jwt:
                raise SmartApiError("Not logged in to Angel One.", "AG8003")
            headers["Authorization"] = f"Bearer {jwt}"
        self.limits.acquire(route.group)
        url = self.root_url + route.path + suffix
        try:
            if route.method == "GET":
                response = self._session.get(url, headers=headers, timeout=self.timeout)
            else:
                response = self._session.post(url, headers=headers, data=json.dumps(body or {}), timeout=self.timeout)
        except requests.Timeout as exc:
            raise NetworkError(f"Angel One did not answer {name} within {self.timeout:g} s.") from exc
        except requests.RequestException as exc:
            raise NetworkError(f"Angel One {name}: no reply ({type(exc).__name__}).") from exc
        try:
            return parse_reply(response.status_code, response.content)
        except (RateLimitedError, EmptyReplyError):
            log.warning("angelone %s: HTTP %s, body %r", name, response.status_code, response.content[:80])
            raise

    def get_raw(self, url: str, *, timeout: float | None = None, stream: bool = False) -> requests.Response:
        """A plain GET (the instrument master needs no auth)."""
        try:
            response = self._session.get(url, timeout=timeout or self.timeout, stream=stream)
            response.raise_for_status()
            return response
        except requests.RequestException as exc:
            raise NetworkError(f"Download of {url} failed: {exc}") from exc

    def close(self) -> None:
        self._session.close()
