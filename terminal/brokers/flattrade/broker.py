"""FlattradeBroker: the Broker contract over Flattrade's PiConnect (Noren) API.

Pieces: ``auth`` (browser login and code exchange), ``http`` (jData/jKey transport, errors,
rate limits), ``schemas`` (wire <-> domain), ``websocket`` (ticks and order updates),
``orders`` (order frames, request mapping), ``instruments`` (scrip master). This module ties
them together and holds the session.

Market orders: Flattrade accepts only LMT and SL-LMT from API clients. A MARKET order goes out
as a LIMIT ``market_protection_percent`` through the LTP (buy above, sell below); an SL-M as an
SL-LMT whose limit is that far through the trigger. The order book then shows a LIMIT order.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from terminal.brokers.base import (
    AuthenticationError, Broker, BrokerError, FeedSink, InstrumentNotFoundError, NetworkError, OrderOutcomeUnknown,
    OrderRejectedError, SessionExpiredError, SessionInfo,
)
from terminal.brokers.flattrade import auth
from terminal.brokers.flattrade.config import FlattradeConfig
from terminal.brokers.flattrade.gtt import FlattradeGtt
from terminal.brokers.flattrade.http import NorenError, NorenHttp
from terminal.brokers.flattrade.instruments import Progress, ScripMaster
from terminal.brokers.flattrade.order_updates import modify_order_fields, place_order_fields, protected_price
from terminal.brokers.flattrade.schemas import (
    ORDER_TYPE_TO_WIRE, PayloadError, candles_from_eod, candles_from_tpseries, funds_from_wire,
    holding_from_wire, order_from_wire, paise, position_from_wire, text, tick_from_wire, trade_from_wire,
    units, wire_price,
)
from terminal.brokers.flattrade.market_feed import NorenFeed
from terminal.domain import (
    INTERVALS_MINUTES, AccountId, Candle, Exchange, Funds, Holding, Instrument, InstrumentKey, InstrumentKind, Order,
    OrderModification, OrderRequest, OrderType, Position, Tick, Trade,
)
from terminal.storage import secrets
from terminal.storage.paths import data_dir

log = logging.getLogger(__name__)

IST = ZoneInfo("Asia/Kolkata")
# The terminal's intraday bars, all of which TPSeries serves (it also has 10, 120 and 240, unused here).
TPSERIES_INTERVALS = tuple(m for m in INTERVALS_MINUTES if m != 1440)
_SECRET = "api_secret"
_SESSION = "session_token"  # keyring field holding {"token", "issued", "rest_url"} for the day


def decoded(what: str, decode, *args):
    """``decode(*args)``; an unreadable payload (PayloadError) becomes a BrokerError naming ``what``."""
    try:
        return decode(*args)
    except PayloadError as exc:
        raise BrokerError(f"Flattrade {what} unreadable: {exc}",
                          hint="The broker sent something the terminal cannot read; try again.") from exc


def scrip_keys(reply) -> list[InstrumentKey]:
    """Instrument keys ("NFO:40210") of SearchScrip / GetOptionChain ``values``, as the master spells
    them; a row of an exchange the terminal does not trade could never match the master, so it is left out."""
    values = (reply.get("values") or []) if isinstance(reply, dict) else reply
    return [f"{text(row, 'exch')}:{text(row, 'token')}" for row in list_of_rows(values)]


def list_of_rows(rows) -> list:
    if not isinstance(rows, list):
        raise PayloadError(f"expected a list of rows, got {str(rows)[:80]!r}")
    return rows


class UnsupportedIntervalError(BrokerError, ValueError):
    """A bar interval the terminal does not ask Flattrade for (a ValueError and a BrokerError)."""


class FlattradeBroker(FlattradeGtt, Broker):
    """One Flattrade account. Thread-safe; blocking methods are meant for a worker pool.

    ``opener`` opens the login page (default: the system browser); tests pass one that follows
    the sandbox's auto-approving redirect. ``cache_dir`` holds the scrip master (default: the
    terminal's data folder, one sub-folder per host).
    """

    name = "flattrade"

    def __init__(self, config: FlattradeConfig, *, opener: auth.Opener | None = None,
                 cache_dir: Path | None = None, clock: Callable[[], datetime] = lambda: datetime.now(IST)):
        self.config = config
        self._account: AccountId = f"{self.name}:{config.client_id}"
        self._opener = opener
        self._clock = clock
        self.http = NorenHttp(config.rest_url, timeout=config.http_timeout)
        host = re.sub(r"[^A-Za-z0-9_.-]", "_", urlsplit(config.scrip_master_url).netloc or "local")
        self.scrip_master = ScripMaster(config.scrip_master_url, config.scrip_files,
                                        cache_dir or data_dir() / "flattrade" / host, timeout=60.0)
        self._lock = threading.RLock()
        self._instruments: list[Instrument] | None = None
        self._by_key: dict[InstrumentKey, Instrument] = {}
        self._by_symbol: dict[tuple[str, str], Instrument] = {}
        self._feed: NorenFeed | None = None
        self._subscribed: set[InstrumentKey] = set()
        self._sink: FeedSink | None = None
        self.user_name = ""

    @property
    def account(self) -> AccountId:
        return self._account

    # --- session -------------------------------------------------------------------------
    def login(self) -> SessionInfo:
        """Reuse today's token if the server still takes it; else the browser login."""
        stored = self._stored_session()
        if stored is not None:
            self.http.token = stored[0]
            try:
                return self._session_info(stored[1])
            except SessionExpiredError:
                log.info("Stored Flattrade token is no longer valid; logging in again")
                self.http.token = None
        code, _client = auth.browser_login_code(self.config.auth_url, self.config.api_key,
                                                self.config.redirect_port, self.config.login_timeout,
                                                self._opener)
        return self.login_with_code(code)

    def login_with_redirect_url(self, url: str) -> SessionInfo:
        """The fallback: the trader pastes the URL the browser was redirected to."""
        return self.login_with_code(auth.code_from_redirect_url(url))

    def login_with_code(self, code: str) -> SessionInfo:
        secret = secrets.load_secret(self.name, self.config.client_id, _SECRET)
        if not secret:
            raise AuthenticationError(f"No Flattrade API secret stored for {self.config.client_id}.",
                                      hint="Enter the API secret in Settings > Brokers (it is kept in the "
                                           "system keyring).")
        token, client = auth.exchange_code(self.config.token_url, self.config.api_key, secret, code,
                                           timeout=self.config.http_timeout)
        if client and client.upper() != self.config.client_id.upper():
            raise AuthenticationError(f"Logged in as {client}, but this account is {self.config.client_id}.",
                                      hint="Log in with the matching Flattrade client id.")
        issued = self._clock()
        self.http.token = token
        secrets.save_secret(self.name, self.config.client_id, _SESSION, json.dumps(
            {"token": token, "issued": issued.timestamp(), "rest_url": self.config.rest_url}))
        return self._session_info(issued)

    def _stored_session(self) -> tuple[str, datetime] | None:
        raw = secrets.load_secret(self.name, self.config.client_id, _SESSION)
        if not raw:
            return None
        try:
            saved = json.loads(raw)
            issued = datetime.fromtimestamp(float(saved["issued"]), IST)
            token = str(saved["token"])
        except (ValueError, KeyError, TypeError):
            return None
        if saved.get("rest_url") != self.config.rest_url or self._clock() >= auth.token_valid_until(issued):
            return None
        return token, issued

    def _session_info(self, issued: datetime) -> SessionInfo:
        details = self.http.post("UserDetails", {"uid": self.config.client_id})
        self.user_name = decoded("UserDetails reply", lambda: text(details, "uname") or text(details, "actid")
                                 ) or self.config.client_id
        return SessionInfo(self._account, self.user_name, auth.token_valid_until(issued))

    def logout(self) -> None:
        """Forget the token here. /Logout is not called: it may kill the day's token for every app."""
        self.disconnect_feed()
        self.http.token = None
        secrets.delete_secret(self.name, self.config.client_id, _SESSION)

    @property
    def token(self) -> str | None:
        return self.http.token

    # --- reference data ------------------------------------------------------------------
    def instruments(self, progress: Progress | None = None, refresh: bool = False) -> list[Instrument]:
        """The scrip master (downloaded at most once a day after 08:30 IST)."""
        with self._lock:
            if self._instruments is None or refresh:
                loaded = self.scrip_master.load(progress, force=refresh)
                self._instruments = loaded
                self._by_key = {i.key: i for i in loaded}
                self._by_symbol = {(i.exchange.value, i.trading_symbol): i for i in loaded}
            return self._instruments

    def instrument(self, key: InstrumentKey) -> Instrument:
        self.instruments()
        try:
            return self._by_key[key]
        except KeyError:
            raise InstrumentNotFoundError(f"{key} is not in the Flattrade scrip master.") from None

    def _token_for_symbol(self, exchange: str, tsym: str) -> str:
        if self._instruments is None:
            try:
                self.instruments()
            except BrokerError:
                return ""
        inst = self._by_symbol.get((exchange, tsym))
        return inst.token if inst else ""

    def search(self, text_: str, exchange: Exchange | str = Exchange.NFO) -> list[Instrument]:
        """SearchScrip: the server's matches, as instruments from the master where known."""
        reply = self.http.post("SearchScrip", {"uid": self.config.client_id, "exch": Exchange(exchange).value,
                                               "stext": text_}, list_route=True)
        keys = decoded("SearchScrip reply", scrip_keys, reply)
        self.instruments()
        return [self._by_key[k] for k in keys if k in self._by_key]

    def security_info(self, key: InstrumentKey) -> Instrument:
        """The instrument with the server's tick size and freeze quantity (GetSecurityInfo)."""
        inst = self.instrument(key)
        try:
            info = self.http.post("GetSecurityInfo", {"uid": self.config.client_id, "exch": inst.exchange.value,
                                                      "token": inst.token})
        except NorenError as exc:
            raise InstrumentNotFoundError(f"{key}: {exc.emsg}") from exc
        return decoded("GetSecurityInfo reply", lambda: replace(
            inst, tick_size=paise(info, "ti") or inst.tick_size, freeze_quantity=units(info, "frzqty") or None,
            lot_size=units(info, "ls") or inst.lot_size))

    def option_chain(self, key: InstrumentKey, strike: int, count: int = 5) -> list[Instrument]:
        """GetOptionChain around ``strike`` (paise) for the expiry of option ``key``: ``count`` strikes a side."""
        inst = self.instrument(key)
        reply = self.http.post("GetOptionChain", {"uid": self.config.client_id, "exch": inst.exchange.value,
                                                  "tsym": inst.trading_symbol, "strprc": wire_price(strike),
                                                  "cnt": str(count)}, list_route=True)
        chain = [self._by_key[k] for k in decoded("GetOptionChain reply", scrip_keys, reply) if k in self._by_key]
        return sorted(chain, key=lambda i: (i.strike or 0, i.option_type.value if i.option_type else ""))

    # --- market data ---------------------------------------------------------------------
    def quotes(self, keys: list[InstrumentKey]) -> list[Tick]:
        """GetQuotes, one call per key (the API has no batch form); unknown keys are left out."""
        ticks = []
        for key in keys:
            exchange, _, token = key.partition(":")
            try:
                reply = self.http.post("GetQuotes", {"uid": self.config.client_id, "exch": exchange,
                                                     "token": token})
            except NorenError as exc:
                log.info("No quote for %s: %s", key, exc.emsg)
                continue
            ticks.append(decoded(f"quote of {key}", tick_from_wire, reply, key, time.time()))
        return ticks

    def history(self, key: InstrumentKey, interval_minutes: int, start: datetime, end: datetime) -> list[Candle]:
        """TPSeries for intraday intervals, EODChartData for 1440 (daily). Oldest bar first."""
        if start.tzinfo is None or end.tzinfo is None:
            raise BrokerError("history needs timezone-aware start and end")
        if interval_minutes not in INTERVALS_MINUTES:
            supported = ", ".join(map(str, TPSERIES_INTERVALS))
            raise UnsupportedIntervalError(f"Flattrade history has no {interval_minutes}-minute bars here; "
                                           f"supported: {supported} minutes and 1440 (daily).",
                                           hint=f"Pick {supported} minutes or daily.")
        inst = self.instrument(key)
        if interval_minutes == 1440:
            rows = self.http.post("EODChartData", {"uid": self.config.client_id,
                                                   "sym": f"{inst.exchange.value}:{inst.trading_symbol}",
                                                   "from": str(int(start.timestamp())),
                                                   "to": str(int(end.timestamp()))}, list_route=True)
            return decoded("EODChartData reply", lambda: candles_from_eod(list_of_rows(rows)))
        rows = self.http.post("TPSeries", {"ordersource": "API", "uid": self.config.client_id,
                                           "exch": inst.exchange.value, "token": inst.token,
                                           "st": str(int(start.timestamp())), "et": str(int(end.timestamp())),
                                           "intrv": str(interval_minutes)}, list_route=True)
        return decoded("TPSeries reply", lambda: candles_from_tpseries(list_of_rows(rows)))

    # --- streaming -----------------------------------------------------------------------
    def connect_feed(self, sink: FeedSink) -> None:
        """Open the websocket on the adapter's thread; returns at once."""
        if not self.http.token:
            raise SessionExpiredError("Log in to Flattrade before starting the feed.")
        self.disconnect_feed()
        feed = NorenFeed(
            self.config.ws_url, self.config.client_id, lambda: self.http.token, sink, account=self._account,
            token_for_symbol=self._token_for_symbol, on_reconnected=lambda: self._catch_up(sink),
            heartbeat_interval=self.config.heartbeat_interval, dead_link_after=self.config.dead_link_after,
            initial_delay=self.config.reconnect_initial_delay, max_delay=self.config.reconnect_max_delay)
        with self._lock:
            keys = sorted(self._subscribed)
            self._feed, self._sink = feed, sink
        if keys:
            feed.subscribe(keys)
        feed.start()

    def disconnect_feed(self) -> None:
        with self._lock:
            feed, self._feed = self._feed, None
        if feed is not None:
            feed.stop()

    @property
    def feed(self) -> NorenFeed | None:
        return self._feed

    def subscribe(self, keys: list[InstrumentKey]) -> None:
        """Touchline and depth for ``keys``; kept across reconnects and across connect_feed calls."""
        with self._lock:
            self._subscribed.update(keys)
            feed = self._feed
        if feed is not None:
            feed.subscribe(list(keys))

    def unsubscribe(self, keys: list[InstrumentKey]) -> None:
        with self._lock:
            self._subscribed.difference_update(keys)
            feed = self._feed
        if feed is not None:
            feed.unsubscribe(list(keys))

    def _catch_up(self, sink: FeedSink) -> None:
        """After a reconnect, replay the order book so updates missed while down are not lost."""
        for order in self.order_book():
            sink.on_order_update(order)

    # --- orders --------------------------------------------------------------------------
    def place_order(self, request: OrderRequest) -> str:
        """PlaceOrder; returns the norenordno. Never retried: a lost reply raises OrderOutcomeUnknown."""
        if request.account != self._account:
            raise BrokerError(f"This order is for account {request.account}, not {self._account}.",
                              hint="Pick the Flattrade account in the order window.")
        fields = self._place_fields(request)
        try:
            reply = self.http.post("PlaceOrder", fields)
        except NorenError as exc:
            raise OrderRejectedError(exc.emsg) from exc
        try:
            order_id = text(reply, "norenordno")
        except PayloadError:  # not an object, or a number that is not text
            order_id = ""
        if not order_id:  # "Ok" without a number: it may well exist, so look it up, never resend
            raise OrderOutcomeUnknown(f"Flattrade PlaceOrder: reply without an order number: {str(reply)[:120]}")
        return order_id

    def _place_fields(self, request: OrderRequest) -> dict:
        """The PlaceOrder jData. Everything here happens before the order leaves: a failure (no
        scrip master, no LTP to price a market order) is a plain BrokerError, provably not sent."""
        try:
            inst = self.instrument(request.instrument_key)
            if inst.kind is InstrumentKind.INDEX:
                raise OrderRejectedError(f"{inst.display_name} is an index and cannot be traded.")
            price, trigger, wire_type = self._wire_prices(inst, request.side.sign, request.order_type,
                                                          request.price, request.trigger_price)
        except NetworkError as exc:  # a failed lookup before sending must not look like a lost order
            raise BrokerError(f"Not sent: {exc}", hint=exc.hint) from exc
        return place_order_fields(request, inst, self.config.client_id, price=price, trigger=trigger,
                                  wire_type=wire_type)

    def _wire_prices(self, inst: Instrument, side_sign: int, order_type: OrderType, price: int,
                     trigger: int) -> tuple[int, int, str]:
        """(limit price, trigger, prctyp) as sent: MARKET and SL-M become protected limits."""
        percent = self.config.market_protection_percent
        if order_type is OrderType.MARKET:
            return protected_price(side_sign, self._last_price(inst), percent, inst.tick_size), 0, "LMT"
        if order_type is OrderType.SL_M:
            return protected_price(side_sign, trigger, percent, inst.tick_size), trigger, "SL-LMT"
        return price, trigger, ORDER_TYPE_TO_WIRE[order_type]

    def _last_price(self, inst: Instrument) -> int:
        """The LTP in paise: the live feed's if it has one, else a GetQuotes call."""
        feed = self._feed
        tick = feed.cache.latest(inst.key) if feed is not None else None
        if tick is None or not tick.ltp:
            quotes = self.quotes([inst.key])
            tick = quotes[0] if quotes else None
        if tick is None or not tick.ltp:
            raise OrderRejectedError(f"No last price for {inst.trading_symbol}: cannot price a market order.",
                                     hint="Use a limit order.")
        return tick.ltp

    def order_history(self, order_id: str) -> list[Order]:
        """SingleOrdHist: the order's states, oldest first."""
        rows = self.http.post("SingleOrdHist", {"ordersource": "API", "uid": self.config.client_id,
                                                "norenordno": order_id}, list_route=True)
        return [self._order(row) for row in reversed(rows)]

    def order(self, order_id: str) -> Order:
        history = self.order_history(order_id)
        if not history:
            raise BrokerError(f"Flattrade has no order {order_id}.",
                              hint="Refresh the order book; the order number may be from another day.")
        return history[-1]

    def modify_order(self, order_id: str, modification: OrderModification) -> None:
        """ModifyOrder, sent once: anything but a clear answer raises OrderOutcomeUnknown (look the order up)."""
        fields = self._modify_fields(order_id, modification)
        try:
            self.http.post("ModifyOrder", fields)
        except NorenError as exc:
            raise OrderRejectedError(exc.emsg) from exc

    def _modify_fields(self, order_id: str, modification: OrderModification) -> dict:
        """The ModifyOrder jData from the order's current values. A failure here (its history or
        an LTP could not be read) happens before anything is sent: a plain BrokerError."""
        try:
            current = self.order(order_id)
            inst = self.instrument(current.instrument_key)
            order_type = modification.order_type or current.order_type
            price = current.price if modification.price is None else modification.price
            trigger = current.trigger_price if modification.trigger_price is None else modification.trigger_price
            price, trigger, wire_type = self._wire_prices(inst, current.side.sign, order_type, price, trigger)
        except NetworkError as exc:  # a failed look-up before sending must not look like a lost modify
            raise BrokerError(f"Not sent: {exc}", hint=exc.hint) from exc
        return modify_order_fields(current, modification, self.config.client_id, price=price, trigger=trigger,
                                   wire_type=wire_type, exchange=inst.exchange.value)

    def cancel_order(self, order_id: str) -> None:
        """CancelOrder, sent once, like ``modify_order``."""
        try:
            self.http.post("CancelOrder", {"ordersource": "API", "uid": self.config.client_id,
                                           "norenordno": order_id})
        except NorenError as exc:
            raise OrderRejectedError(f"Cancel refused: {exc.emsg}",
                                     hint="Refresh the order book; the order may have filled or been cancelled.") from exc

    def order_book(self) -> list[Order]:
        rows = self.http.post("OrderBook", {"ordersource": "API", "uid": self.config.client_id}, list_route=True)
        return [self._order(row) for row in rows]

    def _order(self, row: dict) -> Order:
        try:
            return order_from_wire(row, self._account)
        except PayloadError as exc:
            raise BrokerError(f"Flattrade order row unreadable: {exc}") from exc

    def trade_book(self) -> list[Trade]:
        rows = self.http.post("TradeBook", {"ordersource": "API", "uid": self.config.client_id,
                                            "actid": self.config.client_id}, list_route=True)
        try:
            return [trade_from_wire(row, self._account) for row in rows]
        except PayloadError as exc:
            raise BrokerError(f"Flattrade trade row unreadable: {exc}") from exc

    # --- portfolio -----------------------------------------------------------------------
    def positions(self) -> list[Position]:
        rows = self.http.post("PositionBook", {"uid": self.config.client_id, "actid": self.config.client_id},
                              list_route=True)
        try:
            return [position_from_wire(row, self._account) for row in rows]
        except PayloadError as exc:
            raise BrokerError(f"Flattrade position row unreadable: {exc}") from exc

    def holdings(self) -> list[Holding]:
        rows = self.http.post("Holdings", {"uid": self.config.client_id, "actid": self.config.client_id,
                                           "prd": "C"}, list_route=True)
        try:
            holdings = [holding_from_wire(row, self._account) for row in rows]
        except PayloadError as exc:
            raise BrokerError(f"Flattrade holding row unreadable: {exc}") from exc
        feed = self._feed
        if feed is not None:  # price them from the live feed where it has the stock
            priced = []
            for h in holdings:
                tick = feed.cache.latest(h.instrument_key)
                priced.append(replace(h, last_price=tick.ltp) if tick else h)
            holdings = priced
        return holdings

    def funds(self) -> Funds:
        reply = self.http.post("Limits", {"uid": self.config.client_id, "actid": self.config.client_id})
        return decoded("Limits reply", funds_from_wire, reply, self._account)
