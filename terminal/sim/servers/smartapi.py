"""`trading-terminal sandbox smartapi`: Angel One's SmartAPI on loopback, backed by the simulated exchange.

Serves the REST routes (header checks, the real reply shapes, per-second rate limits with the
plain-text 403), the instrument master file, the WebSocket 2.0 binary feed at /smart-stream and
the order-update socket at /smart-order-update. The first stdout line is one JSON object with
the URLs and the test credentials (api key, client code, PIN, TOTP secret).

Test hooks (``SmartApiSandbox`` methods): ``expire_tokens`` (next call gets AG8001),
``fail_next(route, kind)`` with kind "empty" (carry out the call, reply with an empty body),
"ratelimit" (403 text, call not carried out) or "drop" (carry out the call, close the connection
without replying), ``drop_feed_connections`` (kill every market socket abruptly) and
``drop_order_connections`` (the same for the order-update sockets).

Fault profiles (``--faults``, or ``faults=`` / ``set_faults`` from Python): random lost replies,
5xx, HTML error pages, truncated JSON, rate-limit replies, AG8001, empty bodies, delays and
dropped or stalled websockets, drawn from a seeded RNG. The syntax and the exact behaviour of
each fault are in ``terminal.sim.servers.smartapi_faults``. ``order_calls`` records every
placeOrder request as (ordertag, what happened, carried out) so a test can prove that nothing
reached the order system twice.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pyotp
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from terminal.domain import (
    Exchange, InstrumentKind, OrderModification, OrderRequest, OrderStatus, Side, Tick, Trade, Validity,
)
from terminal.domain.money import to_paise
from terminal.sim.errors import SimError, UnknownInstrumentError
from terminal.sim.exchange import SimulatedExchange
from terminal.sim.instruments import underlying_key
from terminal.sim.servers import smartapi_wire as wire
from terminal.sim.servers.smartapi_faults import (
    NO_FAULTS, SYNTAX, FaultInjector, FaultProfile, FaultSyntaxError, RestFault, error_body, parse_faults,
)

log = logging.getLogger(__name__)

RATE_LIMIT_BODY = b"Access denied because of exceeding access rate"
SECURE = "/rest/secure/angelbroking"
SCRIP_MASTER_PATH = "/OpenAPI_File/files/OpenAPIScripMaster.json"
MAX_SOCKETS = 3
MAX_SUBSCRIPTIONS = 1000
CANDLE_INTERVALS = {"ONE_MINUTE": (1, 30), "THREE_MINUTE": (3, 60), "FIVE_MINUTE": (5, 100),
                    "FIFTEEN_MINUTE": (15, 200), "THIRTY_MINUTE": (30, 200), "ONE_HOUR": (60, 400),
                    "ONE_DAY": (1440, 2000)}
# requests per second per route group, as documented (only what the sandbox enforces)
RATE_LIMITS = {"orders": 9, "order_book": 1, "trade_book": 1, "positions": 1, "holdings": 1, "search": 1,
               "login": 1, "refresh": 1, "candles": 3, "quote": 10, "ltp": 10, "greeks": 1}


def _ok(data) -> dict:
    return {"status": True, "message": "SUCCESS", "errorcode": "", "data": data}


def _fail(message: str, code: str) -> dict:
    return {"status": False, "message": message, "errorcode": code, "data": None}


def _gateway(message: str, code: str) -> dict:
    return {"success": False, "message": message, "errorCode": code, "data": ""}


class ApiError(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass
class FeedClient:
    """One market socket: its subscriptions (key -> mode) and where it is in the tick stream."""

    connection: ServerConnection
    modes: dict[str, int] = field(default_factory=dict)
    cursor: int = 0
    fresh: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class GttState:
    rule: dict
    key: str
    above: bool  # trigger when the LTP rises to the trigger (else falls to it)


class SmartApiSandbox:
    """The SmartAPI sandbox. ``start()`` binds loopback ports (0 = any free port) and returns ``info``."""

    def __init__(self, exchange: SimulatedExchange | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 ws_port: int = 0, api_key: str = "SANDBOXKEY", client_code: str = "S123456", pin: str = "1234",
                 totp_secret: str | None = None, step_interval: float = 0.05, token_ttl: float = 8 * 3600,
                 enforce_rate_limits: bool = True, seed: int = 0, faults: FaultProfile | str | None = None,
                 fault_seed: int | None = None):
        if not _is_loopback(host):
            raise ValueError(f"The sandbox binds loopback only; {host!r} is not a loopback address.")
        self.exchange = exchange or SimulatedExchange(seed=seed)
        self.host, self.port, self.ws_port = host, port, ws_port
        self.api_key, self.client_code, self.pin = api_key, client_code, pin
        self.totp_secret = totp_secret or pyotp.random_base32()
        self.account = f"angelone:{client_code}"
        self.exchange.open_account(self.account)
        self.step_interval = step_interval
        self.token_ttl = token_ttl
        self.enforce_rate_limits = enforce_rate_limits
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.RLock()
        self._jwts: dict[str, float] = {}  # valid JWT -> expiry epoch
        self._refresh_tokens: set[str] = set()
        self._feed_tokens: set[str] = set()
        self._unique: dict[str, str] = {}  # uniqueorderid -> order id
        self._unique_of: dict[str, str] = {}
        self._last_fill: dict[str, str] = {}
        self._failures: dict[str, deque[str]] = {}
        self._calls: dict[str, deque[float]] = {}
        self._feeds: list[FeedClient] = []
        self._order_sockets: list[ServerConnection] = []
        self._gtt: dict[str, GttState] = {}
        self._gtt_seq = 0
        self._sequence = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers) of every REST call
        self._scrip_master: bytes | None = None
        self.faults = FaultInjector()
        self.set_faults(faults, seed if fault_seed is None else fault_seed)
        self.order_calls: list[tuple[str, str, bool]] = []  # (ordertag, what happened, carried out)

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> dict:
        sandbox = self

        class Handler(_RestHandler):
            box = sandbox

        self._http = ThreadingHTTPServer((self.host, self.port), Handler)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self._ws = serve(self._ws_handler, self.host, self.ws_port, process_request=self._ws_check,
                         ping_interval=None, max_size=2 ** 20)
        self.ws_port = self._ws.socket.getsockname()[1]
        for target, name in ((self._http.serve_forever, "smartapi-rest"), (self._ws.serve_forever, "smartapi-ws"),
                             (self._pump, "smartapi-pump")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.info

    def stop(self) -> None:
        self._stop.set()
        self._http.shutdown()
        self._http.server_close()
        self._ws.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def http_server(self) -> ThreadingHTTPServer:
        """The REST server, made by ``start()``: a bench or test may swap in a subclass of its
        ``RequestHandlerClass`` (to note when requests arrive) before any client connects."""
        server = getattr(self, "_http", None)
        if server is None:
            raise RuntimeError("the SmartAPI sandbox makes its REST server in start(); call that first")
        return server

    @property
    def info(self) -> dict:
        rest = f"http://{self.host}:{self.port}"
        ws = f"ws://{self.host}:{self.ws_port}"
        return {"sandbox": "smartapi", "rest_url": rest, "ws_url": f"{ws}/smart-stream",
                "order_ws_url": f"{ws}/smart-order-update", "scrip_master_url": rest + SCRIP_MASTER_PATH,
                "api_key": self.api_key, "client_code": self.client_code, "pin": self.pin,
                "totp_secret": self.totp_secret}

    # --- test hooks -----------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every JWT issued so far becomes invalid (AG8001); refresh tokens stay valid."""
        with self._lock:
            self._jwts.clear()

    def fail_next(self, route: str, kind: str) -> None:
        """Make the next call of ``route`` (e.g. "placeOrder") fail as ``kind``: empty, ratelimit, drop."""
        if kind not in ("empty", "ratelimit", "drop"):
            raise ValueError(kind)
        with self._lock:
            self._failures.setdefault(route, deque()).append(kind)

    def set_faults(self, faults: FaultProfile | str | None, seed: int = 0) -> FaultInjector:
        """Inject ``faults`` (a profile or its text) from now on, drawn from an RNG seeded with ``seed``."""
        profile = parse_faults(faults) if isinstance(faults, str) else faults or NO_FAULTS
        self.faults = FaultInjector(profile, seed)
        return self.faults

    def drop_feed_connections(self) -> int:
        """Kill every market socket without a close frame; returns how many were open."""
        with self._lock:
            feeds, self._feeds = self._feeds, []
        for feed in feeds:
            _kill(feed.connection)
        return len(feeds)

    def stall_connections(self, feed: bool = True, orders: bool = True) -> int:
        """Silence open sockets (a ws_stall now): they stay open but nothing more is written. Returns how many."""
        with self._lock:
            connections = ([f.connection for f in self._feeds] if feed else []) + (
                list(self._order_sockets) if orders else [])
        for connection in connections:
            connection.socket.silent = True
        return len(connections)

    def drop_order_connections(self) -> int:
        """Kill every order-update socket without a close frame; returns how many were open."""
        with self._lock:
            sockets, self._order_sockets = self._order_sockets, []
        for connection in sockets:
            _kill(connection)
        return len(sockets)

    def feed_subscriptions(self) -> list[dict[str, int]]:
        with self._lock:
            return [dict(f.modes) for f in self._feeds]

    # --- tokens ---------------------------------------------------------------------------------
    def _jwt(self, kind: str, ttl: float) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        head = b64(json.dumps({"alg": "HS512", "typ": "JWT"}).encode())
        body = b64(json.dumps({"sub": self.client_code, "kind": kind, "exp": int(time.time() + ttl),
                               "jti": uuid.uuid4().hex}).encode())
        sig = b64(hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha512).digest())
        return f"{head}.{body}.{sig}"

    def _issue(self) -> dict:
        jwt, refresh, feed = self._jwt("access", self.token_ttl), self._jwt("refresh", 24 * 3600), self._jwt("feed", 24 * 3600)
        with self._lock:
            self._jwts[jwt] = time.time() + self.token_ttl
            self._refresh_tokens.add(refresh)
            self._feed_tokens.add(feed)
        return {"jwtToken": jwt, "refreshToken": refresh, "feedToken": feed}

    def valid_jwt(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        with self._lock:
            expiry = self._jwts.get(authorization[7:].strip())
        return expiry is not None and expiry > time.time()

    # --- REST dispatch --------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, bytes, str]:
        """(HTTP status, body, kind) for one request; kind "drop" asks the handler to hang up."""
        route = urlsplit(path).path
        self.requests.append((method, route, {k.lower(): v for k, v in headers.items()}))
        if method == "GET" and route == SCRIP_MASTER_PATH:
            return 200, self.scrip_master(), ""
        name = route.rsplit("/", 1)[-1] if "/details/" not in route else "details"
        handler = ROUTES.get((method, _route_key(route)))
        if handler is None:
            return 404, json.dumps(_fail(f"No route {method} {route}", "AB2000")).encode(), ""
        problem = self._check_headers(method, route, headers)
        if problem is not None:
            if name == "placeOrder":
                self._note_order(_ordertag(body), str(problem.get("errorCode") or problem.get("errorcode")), False)
            return 200, json.dumps(problem).encode(), ""
        tag = _ordertag(body) if name == "placeOrder" else None
        if self._rate_limited(handler.group):
            self._note_order(tag, "rate limit", False)
            return 403, RATE_LIMIT_BODY, ""
        with self._lock:
            queue = self._failures.get(name)
            failure = queue.popleft() if queue else ""
        if failure == "ratelimit":
            self._note_order(tag, "rate limit", False)
            return 403, RATE_LIMIT_BODY, ""
        fault = self.faults.rest(name) if not failure else RestFault()
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.kind and not fault.carried_out:
            self._note_order(tag, fault.kind, False)
            return self._fault_reply(fault, b"")
        try:
            params = json.loads(body) if body.strip() and method == "POST" else {}
            if not isinstance(params, dict):
                raise ApiError("Invalid request body", "AB2000")
            payload = handler.fn(self, params, route)
        except ApiError as exc:
            payload = _fail(str(exc), exc.code)
        except ValueError:
            payload = _fail("Invalid request body", "AB2000")
        self._note_order(tag, fault.kind or failure or "ok", True)
        if failure == "empty":
            return 200, b"", ""
        if failure == "drop":
            return 200, b"", "drop"
        reply = json.dumps(payload).encode()
        if fault.kind:
            return self._fault_reply(fault, reply)
        return 200, reply, ""

    def _fault_reply(self, fault: RestFault, reply: bytes) -> tuple[int, bytes, str]:
        """The reply of an injected fault; ``reply`` is what would have been sent (if carried out)."""
        if fault.kind == "rate_limited":
            return 403, RATE_LIMIT_BODY, ""
        if fault.kind == "token_expired":
            self.expire_tokens()  # a token that dies mid-day stays dead: the client must renew it
            return 200, json.dumps(_gateway("Invalid Token", "AG8001")).encode(), ""
        if fault.kind in ("http_500", "html_error"):
            return fault.status, error_body(fault), ""
        if fault.kind == "truncated_json":
            return 200, self.faults.cut(reply), ""
        if fault.kind == "empty_body":
            return 200, b"", ""
        return 200, b"", "drop"  # drop_reply_after_accept

    def _note_order(self, tag: str | None, what: str, carried_out: bool) -> None:
        if tag is not None:
            with self._lock:
                self.order_calls.append((tag, what, carried_out))

    def _check_headers(self, method: str, route: str, headers) -> dict | None:
        if headers.get("X-PrivateKey") != self.api_key:
            return _fail("Invalid API Key", "AG8004")
        if headers.get("X-UserType") != "USER":
            return _fail("User Type Must Be USER", "AB1005")
        if headers.get("X-SourceID") != "WEB":
            return _fail("Invalid Source ID", "AB1004")
        if method == "POST" and "json" not in (headers.get("Content-Type") or ""):
            return _fail("Content-Type must be application/json", "AB2000")
        if route.startswith("/rest/auth/angelbroking/"):  # login and refresh work with a dead JWT
            return None
        authorization = headers.get("Authorization")
        if not authorization:
            return _gateway("Token missing", "AG8003")
        if not self.valid_jwt(authorization):
            return _gateway("Invalid Token", "AG8001")
        return None

    def _rate_limited(self, group: str) -> bool:
        limit = RATE_LIMITS.get(group)
        if not self.enforce_rate_limits or limit is None:
            return False
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(group, deque())
            while calls and calls[0] <= now - 1.0:
                calls.popleft()
            if len(calls) >= limit:
                return True
            calls.append(now)
        return False

    def scrip_master(self) -> bytes:
        if self._scrip_master is None:
            self._scrip_master = json.dumps([wire.scrip_row(i) for i in self.exchange.instruments()]).encode()
        return self._scrip_master

    # --- helpers used by the routes -----------------------------------------------------------------
    def instrument_for(self, params: dict, token_field: str = "symboltoken"):
        exchange = str(params.get("exchange") or "").upper()
        token = str(params.get(token_field) or "")
        try:
            return self.exchange.instrument(f"{Exchange(exchange).value}:{token}")
        except (ValueError, UnknownInstrumentError):
            raise ApiError("Symbol Not Found", "AB1009") from None

    def record(self, order, numbers: bool = False) -> dict:
        with self._lock:
            unique = self._unique_of.get(order.order_id)
            if unique is None:
                unique = str(uuid.uuid4())
                self._unique_of[order.order_id] = unique
                self._unique[unique] = order.order_id
        inst = self.exchange.master.by_key.get(order.instrument_key)
        return wire.order_record(order, inst, unique, numbers=numbers, fill_id=self._last_fill.get(order.order_id, ""))

    def spot(self, key: str) -> int:
        spec = self.exchange.master.specs[self.exchange.master.underlying_of[key]]
        return self.exchange.quote(underlying_key(spec)).ltp

    # --- websockets ---------------------------------------------------------------------------------
    def _ws_check(self, connection: ServerConnection, request):
        path = urlsplit(request.path).path
        headers = request.headers
        if path == "/smart-stream":
            query = dict(p.split("=", 1) for p in urlsplit(request.path).query.split("&") if "=" in p)
            client = headers.get("x-client-code") or query.get("clientCode")
            feed = headers.get("x-feed-token") or query.get("feedToken")
            api_key = headers.get("x-api-key") or query.get("apiKey")
            problem = ("Invalid Client Code" if client != self.client_code else
                       "Invalid Feed Token" if feed not in self._feed_tokens else
                       "Invalid API Key" if api_key not in (None, self.api_key) else "")
            if not problem and headers.get("Authorization") and not self.valid_jwt(headers.get("Authorization")):
                problem = "Invalid Auth token"
            busy = len(self._feeds) >= MAX_SOCKETS
        elif path == "/smart-order-update":
            problem = "" if self.valid_jwt(headers.get("Authorization")) else "Invalid Auth token"
            busy = len(self._order_sockets) >= MAX_SOCKETS
        else:
            return connection.respond(404, "Not Found\n")
        if problem:
            response = connection.respond(401, f"Invalid Header - {problem}\n")
            response.headers["x-error-message"] = f"Invalid Header - {problem}"
            return response
        if busy:
            return connection.respond(429, "Too Many Requests\n")
        return None

    def _ws_handler(self, connection: ServerConnection) -> None:
        connection.socket = _Muffle(connection.socket)  # lets a ws_stall fault silence it
        path = urlsplit(connection.request.path).path
        if path == "/smart-stream":
            self._serve_feed(connection)
        else:
            self._serve_order_updates(connection)

    def _serve_feed(self, connection: ServerConnection) -> None:
        client = FeedClient(connection)
        with self._lock:
            self._feeds.append(client)
        try:
            for message in connection:
                if isinstance(message, bytes):
                    continue
                if message.strip() == "ping":
                    connection.send("pong")
                    continue
                error = self._feed_request(client, message)
                if error is not None:
                    connection.send(json.dumps(error))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if client in self._feeds:
                    self._feeds.remove(client)

    def _feed_request(self, client: FeedClient, message: str) -> dict | None:
        try:
            request = json.loads(message)
            action = int(request["action"])
            mode = int(request["params"]["mode"])
            token_list = request["params"]["tokenList"]
            correlation = str(request.get("correlationID", ""))
            if action not in (0, 1) or mode not in (1, 2, 3):
                raise ValueError
            keys = []
            for group in token_list:
                exchange = wire.EXCHANGE_OF_TYPE[int(group["exchangeType"])]
                keys += [f"{exchange.value}:{t}" for t in group["tokens"]]
        except (ValueError, KeyError, TypeError):
            return {"correlationID": "", "errorCode": "E1001", "errorMessage": "Invalid Request Payload."}
        with client.lock:
            if action == 0:
                for key in keys:
                    if client.modes.get(key) == mode:
                        del client.modes[key]
                return None
            known = [k for k in keys if k in self.exchange.master.by_key]
            new = [k for k in known if client.modes.get(k) != mode]
            if len(client.modes) + len(new) > MAX_SUBSCRIPTIONS:
                return {"correlationID": correlation, "errorCode": "E1002",
                        "errorMessage": "Invalid Request. Subscription Limit Exceeded"}
            for key in new:
                client.modes[key] = mode
                client.fresh.add(key)
        return None

    def _serve_order_updates(self, connection: ServerConnection) -> None:
        with self._lock:
            self._order_sockets.append(connection)
        try:
            connection.send(json.dumps({"user-id": self.client_code, "status-code": "200", "order-status": "AB00",
                                        "error-message": "", "orderData": _empty_order()}))
            for message in connection:
                if message == "ping":
                    connection.send("pong")
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if connection in self._order_sockets:
                    self._order_sockets.remove(connection)

    # --- the market pump ----------------------------------------------------------------------------
    def _pump(self) -> None:
        while not self._stop.wait(self.step_interval):
            try:
                self._pump_once()
            except Exception:
                log.exception("smartapi sandbox: pump step failed")

    def _pump_once(self) -> None:
        self._socket_faults()
        with self._lock:
            feeds = list(self._feeds)
        keys = sorted({k for f in feeds for k in f.modes} | {g.key for g in self._gtt.values()})
        self.exchange.step(keys=keys)
        for feed in feeds:
            with feed.lock:
                modes = dict(feed.modes)
                fresh, feed.fresh = feed.fresh, set()
            ticks, feed.cursor = self.exchange.ticks_since(feed.cursor, list(modes))
            sent = {t.key for t in ticks}
            ticks += [t for t in self.exchange.quotes(sorted(fresh)) if t.key not in sent]
            try:
                for tick in ticks:
                    if tick.key in modes:
                        self._sequence += 1
                        feed.connection.send(wire.tick_frame(tick, modes[tick.key], self._sequence))
            except ConnectionClosed:
                continue
        self._check_gtt()
        self._publish_order_events()

    def _socket_faults(self) -> None:
        """ws_drop / ws_stall: each open socket may be killed or silenced during this pump step."""
        if not (self.faults.profile.ws_drop or self.faults.profile.ws_stall):
            return
        with self._lock:
            connections = [f.connection for f in self._feeds] + list(self._order_sockets)
        for connection in connections:
            muffle = connection.socket
            if isinstance(muffle, _Muffle) and muffle.silent:
                continue  # already stalled: the client has to notice
            kind = self.faults.socket_fault(self.step_interval)
            if kind == "ws_drop":
                with self._lock:
                    self._feeds = [f for f in self._feeds if f.connection is not connection]
                    if connection in self._order_sockets:
                        self._order_sockets.remove(connection)
                _kill(connection)
            elif kind == "ws_stall" and isinstance(muffle, _Muffle):
                muffle.silent = True

    def _publish_order_events(self) -> None:
        messages = []
        for event in self.exchange.drain_events(self.account):
            if isinstance(event, Trade):
                self._last_fill[event.order_id] = event.trade_id
                continue
            record = self.record(event, numbers=True)
            messages.append(json.dumps({"user-id": self.client_code, "status-code": "200",
                                        "order-status": wire.STATUS_CODE[event.status], "error-message": "",
                                        "orderData": record}))
        if not messages:
            return
        with self._lock:
            sockets = list(self._order_sockets)
        for connection in sockets:
            try:
                for message in messages:
                    connection.send(message)
            except ConnectionClosed:
                pass

    def _check_gtt(self) -> None:
        with self._lock:
            rules = [(rid, g) for rid, g in self._gtt.items() if g.rule["status"] in ("NEW", "ACTIVE")]
        for rule_id, state in rules:
            ltp = self.exchange.quote(state.key).ltp
            trigger = to_paise(state.rule["triggerprice"])
            if (state.above and ltp >= trigger) or (not state.above and ltp <= trigger):
                rule = state.rule
                request = OrderRequest(self.account, state.key, Side(rule["transactiontype"]), int(rule["qty"]),
                                       price=to_paise(rule["price"]),
                                       product=wire.PRODUCT_FROM.get(rule["producttype"], wire.Product.CNC),
                                       tag=f"GTT{rule_id}")
                self.exchange.place(self.account, request)
                with self._lock:
                    rule["status"] = "SENTTOEXCHANGE"
                    rule["updateddate"] = datetime.now(wire.IST).isoformat()


class _Muffle:
    """A server-side socket that can go silent (ws_stall): writes are swallowed, reads go on."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.silent = False

    def sendall(self, data) -> None:
        if not self.silent:
            self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _kill(connection: ServerConnection) -> None:
    """Cut a websocket without a close frame, as a dead link would."""
    try:
        connection.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _ordertag(body: bytes) -> str:
    """The ordertag of a placeOrder body ("" when unreadable)."""
    try:
        params = json.loads(body)
    except ValueError:
        return ""
    return str(params.get("ordertag") or "") if isinstance(params, dict) else ""


def _empty_order() -> dict:
    fields = ("variety", "ordertype", "ordertag", "producttype", "duration", "tradingsymbol", "transactiontype",
              "exchange", "symboltoken", "instrumenttype", "optiontype", "expirydate", "orderid", "text", "status",
              "orderstatus", "updatetime", "exchtime", "exchorderupdatetime", "fillid", "filltime", "parentorderid")
    record = {f: "" for f in fields}
    record.update(price=0, triggerprice=0, quantity="0", disclosedquantity="0", squareoff=0, stoploss=0,
                  trailingstoploss=0, strikeprice=0, lotsize="0", cancelsize="0", averageprice=0, filledshares="",
                  unfilledshares="")
    return record


def _route_key(route: str) -> str:
    if route.startswith("/gtt-service"):
        route = route[len("/gtt-service"):]
    if "/order/v1/details/" in route:
        return f"{SECURE}/order/v1/details/"
    return route.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _RestHandler(BaseHTTPRequestHandler):
    box: SmartApiSandbox
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the sandbox's stdout carries the JSON line
        log.debug("smartapi sandbox: " + format, *args)

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, kind = self.box.handle(method, self.path, self.headers, body)
        if kind == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if payload[:1] == b"{" else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")


# --- routes -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Handler:
    fn: object
    group: str


ROUTES: dict[tuple[str, str], Handler] = {}


def route(method: str, path: str, group: str = ""):
    def register(fn):
        ROUTES[(method, path)] = Handler(fn, group)
        return fn

    return register


from terminal.sim.servers import smartapi_routes  # noqa: E402,F401  (registers the routes)


def serve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trading-terminal sandbox smartapi",
                                     description="Angel One SmartAPI sandbox on loopback, backed by the simulator.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="REST port (0: any free port)")
    parser.add_argument("--ws-port", type=int, default=None, help="websocket port (default: REST port + 1, or any)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the simulated market")
    parser.add_argument("--client-code", default="S123456")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not enforce the documented rate limits")
    parser.add_argument("--faults", default="", metavar="PROFILE",
                        help="inject faults, e.g. drop_reply_after_accept=0.1,http_500=0.05,html_error=0.03,"
                             "truncated_json=0.03,rate_limited=0.03,token_expired=0.02,empty_body=0.03,"
                             "delay_ms=0-300,ws_drop=0.01,ws_stall=0.01 (" + SYNTAX + "; details in "
                             "terminal/sim/servers/smartapi_faults.py)")
    parser.add_argument("--fault-seed", type=int, default=None, help="seed of the fault RNG (default: --seed)")
    args = parser.parse_args(argv)
    try:
        faults = parse_faults(args.faults)
    except FaultSyntaxError as exc:
        parser.error(f"--faults: {exc}")
    ws_port = args.ws_port if args.ws_port is not None else (args.port + 1 if args.port else 0)
    try:
        box = SmartApiSandbox(host=args.host, port=args.port, ws_port=ws_port, seed=args.seed,
                              client_code=args.client_code, enforce_rate_limits=not args.no_rate_limits,
                              faults=faults, fault_seed=args.fault_seed)
        info = box.start()
    except (ValueError, OSError) as exc:
        print(f"smartapi sandbox: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info), flush=True)
    if faults != NO_FAULTS:
        print(f"smartapi sandbox: injecting faults {faults}", file=sys.stderr, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, lambda *_: stop.set())
        except ValueError:  # not the main thread
            pass
    try:
        stop.wait()
    finally:
        box.stop()
    return 0
