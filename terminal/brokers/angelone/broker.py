"""AngelOneBroker: the Broker contract over SmartAPI REST, the binary market feed and order updates.

Every method is blocking and thread-safe (REST through a pooled session with per-endpoint
rate limits; the session renews itself on AG8001). ``connect_feed`` starts the adapter's own
socket threads. ``place_order`` sends once: a lost or empty reply raises OrderOutcomeUnknown
and the caller reconciles with ``find_order_by_tag`` (every order carries its tag as ``ordertag``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from terminal.brokers.angelone.auth import SecretSource, SessionTokens, SmartApiSession
from terminal.brokers.angelone.config import AngelOneConfig
from terminal.brokers.angelone.http import EmptyReplyError, SmartApiError, SmartApiHttp
from terminal.brokers.angelone.instruments import ProgressCallback, ScripMaster, load_or_download
from terminal.brokers.angelone.market_feed import MarketFeed
from terminal.brokers.angelone.models import (
    ChargeEstimate, GttRule, MarketMover, OptionGreek, PutCallRatio,
)
from terminal.brokers.angelone.order_updates import OrderUpdateSocket
from terminal.brokers.angelone.schemas import (
    INTERVALS, PRODUCT_FROM_WIRE, PRODUCT_TO_WIRE, SchemaError, candle_windows, candles_from_wire, decimal,
    funds_from_wire, holding_from_wire, key_of, modification_to_wire, order_from_wire, order_to_wire, paise,
    position_from_wire, rupees, tick_from_quote, trade_from_wire, units, variety_of,
)
from terminal.brokers.base import (
    AuthenticationError, Broker, BrokerError, FeedSink, InstrumentNotFoundError, NetworkError, OrderOutcomeUnknown,
    OrderRejectedError, RateLimitedError, SessionInfo,
)
from terminal.domain import (
    AccountId, Candle, Funds, Holding, Instrument, InstrumentKey, Order, OrderModification, OrderRequest, Position,
    Product, Side, Tick, Trade,
)

log = logging.getLogger(__name__)

QUOTE_BATCH = 50  # tokens per market/v1/quote call
# "Something went wrong" / "Internal error": the order system may have acted; reconcile, never resend.
UNSURE_CODES = frozenset({"AB1004", "AB2001"})
LOOKUP_RETRY_DELAYS = (0.2, 0.5)  # seconds between reads of the order book before a modify or cancel


def _rows(data, what: str) -> list:
    """The list a book route answers with (null when empty); anything else is a SchemaError."""
    if data in (None, ""):
        return []
    if not isinstance(data, list):
        raise SchemaError(f"Angel One {what}: expected a list, got {type(data).__name__}")
    return data


def keyring_secrets(client_code: str) -> SecretSource:
    """PIN and TOTP secret from the OS keyring, read at each login (never cached in the adapter)."""

    def read() -> tuple[str, str]:
        from terminal.storage.secrets import load_secret

        pin = load_secret("angelone", client_code, "pin")
        totp = load_secret("angelone", client_code, "totp_secret")
        if not pin or not totp:
            raise AuthenticationError(f"No Angel One PIN/TOTP secret for {client_code} in the keyring.",
                                      hint="Enter them in Settings > Brokers > Angel One.")
        return pin, totp

    return read


class AngelOneBroker(Broker):
    name = "angelone"

    def __init__(self, config: AngelOneConfig, *, secrets: SecretSource | None = None,
                 http: SmartApiHttp | None = None, cache_dir: Path | None = None):
        self.config = config
        self.http = http or SmartApiHttp(config.rest_url, config.api_key, public_ip=config.public_ip,
                                         local_ip=config.local_ip, timeout=config.timeout)
        self.session = SmartApiSession(self.http, config.client_code, secrets or keyring_secrets(config.client_code))
        self._account: AccountId = f"{self.name}:{config.client_code}"
        self._cache_dir = cache_dir
        self._master: ScripMaster | None = None
        self._master_lock = threading.Lock()
        self.feed = MarketFeed(config, self._current_tokens, self._renew_tokens)
        self.order_socket: OrderUpdateSocket | None = None
        self._unique_ids: dict[str, str] = {}  # order id -> uniqueorderid (for order details)

    @property
    def account(self) -> AccountId:
        return self._account

    # --- session ------------------------------------------------------------------------------
    def login(self) -> SessionInfo:
        tokens = self.session.login()
        profile = self.session.data("profile") or {}
        expires = datetime.fromtimestamp(tokens.expires_at, timezone.utc) if tokens.expires_at else None
        return SessionInfo(self._account, str(profile.get("name") or self.config.client_code), expires)

    def logout(self) -> None:
        self.disconnect_feed()
        self.session.logout()

    def _current_tokens(self) -> SessionTokens:
        tokens = self.session.tokens
        if tokens is None:
            raise AuthenticationError("Not logged in to Angel One.")
        return tokens

    def _renew_tokens(self) -> None:
        self.session.refresh()

    # --- instrument master --------------------------------------------------------------------
    def master(self, progress: ProgressCallback | None = None) -> ScripMaster:
        """Today's instrument master: from the disk cache, else downloaded once (with progress)."""
        with self._master_lock:
            if self._master is None:
                directory = self._cache_dir
                if directory is None:
                    from terminal.storage.paths import data_dir

                    directory = data_dir() / "angelone"
                url = self.config.scrip_master_url
                self._master = load_or_download(directory / "scrip_master.pickle",
                                                lambda: self.http.get_raw(url, timeout=60, stream=True), progress)
            return self._master

    def instruments(self, progress: ProgressCallback | None = None) -> Sequence[Instrument]:
        return self.master(progress).instruments()

    def search(self, text: str, limit: int = 50) -> list[Instrument]:
        return self.master().search(text, limit)

    def instrument(self, key: InstrumentKey) -> Instrument:
        found = self.master().instrument(key)
        if found is None:
            raise InstrumentNotFoundError(f"{key} is not in the Angel One instrument master.")
        return found

    # --- market data --------------------------------------------------------------------------
    def quotes(self, keys: list[InstrumentKey], mode: str = "FULL") -> list[Tick]:
        """Snapshots from market/v1/quote, 50 tokens a call (unknown keys are left out)."""
        by_exchange: dict[str, list[str]] = {}
        for key in keys:
            exchange, _, token = key.partition(":")
            by_exchange.setdefault(exchange, []).append(token)
        pairs = [(ex, tok) for ex, toks in by_exchange.items() for tok in toks]
        ticks: dict[InstrumentKey, Tick] = {}
        for i in range(0, len(pairs), QUOTE_BATCH):
            request: dict[str, list[str]] = {}
            for exchange, token in pairs[i:i + QUOTE_BATCH]:
                request.setdefault(exchange, []).append(token)
            data = self.session.data("quote", {"mode": mode, "exchangeTokens": request}) or {}
            for item in data.get("fetched") or []:
                tick = tick_from_quote(item)
                ticks[tick.key] = tick
            for item in data.get("unfetched") or []:
                log.info("angelone quote: %s:%s not fetched: %s", item.get("exchange"), item.get("symbolToken"),
                         item.get("message"))
        return [ticks[k] for k in keys if k in ticks]

    def ltp(self, key: InstrumentKey) -> int:
        """Last price in paise from getLtpData."""
        inst = self.instrument(key)
        data = self.session.data("ltp", {"exchange": inst.exchange.value, "tradingsymbol": inst.trading_symbol,
                                         "symboltoken": inst.token})
        return paise((data or {}).get("ltp"))

    def history(self, key: InstrumentKey, interval_minutes: int, start: datetime, end: datetime) -> list[Candle]:
        """Bars between start and end, fetched in as many windows as the interval's day limit needs."""
        interval = INTERVALS.get(interval_minutes)
        if interval is None:
            raise BrokerError(f"Angel One has no {interval_minutes}-minute bars.",
                              hint="Use 1, 3, 5, 10, 15, 30, 60 or 1440 minutes.")
        if start.tzinfo is None or end.tzinfo is None:
            raise BrokerError("History needs timezone-aware start and end times.")
        exchange, _, token = key.partition(":")
        candles: dict[int, Candle] = {}
        for begin, finish in candle_windows(interval, start, end):
            rows = self.session.data("candles", {"exchange": exchange, "symboltoken": token, "interval": interval,
                                                 "fromdate": begin, "todate": finish})
            for candle in candles_from_wire(rows):
                candles[candle.start] = candle
        return [candles[t] for t in sorted(candles)]

    # --- streaming ----------------------------------------------------------------------------
    def connect_feed(self, sink: FeedSink) -> None:
        self._current_tokens()
        self.disconnect_feed()
        self.feed.start(sink)
        self.order_socket = OrderUpdateSocket(self.config, self._current_tokens, self._account, sink,
                                              self._renew_tokens, resync=self.order_book)
        try:
            for order in self.order_book():  # fills already known are not reported again
                self.order_socket.fills.fills(order)
        except BrokerError as exc:
            log.warning("angelone: order book unavailable at feed start: %s", exc)
        self.order_socket.start()

    def disconnect_feed(self) -> None:
        self.feed.stop()
        if self.order_socket is not None:
            self.order_socket.stop()
            self.order_socket = None

    def subscribe(self, keys: list[InstrumentKey], mode: int | None = None) -> None:
        if mode is None:
            self.feed.subscribe(keys)
        else:
            self.feed.subscribe(keys, mode)

    def unsubscribe(self, keys: list[InstrumentKey]) -> None:
        self.feed.unsubscribe(keys)

    # --- orders -------------------------------------------------------------------------------
    def place_order(self, request: OrderRequest) -> str:
        if request.account != self._account:
            raise BrokerError(f"This order is for account {request.account}, not {self._account}.")
        inst = self.instrument(request.instrument_key)
        try:
            body = order_to_wire(request, inst)
        except ValueError as exc:
            raise BrokerError(str(exc)) from exc
        try:
            reply = self.session.call("place_order", body)
        except (EmptyReplyError, NetworkError) as exc:
            if isinstance(exc, OrderOutcomeUnknown):
                raise
            raise OrderOutcomeUnknown(
                f"Angel One's reply to order {request.tag} was lost ({exc}); checking the order book.") from exc
        if not reply.ok and reply.code in UNSURE_CODES:
            raise OrderOutcomeUnknown(f"Angel One answered order {request.tag} with an internal error "
                                      f"({reply.message} {reply.code}); checking the order book.")
        if not reply.ok:
            raise OrderRejectedError(f"{reply.message or 'Order refused'}" + (f" ({reply.code})" if reply.code else ""))
        data = reply.data if isinstance(reply.data, dict) else {}
        order_id = str(data.get("orderid") or "")
        if not order_id:
            raise OrderOutcomeUnknown(f"Angel One accepted order {request.tag} without an order id.")
        if data.get("uniqueorderid"):
            self._unique_ids[order_id] = str(data["uniqueorderid"])
        return order_id

    def _find_order(self, order_id: str) -> Order:
        """The order as the book shows it, read before a modify or cancel (which need its current
        values). Read-only, so a failed read is retried; if it keeps failing nothing was sent."""
        for delay in LOOKUP_RETRY_DELAYS + (None,):
            try:
                book = self.order_book()
                break
            except (NetworkError, RateLimitedError) as exc:
                if delay is None:
                    raise BrokerError(f"Not sent: the order book could not be read ({exc}).", hint=exc.hint) from exc
                time.sleep(delay * random.uniform(0.8, 1.2))
        for order in book:
            if order.order_id == order_id:
                return order
        raise BrokerError(f"Order {order_id} is not in the Angel One order book.",
                          hint="Refresh the order book; the order may belong to another day.")

    def modify_order(self, order_id: str, modification: OrderModification) -> None:
        """Sent once: a lost, empty, 5xx or AB1004/AB2001 reply raises OrderOutcomeUnknown (look the order up)."""
        order = self._find_order(order_id)
        body = modification_to_wire(order, modification, self.instrument(order.instrument_key))
        reply = self._change("modify_order", body, order_id)
        if not reply.ok:
            raise OrderRejectedError(reply.message or "Modification refused")

    def cancel_order(self, order_id: str) -> None:
        """Sent once, like ``modify_order``."""
        order = self._find_order(order_id)
        reply = self._change("cancel_order", {"variety": variety_of(order), "orderid": order_id}, order_id)
        if not reply.ok:
            raise OrderRejectedError(f"Cancel refused: {reply.message} ({reply.code})",
                                     hint="Refresh the order book; the order may have filled or been cancelled.")

    def _change(self, name: str, body: dict, order_id: str):
        """One modify or cancel call; a reply that does not say what happened is OrderOutcomeUnknown."""
        try:
            reply = self.session.call(name, body)
        except (EmptyReplyError, NetworkError) as exc:
            if isinstance(exc, OrderOutcomeUnknown):
                raise
            raise OrderOutcomeUnknown(f"Angel One's reply to {name} of order {order_id} was lost ({exc}).") from exc
        if not reply.ok and reply.code in UNSURE_CODES:
            raise OrderOutcomeUnknown(f"Angel One answered {name} of order {order_id} with an internal error "
                                      f"({reply.message} {reply.code}).")
        return reply

    def order_book(self) -> list[Order]:
        orders = []
        for record in _rows(self.session.data("order_book"), "order book"):
            try:
                orders.append(order_from_wire(record, self._account))
            except SchemaError as exc:
                log.error("angelone order book: order %s unreadable: %s",
                          record.get("orderid") if isinstance(record, dict) else "?", exc)
                continue
            if record.get("uniqueorderid"):
                self._unique_ids[str(record.get("orderid"))] = str(record["uniqueorderid"])
        return orders

    def order_details(self, order_id: str) -> Order:
        """One order from details/{uniqueorderid} (the id is learnt from placement or the order book)."""
        unique = self._unique_ids.get(order_id)
        if unique is None:
            self.order_book()
            unique = self._unique_ids.get(order_id)
        if unique is None:
            raise BrokerError(f"Order {order_id} is unknown to Angel One.")
        return order_from_wire(self.session.data("order_details", suffix=unique), self._account)

    def trade_book(self) -> list[Trade]:
        trades = []
        master = self._master
        for record in _rows(self.session.data("trade_book"), "trade book"):
            if not isinstance(record, dict):
                raise SchemaError(f"trade book: a row is not an object: {str(record)[:60]!r}")
            inst = master.by_symbol(record.get("exchange", "NSE"), str(record.get("tradingsymbol", ""))) if master else None
            trades.append(trade_from_wire(record, self._account, inst.key if inst else None))
        return trades

    # --- portfolio ----------------------------------------------------------------------------
    def positions(self) -> list[Position]:
        return [position_from_wire(r, self._account) for r in _rows(self.session.data("positions"), "positions")]

    def holdings(self) -> list[Holding]:
        return [holding_from_wire(r, self._account) for r in _rows(self.session.data("holdings"), "holdings")]

    def all_holdings(self) -> tuple[list[Holding], dict[str, float]]:
        """Holdings and the broker's totals (rupees, as it sends them)."""
        data = self.session.data("all_holdings") or {}
        totals = {k: float(decimal(v)) for k, v in (data.get("totalholding") or {}).items()}
        return [holding_from_wire(r, self._account) for r in data.get("holdings") or []], totals

    def funds(self) -> Funds:
        return funds_from_wire(self.session.data("rms") or {}, self._account)

    def profile(self) -> dict:
        return dict(self.session.data("profile") or {})

    def convert_position(self, position: Position, new_product: Product, quantity: int) -> None:
        """Move ``quantity`` units of an open position to ``new_product`` (e.g. MIS to NRML)."""
        inst = self.instrument(position.instrument_key)
        reply = self.session.call("convert_position", {
            "exchange": inst.exchange.value, "symboltoken": inst.token, "tradingsymbol": inst.trading_symbol,
            "oldproducttype": PRODUCT_TO_WIRE[position.product], "newproducttype": PRODUCT_TO_WIRE[new_product],
            "transactiontype": "BUY" if position.net_quantity > 0 else "SELL", "quantity": quantity, "type": "DAY"})
        if not reply.ok:
            raise BrokerError(f"Conversion refused: {reply.message} ({reply.code})")

    # --- GTT ----------------------------------------------------------------------------------
    def gtt_create(self, key: InstrumentKey, side: Side, product: Product, quantity: int, price: int,
                   trigger_price: int, time_period_days: int = 365) -> str:
        """Create a GTT rule (NSE/BSE, CNC or margin); returns its id."""
        inst = self.instrument(key)
        data = self.session.data("gtt_create", {
            "tradingsymbol": inst.trading_symbol, "symboltoken": inst.token, "exchange": inst.exchange.value,
            "transactiontype": side.value, "producttype": PRODUCT_TO_WIRE[product] if product is not Product.NRML
            else "MARGIN", "price": rupees(price), "qty": str(quantity), "triggerprice": rupees(trigger_price),
            "disclosedqty": "0", "timeperiod": time_period_days})
        return str((data or {}).get("id"))

    def gtt_modify(self, rule: GttRule, quantity: int, price: int, trigger_price: int) -> None:
        inst = self.instrument(rule.instrument_key)
        self.session.data("gtt_modify", {"id": rule.rule_id, "symboltoken": inst.token, "exchange": inst.exchange.value,
                                         "price": rupees(price), "qty": str(quantity),
                                         "triggerprice": rupees(trigger_price), "disclosedqty": "0",
                                         "timeperiod": rule.time_period_days})

    def gtt_cancel(self, rule: GttRule) -> None:
        inst = self.instrument(rule.instrument_key)
        self.session.data("gtt_cancel", {"id": rule.rule_id, "symboltoken": inst.token,
                                         "exchange": inst.exchange.value})

    def gtt_details(self, rule_id: str) -> GttRule:
        return self._gtt_rule(self.session.data("gtt_details", {"id": rule_id}) or {}, rule_id)

    def gtt_list(self, statuses: tuple[str, ...] = ("NEW", "ACTIVE", "SENTTOEXCHANGE", "CANCELLED"),
                 page: int = 1, count: int = 50) -> list[GttRule]:
        data = self.session.data("gtt_list", {"status": list(statuses), "page": page, "count": count})
        rows = data if isinstance(data, list) else [data] if isinstance(data, dict) and data else []
        return [self._gtt_rule(row) for row in rows]

    @staticmethod
    def _gtt_rule(row: dict, rule_id: str = "") -> GttRule:
        product = PRODUCT_FROM_WIRE.get(str(row.get("producttype", "")).upper(), Product.CNC)
        return GttRule(rule_id=str(row.get("id") or rule_id), instrument_key=key_of(row),
                       trading_symbol=str(row.get("tradingsymbol") or ""),
                       side=Side(str(row.get("transactiontype", "BUY")).upper()), product=product,
                       quantity=units(row.get("qty")), price=paise(row.get("price")),
                       trigger_price=paise(row.get("triggerprice")), status=str(row.get("status") or ""),
                       disclosed_quantity=units(row.get("disclosedqty") or 0))

    # --- market analytics, charges, margin, EDIS ----------------------------------------------
    def option_greeks(self, underlying: str, expiry: str) -> list[OptionGreek]:
        """Greeks for ``underlying`` options expiring ``expiry`` ('25JAN2024')."""
        rows = self.session.data("option_greeks", {"name": underlying, "expirydate": expiry}) or []
        return [OptionGreek(str(r.get("name")), str(r.get("expiry")), paise(r.get("strikePrice")),
                            str(r.get("optionType")), float(decimal(r.get("delta"))), float(decimal(r.get("gamma"))),
                            float(decimal(r.get("theta"))), float(decimal(r.get("vega"))),
                            float(decimal(r.get("impliedVolatility"))), int(decimal(r.get("tradeVolume"))))
                for r in rows]

    def gainers_losers(self, datatype: str = "PercPriceGainers", expirytype: str = "NEAR") -> list[MarketMover]:
        rows = self.session.data("gainers_losers", {"datatype": datatype, "expirytype": expirytype}) or []
        return [MarketMover(str(r.get("tradingSymbol")), str(r.get("symbolToken")),
                            float(decimal(r.get("percentChange"))), int(decimal(r.get("opnInterest"))),
                            int(decimal(r.get("netChangeOpnInterest")))) for r in rows]

    def put_call_ratio(self) -> list[PutCallRatio]:
        rows = self.session.data("put_call_ratio") or []
        return [PutCallRatio(str(r.get("tradingSymbol")), float(decimal(r.get("pcr")))) for r in rows]

    def oi_buildup(self, datatype: str = "Long Built Up", expirytype: str = "NEAR") -> list[MarketMover]:
        rows = self.session.data("oi_buildup", {"expirytype": expirytype, "datatype": datatype}) or []
        return [MarketMover(str(r.get("tradingSymbol")), str(r.get("symbolToken")),
                            float(decimal(r.get("percentChange"))), int(decimal(r.get("opnInterest"))),
                            int(decimal(r.get("netChangeOpnInterest"))), paise(r.get("ltp")),
                            paise(r.get("netChange"))) for r in rows]

    def estimate_charges(self, requests_: list[OrderRequest]) -> ChargeEstimate:
        """Brokerage, taxes and fees for ``requests_`` if they filled at their prices (paise)."""
        orders = []
        for request in requests_:
            inst = self.instrument(request.instrument_key)
            price = request.price or self.ltp(inst.key)
            orders.append({"product_type": PRODUCT_TO_WIRE[request.product], "transaction_type": request.side.value,
                           "quantity": str(request.quantity), "price": rupees(price), "exchange": inst.exchange.value,
                           "symbol_name": inst.underlying or inst.trading_symbol, "token": inst.token})
        summary = (self.session.data("charges", {"orders": orders}) or {}).get("summary") or {}
        parts = {str(p.get("name")): paise(p.get("amount")) for p in summary.get("breakup") or []}
        return ChargeEstimate(paise(summary.get("total_charges")), paise(summary.get("trade_value")), parts)

    def margin_required(self, requests_: list[OrderRequest]) -> int:
        """Total margin (paise) for a basket, from margin/v1/batch."""
        positions = []
        for request in requests_:
            inst = self.instrument(request.instrument_key)
            positions.append({"exchange": inst.exchange.value, "qty": request.quantity,
                              "price": float(request.price) / 100, "productType": PRODUCT_TO_WIRE[request.product],
                              "token": inst.token, "tradeType": request.side.value,
                              "orderType": "MARKET" if request.price == 0 else "LIMIT"})
        data = self.session.data("margin", {"positions": positions}) or {}
        return paise(data.get("totalMarginRequired"))

    def edis_verify(self, isin: str, quantity: int) -> dict:
        """Start the CDSL authorisation to sell ``quantity`` of ``isin``; returns the broker's form fields."""
        return dict(self.session.data("edis_verify", {"isin": isin, "quantity": str(quantity)}) or {})

    def edis_generate_tpin(self, dp_id: str, req_id: str, boid: str, pan: str) -> None:
        self.session.data("edis_tpin", {"dpId": dp_id, "ReqId": req_id, "boid": boid, "pan": pan})

    def edis_status(self, req_id: str) -> bool:
        """True once the holdings of request ``req_id`` are authorised for sale."""
        data = self.session.data("edis_status", {"ReqId": req_id}) or {}
        return str(data.get("status", "")) == "1"  # docs: 1 = authorised to sell, 0 = not
