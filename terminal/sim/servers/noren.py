"""`trading-terminal sandbox noren`: Flattrade's PiConnect (Noren) protocol on loopback, over the simulator.

What it serves (all on 127.0.0.1 unless told otherwise):
- ``GET  /auth/?app_key=KEY``    the login page; auto-approves and redirects to the registered
  redirect URL (``http://127.0.0.1:<redirect_port>/``) with ``?code=...&client=<user>``.
  Sandbox extra: ``&redirect_uri=...`` overrides the registered URL.
- ``POST /trade/apitoken``       JSON {api_key, request_code, api_secret=sha256(key+code+secret)} -> token.
- ``POST /PiConnectAPI/<Route>`` ``jData=<json>&jKey=<token>``: UserDetails, PlaceOrder, ModifyOrder,
  CancelOrder, OrderBook, SingleOrdHist, TradeBook, PositionBook, Holdings, Limits, SearchScrip,
  GetSecurityInfo, GetQuotes, TPSeries, EODChartData, GetOptionChain, Logout.
- ``POST /PiConnectAPI/<Route>`` GTT and OCO rules, served by ``noren_gtt.GttBook``: PlaceGTTOrder,
  ModifyGTTOrder, CancelGTTOrder, GetPendingGTTOrder, GetEnabledGTTs, PlaceOCOOrder, ModifyOCOOrder,
  CancelOCOOrder. A watcher fires a rule's order at the simulated exchange when the LTP crosses its
  trigger (``LTP_A_O``/``LTP_B_O``; an OCO ``LMT_BOS_O`` fires one leg and drops the other). Their
  reply shapes and the firing rules are in ``noren_gtt``'s docstring.
- ``GET  /scripmaster/<file>.csv`` the scrip master in Flattrade's layout.
- websocket v2 on ``/PiConnectWSAPI/`` (``t:"a"``/``accesstoken`` -> ``ak``; a v1 frame there is
  refused) and the legacy v1 handshake on ``/PiConnectWSTp/`` (``t:"c"``/``susertoken`` -> ``ck``)
  that NorenRestApiPy 0.0.22 speaks; a separate port (websockets cannot take the REST posts).

Envelopes, string values, error texts and the order life (PENDING/NewAck -> PENDING/PendingNew
-> OPEN/New -> Fill ... -> COMPLETE) follow the protocol notes. Flattrade's API rules are kept:
MKT/SL-MKT are refused, ``amo`` other than "Yes" is refused ("Invalid AMO"), order routes take 10
per second and 40 per minute per user, other routes (the GTT/OCO routes among them) 40 per second.

Tokens are derived from the secret, user and IST date, so a restarted sandbox still accepts the
token it issued earlier today (the terminal's reconnect can be tried by restarting it).

Faults: ``--faults SPEC`` (or ``NorenSandbox(faults=SPEC)``) injects lost replies after an accepted
order, 5xx, HTML error pages, truncated JSON, rate-limit and "Session Expired" replies, delays,
and dropped or stalled websockets; the syntax is in ``noren_faults``. The sandbox counts every
PlaceOrder it receives per client tag (``remarks``), with the fault each one met, in
``place_requests``, so a test can prove that nothing was sent twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import secrets
import socket
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from terminal.domain import (
    Exchange, Instrument, InstrumentKind, Order, OrderModification, OrderRequest, OrderStatus, OrderType, Product,
    Side, Trade, Validity,
)
from terminal.domain.money import to_paise
from terminal.sim.calendar import IST
from terminal.sim.errors import ModificationRejectedError, OrderNotOpenError, SimError, UnknownOrderError
from terminal.sim.exchange import SimulatedExchange
from terminal.sim.servers import noren_wire as wire
from terminal.sim.servers.noren_faults import FaultInjector, FaultProfile, RestFault
from terminal.sim.servers.noren_gtt import GttBook

log = logging.getLogger(__name__)

# Test credentials (the protocol notes' fixture values).
USER_ID = "FZ00000"
API_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
API_SECRET = "2026.5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d"

SESSION_EXPIRED = "Session Expired : Invalid Session Key"
NO_DATA = 'Error Occurred : 5 "no data"'
INVALID_INPUT = 'Error Occurred : 2 "invalid input"'
MARKET_REFUSED = "Invalid Input : Market orders not allowed"  # Flattrade's exact text is not published
ORDER_ROUTES = {"PlaceOrder", "ModifyOrder", "CancelOrder"}
CODE_LIFETIME = 300.0  # seconds a login code stays valid
SIDE = {"B": Side.BUY, "S": Side.SELL}
PRODUCT = {"C": Product.CNC, "M": Product.NRML, "I": Product.MIS}
VALIDITY = {"DAY": Validity.DAY, "IOC": Validity.IOC, "EOS": Validity.DAY}


class NotOk(Exception):
    """A request the server answers with ``{"stat":"Not_Ok","emsg":...}``."""

    def __init__(self, emsg: str):
        super().__init__(emsg)
        self.emsg = emsg


@dataclass
class OrderTrail:
    """What the sandbox already reported of one order, to write the next report."""

    history: list[dict] = field(default_factory=list)  # SingleOrdHist rows, newest first
    status: OrderStatus | None = None
    filled: int = 0
    shape: tuple[int, int, int, OrderType] | None = None  # qty, price, trigger, type last reported


@dataclass
class FeedSession:
    """One websocket client after its handshake."""

    connection: ServerConnection
    uid: str
    touchline: set[str] = field(default_factory=set)  # instrument keys "NFO:40210"
    depth: set[str] = field(default_factory=set)
    orders: bool = False
    sent: dict[tuple[str, str], dict] = field(default_factory=dict)  # (kind, key) -> fields last sent
    cursor: int = 0
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    alive: bool = True
    stalled: bool = False  # a fault: the link stays open and carries nothing more

    def send(self, frame: dict) -> bool:
        if not self.alive or self.stalled:
            return False
        try:
            with self.send_lock:
                self.connection.send(json.dumps(frame, separators=(",", ":")))
            return True
        except (ConnectionClosed, OSError, RuntimeError):
            self.alive = False
            return False


class WindowLimiter:
    """Server-side rate limit: calls per second and per minute for one user and route group."""

    def __init__(self, per_second: int, per_minute: int | None):
        self.per_second, self.per_minute = per_second, per_minute
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, uid: str, what: str) -> None:
        now = time.monotonic()
        with self._lock:
            calls = self._calls[uid]
            while calls and calls[0] <= now - 60.0:
                calls.popleft()
            this_second = sum(1 for t in calls if t > now - 1.0) + 1
            if this_second > self.per_second:
                raise NotOk(f"Invalid Input : {what} Recieved {this_second} in a current second exceeds "
                            f"Limit {self.per_second} for user")
            if self.per_minute and len(calls) + 1 > self.per_minute:
                raise NotOk(f"Invalid Input : {what} Recieved {len(calls) + 1} in a current minute exceeds "
                            f"Limit {self.per_minute} for user")
            calls.append(now)


class NorenSandbox:
    """The sandbox: HTTP (auth, token, REST, scrip master) and websocket servers plus a market pump.

    ``port``/``ws_port`` 0 pick free ports. ``step_interval`` is seconds between market steps.
    ``faults`` is a fault profile (``noren_faults`` syntax, or a FaultProfile) drawn from an RNG
    seeded with ``fault_seed`` (default: ``seed``).
    """

    def __init__(self, exchange: SimulatedExchange | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 ws_port: int = 0, redirect_port: int = 8765, user_id: str = USER_ID, api_key: str = API_KEY,
                 api_secret: str = API_SECRET, step_interval: float = 0.1, seed: int = 0,
                 rate_limits: bool = True, faults: FaultProfile | str | None = None, fault_seed: int | None = None):
        self.exchange = exchange or SimulatedExchange(seed=seed)
        self.host, self.user_id, self.api_key, self.api_secret = host, user_id, api_key, api_secret
        self.redirect_port = redirect_port
        self.step_interval = step_interval
        self.account = f"noren-sandbox:{user_id}"
        self.exchange.open_account(self.account)
        self.instruments = {i.key: i for i in self.exchange.instruments()}
        self.by_symbol = {(i.exchange.value, wire.noren_symbol(i)): i for i in self.instruments.values()}
        self.scrip_files = wire.scrip_master_files(list(self.instruments.values()))
        self.rate_limits = rate_limits
        self.order_limiter = WindowLimiter(10, 40)
        self.other_limiter = WindowLimiter(40, 200)
        self.faults = FaultInjector(faults, seed if fault_seed is None else fault_seed)
        # client tag (remarks) -> the fault each PlaceOrder with that tag met ("ok": none), in arrival order
        self.place_requests: dict[str, list[str]] = defaultdict(list)
        self._codes: dict[str, float] = {}  # login code -> issued (monotonic)
        self._revoked: set[str] = set()
        self._lock = threading.RLock()  # order trails, sessions and event absorption
        self._trails: dict[str, OrderTrail] = {}
        self._pending_fills: dict[str, list[Trade]] = defaultdict(list)
        self._sessions: list[FeedSession] = []
        self._stop = threading.Event()
        self.gtt = GttBook(self)  # GTT/OCO routes and the watcher that fires them
        self._http = ThreadingHTTPServer((host, port), _make_handler(self))
        self._http.daemon_threads = True
        self._ws = serve(self._ws_handler, host, ws_port, ping_interval=None, compression=None)
        self._threads: list[threading.Thread] = []

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def http_server(self) -> ThreadingHTTPServer:
        """The REST server, made with the sandbox: a bench or test may swap in a subclass of its
        ``RequestHandlerClass`` (to note when requests arrive) before any client connects."""
        return self._http

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def ws_port(self) -> int:
        return self._ws.socket.getsockname()[1]

    def start(self) -> "NorenSandbox":
        for target, name in ((lambda: self._http.serve_forever(poll_interval=0.05), "noren-http"), (self._ws.serve_forever, "noren-ws"),
                             (self._pump, "noren-pump")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.drop_websockets()
        self._http.shutdown()
        self._http.server_close()
        self._ws.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    def info(self) -> dict:
        """The first stdout line: URLs and the test credentials."""
        base = f"http://{self.host}:{self.port}"
        ws = f"ws://{self.host}:{self.ws_port}"
        return {"sandbox": "noren", "broker": "flattrade", "auth_url": f"{base}/auth/",
                "token_url": f"{base}/trade/apitoken", "rest_url": f"{base}/PiConnectAPI/",
                "ws_url": f"{ws}/PiConnectWSAPI/", "ws_url_v1": f"{ws}/PiConnectWSTp/",
                "scrip_master_url": f"{base}/scripmaster/", "scrip_files": list(wire.SCRIP_FILES),
                "redirect_port": self.redirect_port, "redirect_url": self.redirect_url,
                "user_id": self.user_id, "api_key": self.api_key, "api_secret": self.api_secret,
                "faults": str(self.faults.profile)}

    @property
    def redirect_url(self) -> str:
        return f"http://127.0.0.1:{self.redirect_port}/"

    # --- test hooks ------------------------------------------------------------------------
    def drop_websockets(self) -> int:
        """Cut every websocket connection (as a broker restart or a network drop would); returns how many."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            _sever(session)
        return len(sessions)

    def stall_websockets(self) -> int:
        """Stall every websocket: open, but silent from now on (as a wedged gateway is); returns how many."""
        with self._lock:
            sessions = [s for s in self._sessions if s.alive and not s.stalled]
            for session in sessions:
                session.stalled = True
        return len(sessions)

    def set_faults(self, faults: FaultProfile | str | None, seed: int | None = None) -> None:
        """Change the fault profile of a running sandbox (counters start afresh)."""
        self.faults = FaultInjector(faults, self.faults.seed if seed is None else seed)

    def note_request(self, route: str, body: str, fault: RestFault) -> None:
        """Log a PiConnectAPI request as it arrives: each PlaceOrder under its tag, with its fault."""
        if route != "PlaceOrder":
            return
        try:
            data = json.loads((parse_qs(body, keep_blank_values=True).get("jData") or ["{}"])[0])
        except ValueError:
            data = {}
        tag = str(data.get("remarks") or "") if isinstance(data, dict) else ""
        with self._lock:
            self.place_requests[tag].append(fault.kind or "ok")

    def expire_sessions(self) -> None:
        """Make today's token invalid, as the 05:00 IST reset does."""
        self._revoked.add(self.token_for(self.user_id))

    def session_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    # --- auth ------------------------------------------------------------------------------
    def token_for(self, uid: str) -> str:
        day = datetime.now(IST).strftime("%Y-%m-%d")
        return hashlib.sha256(f"{self.api_secret}|{uid}|{day}".encode()).hexdigest()

    def valid_token(self, token: str | None) -> bool:
        return bool(token) and token == self.token_for(self.user_id) and token not in self._revoked

    def issue_code(self) -> str:
        code = secrets.token_hex(8)
        with self._lock:
            self._codes[code] = time.monotonic()
        return code

    def exchange_code(self, body: dict) -> dict:
        api_key, code, checksum = (str(body.get(k) or "") for k in ("api_key", "request_code", "api_secret"))
        with self._lock:
            issued = self._codes.pop(code, None)
        fail = {"token": "", "client": "", "stat": "Not_Ok"}
        if api_key != self.api_key:
            return {**fail, "emsg": "Invalid API key"}
        if issued is None or time.monotonic() - issued > CODE_LIFETIME:
            return {**fail, "emsg": "Invalid request code"}
        expected = hashlib.sha256(f"{self.api_key}{code}{self.api_secret}".encode()).hexdigest()
        if checksum != expected:
            return {**fail, "emsg": "Invalid api_secret checksum"}
        self._revoked.discard(self.token_for(self.user_id))
        return {"token": self.token_for(self.user_id), "client": self.user_id, "stat": "Ok", "emsg": ""}

    # --- REST ------------------------------------------------------------------------------
    def rest(self, route: str, body: str) -> object:
        """Answer one PiConnectAPI call; the reply is a dict or a list, never an exception."""
        try:
            form = parse_qs(body, keep_blank_values=True)
            if "jData" not in form:
                raise NotOk("Invalid Input : jData is Missing.")
            try:
                data = json.loads(form["jData"][0])
            except ValueError:
                raise NotOk(INVALID_INPUT) from None
            if not isinstance(data, dict):
                raise NotOk(INVALID_INPUT)
            if not self.valid_token((form.get("jKey") or [""])[0]):
                raise NotOk(SESSION_EXPIRED)
            handler = getattr(self, f"_route_{route}", None) or self.gtt.route(route)
            if handler is None:
                raise NotOk(f"Invalid Input : {route} is not served by the sandbox")
            uid = str(data.get("uid") or data.get("actid") or "")
            if uid and uid != self.user_id:
                raise NotOk("Invalid Input : Invalid uid")
            if self.rate_limits:
                if route in ORDER_ROUTES:
                    self.order_limiter.check(self.user_id, "Order")
                else:
                    self.other_limiter.check(self.user_id, "Request")
            return handler(data)
        except NotOk as exc:
            return {"stat": "Not_Ok", "request_time": wire.norentm(time.time()), "emsg": exc.emsg}

    def _instrument(self, data: dict) -> Instrument:
        exchange, token = str(data.get("exch") or ""), str(data.get("token") or "")
        inst = self.instruments.get(f"{exchange}:{token}")
        if inst is None:
            raise NotOk(NO_DATA)
        return inst

    def _by_tsym(self, exchange: str, tsym: str) -> Instrument:
        inst = self.by_symbol.get((exchange, tsym))
        if inst is None:
            raise NotOk(f"Invalid Input : Invalid Trading Symbol {tsym}")
        return inst

    def _route_UserDetails(self, data: dict) -> dict:
        return {"request_time": wire.norentm(time.time()), "stat": "Ok", "actid": self.user_id,
                "uname": "SANDBOX TRADER", "brkname": "FLATTRADE", "brnchid": "HO", "email": "sandbox@example.com",
                "m_num": "9XXXXXXXX0", "uprev": "INVESTOR", "exarr": ["NSE", "NFO"], "orarr": ["LMT", "SL-LMT"],
                "prarr": [{"prd": "C", "s_prdt_ali": "CNC", "exch": ["NSE"]},
                          {"prd": "M", "s_prdt_ali": "NRML", "exch": ["NFO"]},
                          {"prd": "I", "s_prdt_ali": "MIS", "exch": ["NSE", "NFO"]}]}

    def _route_Logout(self, data: dict) -> dict:
        return {"request_time": wire.norentm(time.time()), "stat": "Ok"}

    def _prices(self, data: dict, prctyp: str) -> tuple[int, int]:
        try:
            price = to_paise(str(data.get("prc") or "0"))
            trigger_text = str(data.get("trgprc") or "")
            needs_trigger = prctyp == "SL-LMT"
            trigger = to_paise(trigger_text) if needs_trigger and trigger_text not in ("", "None") else 0
        except ValueError:
            raise NotOk(INVALID_INPUT) from None
        if price <= 0:
            raise NotOk("Order price cannot be zero")
        if prctyp == "SL-LMT" and trigger <= 0:
            raise NotOk("Trigger price invalid - 0.00")
        return price, trigger

    def _route_PlaceOrder(self, data: dict) -> dict:
        amo = data.get("amo")
        if amo is not None and amo != "Yes":
            raise NotOk("Invalid AMO")
        prctyp = str(data.get("prctyp") or "")
        if prctyp in ("MKT", "SL-MKT"):
            raise NotOk(MARKET_REFUSED)
        if prctyp not in ("LMT", "SL-LMT"):
            raise NotOk(INVALID_INPUT)
        try:
            side, product = SIDE[str(data.get("trantype"))], PRODUCT[str(data.get("prd"))]
            validity = VALIDITY[str(data.get("ret") or "DAY")]
            quantity = int(str(data.get("qty")))
        except (KeyError, ValueError):
            raise NotOk(INVALID_INPUT) from None
        inst = self._by_tsym(str(data.get("exch") or ""), str(data.get("tsym") or ""))
        price, trigger = self._prices(data, prctyp)
        request = OrderRequest(self.account, inst.key, side, quantity,
                               OrderType.LIMIT if prctyp == "LMT" else OrderType.SL, product, validity, price,
                               trigger, tag=str(data.get("remarks") or "")[:50])
        with self._lock:
            order = self.exchange.place(self.account, request)
            self.absorb_events()
        return {"request_time": wire.norentm(time.time()), "stat": "Ok", "norenordno": order.order_id}

    def _route_ModifyOrder(self, data: dict) -> dict:
        order_id = str(data.get("norenordno") or "")
        prctyp = str(data.get("prctyp") or "")
        if prctyp in ("MKT", "SL-MKT"):
            raise NotOk(MARKET_REFUSED)
        if prctyp not in ("LMT", "SL-LMT"):
            raise NotOk(INVALID_INPUT)
        if prctyp == "LMT" and str(data.get("trgprc") or "") not in ("", "None"):
            raise NotOk(f"Trigger price invalid - {data.get('trgprc')}")
        try:
            quantity = int(str(data.get("qty")))
        except ValueError:
            raise NotOk(INVALID_INPUT) from None
        price, trigger = self._prices(data, prctyp)
        with self._lock:
            try:
                current = self.exchange.order(self.account, order_id)
            except UnknownOrderError:
                raise NotOk("Rejected : ORA:Order not found") from None
            if wire.noren_symbol(self.instruments[current.instrument_key]) != data.get("tsym"):
                raise NotOk("Rejected : ORA:Trading symbol does not match the order")
            change = OrderModification(quantity=quantity, price=price,
                                       trigger_price=trigger if prctyp == "SL-LMT" else None,
                                       order_type=OrderType.LIMIT if prctyp == "LMT" else OrderType.SL)
            try:
                self.exchange.modify(self.account, order_id, change)
            except OrderNotOpenError:
                raise NotOk("Rejected : ORA:Order not found") from None
            except ModificationRejectedError as exc:
                raise NotOk(f"Rejected : {exc.reason}") from None
            finally:
                self.absorb_events()
        return {"request_time": wire.norentm(time.time()), "stat": "Ok", "result": order_id}

    def _route_CancelOrder(self, data: dict) -> dict:
        order_id = str(data.get("norenordno") or "")
        with self._lock:
            try:
                self.exchange.cancel(self.account, order_id)
            except (UnknownOrderError, OrderNotOpenError):
                raise NotOk("Rejected : ORA:Order not found to Cancel") from None
            finally:
                self.absorb_events()
        return {"request_time": wire.norentm(time.time()), "stat": "Ok", "result": order_id}

    def _route_OrderBook(self, data: dict) -> list:
        with self._lock:
            self.absorb_events()
            orders = self.exchange.orders(self.account)
        if not orders:
            raise NotOk(NO_DATA)
        rows = [wire.order_row(o, self.instruments.get(o.instrument_key), self.user_id) for o in orders]
        return sorted(rows, key=lambda r: r["norenordno"], reverse=True)

    def _route_SingleOrdHist(self, data: dict) -> list:
        with self._lock:
            self.absorb_events()
            trail = self._trails.get(str(data.get("norenordno") or ""))
            if trail is None or not trail.history:
                raise NotOk(NO_DATA)
            return list(trail.history)

    def _route_TradeBook(self, data: dict) -> list:
        with self._lock:
            self.absorb_events()
            trades = self.exchange.trades(self.account)
            orders = {o.order_id: o for o in self.exchange.orders(self.account)}
        if not trades:
            raise NotOk(NO_DATA)
        return [wire.trade_row(t, orders[t.order_id], self.instruments.get(t.instrument_key), self.user_id)
                for t in reversed(trades)]

    def _route_PositionBook(self, data: dict) -> list:
        positions = self.exchange.positions(self.account)
        if not positions:
            raise NotOk(NO_DATA)
        ltps = {t.key: t.ltp for t in self.exchange.quotes([p.instrument_key for p in positions])}
        return [wire.position_row(p, self.instruments.get(p.instrument_key), ltps.get(p.instrument_key, 0),
                                  self.user_id) for p in positions]

    def _route_Holdings(self, data: dict) -> list:
        if not data.get("prd") or not data.get("actid"):
            raise NotOk("Invalid Input : Missing uid or actid or prd.")
        holdings = self.exchange.holdings(self.account)
        if not holdings:
            raise NotOk(NO_DATA)
        return [wire.holding_row(h, self.instruments.get(h.instrument_key)) for h in holdings]

    def _route_Limits(self, data: dict) -> dict:
        return wire.limits_reply(self.exchange.funds(self.account), self.user_id, time.time())

    def _route_SearchScrip(self, data: dict) -> dict:
        exchange = str(data.get("exch") or "")
        words = [w for w in re.split(r"\s+", str(data.get("stext") or "").upper()) if w]
        if not words:
            raise NotOk("Invalid Input : stext is Missing.")
        found = [i for (exch, tsym), i in self.by_symbol.items()
                 if exch == exchange and all(w in tsym.upper() or w in i.display_name.upper() for w in words)]
        if not found:
            raise NotOk("No Data :  ")
        found.sort(key=lambda i: (i.expiry is not None, i.expiry or datetime.min.replace(tzinfo=IST),
                                  i.strike or 0, wire.noren_symbol(i)))
        return {"stat": "Ok", "values": [wire.scrip_value(i) for i in found[:40]]}

    def _route_GetSecurityInfo(self, data: dict) -> dict:
        return wire.security_info(self._instrument(data), time.time())

    def _route_GetQuotes(self, data: dict) -> dict:
        inst = self._instrument(data)
        return wire.quote_reply(inst, self.exchange.quote(inst.key), time.time())

    def _route_GetOptionChain(self, data: dict) -> dict:
        base = self._by_tsym(str(data.get("exch") or ""), str(data.get("tsym") or ""))
        try:
            centre = to_paise(str(data.get("strprc")))
            count = int(str(data.get("cnt") or "2"))
        except ValueError:
            raise NotOk(INVALID_INPUT) from None
        chain = [i for i in self.instruments.values() if i.kind is InstrumentKind.OPTION
                 and i.underlying == base.underlying and i.expiry == base.expiry]
        strikes = sorted({i.strike for i in chain if i.strike is not None})
        below = [s for s in strikes if s <= centre][-count:]
        above = [s for s in strikes if s > centre][:count]
        wanted = set(below + above)
        picked = sorted((i for i in chain if i.strike in wanted), key=lambda i: (i.strike, i.option_type.value))
        if not picked:
            raise NotOk(NO_DATA)
        return {"stat": "Ok", "values": [wire.scrip_value(i) for i in picked]}

    def _route_TPSeries(self, data: dict) -> list:
        inst = self._instrument(data)
        try:
            start = float(str(data.get("st")))
            end = float(str(data.get("et") or time.time()))
            interval = int(str(data.get("intrv") or "1"))
        except ValueError:
            raise NotOk(INVALID_INPUT) from None
        if interval not in (1, 3, 5, 15, 30, 60):
            raise NotOk(f"Invalid Input : interval {interval} is not simulated (1, 3, 5, 15, 30, 60)")
        candles = self.exchange.history(inst.key, interval, datetime.fromtimestamp(start, IST),
                                        datetime.fromtimestamp(end, IST))
        if not candles:
            raise NotOk("no data")
        rows, volume = [], 0
        for c in candles:
            volume += c.volume
            rows.append({"stat": "Ok", "time": datetime.fromtimestamp(c.start, IST).strftime("%d-%m-%Y %H:%M:%S"),
                         "ssboe": str(c.start), "into": wire.price(c.open), "inth": wire.price(c.high),
                         "intl": wire.price(c.low), "intc": wire.price(c.close), "intvwap": "0.00",
                         "intv": str(c.volume), "intoi": "0", "v": str(volume), "oi": str(c.open_interest)})
        rows.reverse()  # newest first, as the server sends them
        return rows

    def _route_EODChartData(self, data: dict) -> list:
        exchange, _, tsym = str(data.get("sym") or "").partition(":")
        inst = self._by_tsym(exchange, tsym)
        try:
            start, end = float(str(data.get("from"))), float(str(data.get("to")))
        except ValueError:
            raise NotOk(INVALID_INPUT) from None
        candles = self.exchange.history(inst.key, 1440, datetime.fromtimestamp(start, IST),
                                        datetime.fromtimestamp(end, IST))
        if not candles:
            raise NotOk("no data")
        rows = [json.dumps({"time": datetime.fromtimestamp(c.start, IST).strftime("%d-%b-%Y").upper(),
                            "into": wire.price(c.open), "inth": wire.price(c.high), "intl": wire.price(c.low),
                            "intc": wire.price(c.close), "ssboe": str(c.start), "intv": f"{c.volume}.00"})
                for c in candles]
        rows.reverse()
        return rows

    # --- order reports ---------------------------------------------------------------------
    def absorb_events(self) -> None:
        """Drain the account's order events into SingleOrdHist rows and ``om`` frames. Holds the lock
        so reports go out in the order they happened."""
        with self._lock:
            for event in self.exchange.drain_events(self.account):
                if isinstance(event, Trade):
                    self._pending_fills[event.order_id].append(event)
                else:
                    for row, report in self._reports(event):
                        self._trails[event.order_id].history.insert(0, {**row, "rpt": report})
                        frame = wire.update_frame(row, report)
                        for session in self._sessions:
                            if session.orders:
                                session.send(frame)

    def _reports(self, order: Order) -> list[tuple[dict, str]]:
        """The Noren reports one order snapshot stands for (a first PENDING is NewAck + PendingNew)."""
        trail = self._trails.setdefault(order.order_id, OrderTrail())
        inst = self.instruments.get(order.instrument_key)
        row = wire.order_row(order, inst, self.user_id)
        reports: list[tuple[dict, str]] = []
        shape = (order.quantity, order.price, order.trigger_price, order.order_type)
        fills = self._pending_fills.pop(order.order_id, [])
        if order.status is OrderStatus.PENDING:
            reports += [(row, "NewAck"), (row, "PendingNew")]
        elif order.status is OrderStatus.REJECTED:
            reports.append((row, "Rejected"))
        elif order.status is OrderStatus.CANCELLED:
            reports.append((row, "Canceled"))
        elif fills:
            filled, value = trail.filled, trail.filled * (order.average_price if trail.filled else 0)
            for n, trade in enumerate(fills):
                filled += trade.quantity
                value += trade.quantity * trade.price
                last = n == len(fills) - 1
                fill_row = dict(row) if last else {**row, "status": "OPEN", "fillshares": str(filled),
                                                   "avgprc": wire.price(value // filled)}
                fill_row.update({"flid": trade.trade_id, "fltm": wire.exch_tm(trade.timestamp),
                                 "flqty": str(trade.quantity), "flprc": wire.price(trade.price)})
                reports.append((fill_row, "Fill"))
        elif trail.status in (None, OrderStatus.PENDING) or (
                trail.status is OrderStatus.TRIGGER_PENDING and order.status is not OrderStatus.TRIGGER_PENDING):
            reports.append((row, "New"))
        elif trail.shape != shape:
            reports.append((row, "Replaced"))
        else:
            reports.append((row, "New"))
        trail.status, trail.filled, trail.shape = order.status, order.filled_quantity, shape
        return reports

    # --- websocket ---------------------------------------------------------------------------
    def _ws_handler(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else "/"
        legacy = path.rstrip("/").endswith("PiConnectWSTp")
        if not legacy and not path.rstrip("/").endswith("PiConnectWSAPI"):
            connection.close(1008, "unknown endpoint")
            return
        session = self._handshake(connection, legacy)
        if session is None:
            return
        try:
            for message in connection:
                self._on_client_frame(session, message)
        except ConnectionClosed:
            pass
        finally:
            session.alive = False
            with self._lock:
                if session in self._sessions:
                    self._sessions.remove(session)

    def _handshake(self, connection: ServerConnection, legacy: bool) -> FeedSession | None:
        try:
            frame = json.loads(connection.recv(timeout=10))
        except (TimeoutError, ValueError, ConnectionClosed):
            connection.close(1008, "expected a connect frame")
            return None
        kind, ack = ("c", "ck") if legacy else ("a", "ak")
        if frame.get("t") != kind:
            connection.close(1008, "old-style connect frame refused" if frame.get("t") == "c" else "connect first")
            return None
        token = frame.get("susertoken" if legacy else "accesstoken")
        uid = str(frame.get("uid") or "")
        if uid != self.user_id or not self.valid_token(token):
            try:
                connection.send(json.dumps({"t": ack, "uid": uid, "s": "Not_Ok"}))
                connection.close(1008, "invalid session")
            except ConnectionClosed:
                pass
            return None
        session = FeedSession(connection, uid)
        with self._lock:
            session.cursor = 0
            self._sessions.append(session)
        session.send({"t": ack, "uid": uid, "s": "OK"})
        return session

    def _on_client_frame(self, session: FeedSession, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            return
        kind = frame.get("t")
        keys = [k.replace("|", ":", 1) for k in str(frame.get("k") or "").split("#") if "|" in k]
        if kind in ("t", "d"):
            known = [k for k in keys if k in self.instruments]
            target = session.touchline if kind == "t" else session.depth
            with self._lock:
                target.update(known)
            for key in known:  # the full record first (tk/dk), deltas after
                self._send_market(session, key, "d" if kind == "d" else "t", full=True)
        elif kind in ("u", "ud"):
            target = session.touchline if kind == "u" else session.depth
            with self._lock:
                target.difference_update(keys)
                for key in keys:
                    session.sent.pop((kind[-1] if kind == "ud" else "t", key), None)
            session.send({"t": kind + "k" if kind == "u" else "udk", "k": frame.get("k", "")})
        elif kind == "o":
            session.orders = True  # Flattrade sends no ack
        elif kind == "uo":
            session.orders = False
            session.send({"t": "uok"})
        elif kind == "h":
            session.send({"t": "hk", "hk": str(int(time.time()))})

    def _send_market(self, session: FeedSession, key: str, kind: str, full: bool = False, tick=None) -> None:
        inst = self.instruments[key]
        tick = tick or self.exchange.quote(key)
        fields = wire.depth(inst, tick) if kind == "d" else wire.touchline(inst, tick)
        previous = session.sent.get((kind, key))
        if full or previous is None:
            frame = {"t": "dk" if kind == "d" else "tk", **fields}
        else:
            changed = {n: v for n, v in fields.items() if previous.get(n) != v and n not in ("e", "tk", "ft")}
            if not changed:
                return
            frame = {"t": "df" if kind == "d" else "tf", "e": fields["e"], "tk": fields["tk"], **changed,
                     "ft": fields["ft"]}
        session.sent[(kind, key)] = fields
        session.send(frame)

    def _pump(self) -> None:
        """Step the market, send each client the deltas of what it watches, then the order reports."""
        while not self._stop.wait(self.step_interval):
            try:
                self._inject_ws_faults()
                with self._lock:
                    sessions = [s for s in self._sessions if s.alive and not s.stalled]
                    keys = sorted(set().union(*(s.touchline | s.depth for s in sessions))) if sessions else []
                self.exchange.step(keys=keys)
                for session in sessions:
                    with self._lock:
                        watched = sorted(session.touchline | session.depth)
                        ticks, session.cursor = self.exchange.ticks_since(session.cursor, watched)
                        for tick in ticks:
                            if tick.key in session.depth:
                                self._send_market(session, tick.key, "d", tick=tick)
                            if tick.key in session.touchline:
                                self._send_market(session, tick.key, "t", tick=tick)
                self.absorb_events()
            except Exception:  # the pump must keep the sandbox alive; the log says what broke
                log.exception("noren sandbox pump step failed")

    def _inject_ws_faults(self) -> None:
        """Draw each live session's websocket fault for this step: drop it or stall it."""
        with self._lock:
            sessions = [s for s in self._sessions if s.alive and not s.stalled]
        for session in sessions:
            kind = self.faults.ws_fault()
            if kind == "ws_stall":
                session.stalled = True
            elif kind == "ws_drop":
                with self._lock:
                    if session in self._sessions:
                        self._sessions.remove(session)
                _sever(session)

    def faulted_rest(self, route: str, body: str, fault: RestFault) -> tuple[int, bytes, str] | None:
        """Answer one PiConnectAPI request under ``fault``: (status, body, content type), or None
        to drop the connection without a reply. The request reaches the OMS unless the fault refuses it."""
        if fault.delay:
            time.sleep(fault.delay)
        kind = fault.kind
        if kind == "http_500":
            return 500, b"Internal Server Error", "text/plain"
        if kind == "rate_limited":
            what, limit = ("Order", 10) if route in ORDER_ROUTES else ("Request", 40)
            emsg = f"Invalid Input : {what} Recieved {limit + 1} in a current second exceeds Limit {limit} for user"
            return 200, _json_bytes({"stat": "Not_Ok", "request_time": wire.norentm(time.time()), "emsg": emsg}), \
                "application/json"
        if kind == "session_expired":
            return 200, _json_bytes({"stat": "Not_Ok", "request_time": wire.norentm(time.time()),
                                     "emsg": SESSION_EXPIRED}), "application/json"
        try:
            payload = self.rest(route, body)
        except SimError as exc:
            payload = {"stat": "Not_Ok", "emsg": f"Rejected : {exc}"}
        if kind == "drop_reply_after_accept":
            return None
        if kind == "html_error":
            return 502, _BAD_GATEWAY, "text/html"
        reply = _json_bytes(payload)
        if kind == "truncated_json":
            reply = reply[:self.faults.cut_point(len(reply))]
        return 200, reply, "application/json"

    def http_handler_error(self, exc: Exception) -> None:
        log.exception("noren sandbox request failed", exc_info=exc)


def _sever(session: FeedSession) -> None:
    """Cut the TCP connection under a websocket at once. (A closing handshake would wait up to
    10 s for the client's answer, freezing the caller, and a dropped link sends none anyway.)"""
    session.alive = False
    try:
        session.connection.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


_BAD_GATEWAY = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


def _json_bytes(payload) -> bytes:
    return json.dumps(payload).encode()


def _make_handler(sandbox: NorenSandbox):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _reply(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _drop(self) -> None:
            """Close the connection without a word, as a lost reply looks to the client."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _json(self, payload) -> None:
            self._reply(200, json.dumps(payload).encode(), "application/json")

        def _path(self) -> str:
            return re.sub(r"/{2,}", "/", urlsplit(self.path).path)

        def do_GET(self):  # noqa: N802
            path = self._path()
            query = parse_qs(urlsplit(self.path).query)
            if path.rstrip("/") in ("/auth", ""):
                if (query.get("app_key") or [""])[0] != sandbox.api_key:
                    self._reply(400, b"<html><body>Invalid app_key</body></html>", "text/html")
                    return
                target = (query.get("redirect_uri") or [sandbox.redirect_url])[0]
                glue = "&" if "?" in target else "?"
                location = f"{target}{glue}code={quote(sandbox.issue_code())}&client={quote(sandbox.user_id)}"
                self._reply(302, b"", "text/html", {"Location": location})
            elif path.startswith("/scripmaster/") and path.rsplit("/", 1)[1] in sandbox.scrip_files:
                self._reply(200, sandbox.scrip_files[path.rsplit("/", 1)[1]].encode(), "text/csv")
            else:
                self._reply(404, b"not found", "text/plain")

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            path = self._path()
            try:
                if path.rstrip("/") == "/trade/apitoken":
                    try:
                        payload = json.loads(body)
                    except ValueError:
                        payload = {}
                    self._json(sandbox.exchange_code(payload if isinstance(payload, dict) else {}))
                elif path.startswith("/PiConnectAPI/"):
                    route = path[len("/PiConnectAPI/"):].strip("/")
                    fault = sandbox.faults.rest_fault(route)
                    sandbox.note_request(route, body, fault)
                    answer = sandbox.faulted_rest(route, body, fault)
                    if answer is None:
                        self._drop()
                    else:
                        self._reply(*answer)
                else:
                    self._reply(404, b"not found", "text/plain")
            except SimError as exc:
                self._json({"stat": "Not_Ok", "emsg": f"Rejected : {exc}"})

    return Handler


def serve_main(argv: list[str]) -> int:
    """CLI entry: start the sandbox, print one JSON line, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="trading-terminal sandbox noren",
                                     description="Flattrade PiConnect (Noren) sandbox on loopback.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: a free port)")
    parser.add_argument("--ws-port", type=int, default=None,
                        help="websocket port (default: --port + 1, or a free port when --port is 0)")
    parser.add_argument("--redirect-port", type=int, default=8765,
                        help="loopback port of the registered login redirect URL (default 8765)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the simulated market")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not enforce Flattrade's rate limits")
    parser.add_argument("--faults", default="", metavar="SPEC",
                        help="inject faults, e.g. drop_reply_after_accept=0.1,http_500=0.05,html_error=0.03,"
                             "truncated_json=0.03,rate_limited=0.03,session_expired=0.02,delay_ms=0-300,"
                             "ws_drop=0.01,ws_stall=0.01 (probabilities per REST request, or per websocket "
                             "and market step; delay_ms=LO-HI on every reply; routes=PlaceOrder+OrderBook "
                             "limits the REST faults to those routes). See terminal/sim/servers/noren_faults.py.")
    parser.add_argument("--fault-seed", type=int, default=None, help="seed of the fault draws (default: --seed)")
    args = parser.parse_args(argv)
    try:
        faults = FaultProfile.parse(args.faults)
    except ValueError as exc:
        parser.error(f"--faults: {exc}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("The sandbox binds loopback only (127.0.0.1).", file=sys.stderr)
        return 2
    ws_port = args.ws_port if args.ws_port is not None else (args.port + 1 if args.port else 0)
    sandbox = NorenSandbox(host=args.host, port=args.port, ws_port=ws_port, redirect_port=args.redirect_port,
                           seed=args.seed, rate_limits=not args.no_rate_limits, faults=faults,
                           fault_seed=args.fault_seed).start()
    print(json.dumps(sandbox.info()), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0
