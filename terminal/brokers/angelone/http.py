"""SmartAPI REST transport: routes, headers, client-side rate limits and the four reply shapes.

Reply shapes (all parsed here, nowhere else):
A. ``{"status": true|"true"|false, "message", "errorcode", "data"}`` - the standard envelope;
B. ``{"success": ..., "message", "errorCode", "data"}`` - the gateway's (AG8001 and quotes);
C. HTTP 403 with the plain text "Access denied because of exceeding access rate" -> RateLimitedError;
D. an empty (or non-JSON) body -> EmptyReplyError, which a placement turns into OrderOutcomeUnknown.
Any HTTP 5xx (text, HTML or JSON) raises ServerError: a gateway or proxy failed and may have
timed out *after* the order system acted, so for a placement the outcome is unknown too.
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


class ServerError(NetworkError):
    """HTTP 5xx: a gateway failed; the request may or may not have been carried out."""


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    message: str
    code: str
    data: Any


def parse_reply(status: int, body: bytes | str) -> Reply:
    """One HTTP reply as a Reply (shapes A and B), or raise RateLimitedError (C) / EmptyReplyError (D).

    HTTP 5xx raises ServerError. A non-JSON body on another error status raises BrokerError with
    the status and the gist of the text. A 2xx reply that is not an envelope (not JSON, cut off,
    no status flag) raises EmptyReplyError: the request may have been carried out.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if status >= 500:
        raise ServerError(f"Angel One HTTP {status}: {_gist(text) or 'no body'}")
    looks_json = text.lstrip()[:1] in ("{", "[")
    if not looks_json and (status == 403 or RATE_LIMIT_TEXT in text.lower()):
        raise RateLimitedError(f"Angel One rate limit: {' '.join(text.split())[:120] or 'HTTP 403'}")
    if not text.strip():
        raise EmptyReplyError(f"Angel One sent an empty reply (HTTP {status}).")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict) or not ({"status", "success"} & payload.keys()):
        if status >= 400:
            raise BrokerError(f"Angel One HTTP {status}: {_gist(text)}")
        raise EmptyReplyError(f"Angel One sent an unreadable reply (HTTP {status}): {_gist(text)[:80]}")
    flag = payload.get("status", payload.get("success"))
    ok = flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")
    code = payload.get("errorcode") or payload.get("errorCode") or ""
    data = payload.get("data")
    if data == "null":  # the docs' own failure sample writes null as a string
        data = None
    message = payload.get("message")
    return Reply(ok, message if isinstance(message, str) else "" if message is None else json.dumps(message)[:200],
                 code if isinstance(code, str) else str(code)[:40], data)


def _gist(text: str) -> str:
    """The readable part of an error body (an HTML page's title), at most 120 characters.

    JSON is never quoted: a cut-off login reply would carry the start of a token.
    """
    if text.lstrip()[:1] in ("{", "["):
        return f"cut-off JSON of {len(text)} characters"
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    return " ".join((title.group(1) if title else text).split())[:120]


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
        except (RateLimitedError, EmptyReplyError, ServerError) as exc:
            log.warning("angelone %s: %s", name, exc)
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
