"""SimulatedExchange: the instrument master, the market model, matching and accounts behind one lock.

Several clients (the paper broker, later the Noren and SmartAPI loopback servers) may share one
exchange: every public method takes the one re-entrant lock, and order/trade events are queued
per account (``drain_events``), so whoever steps the market, each client sees its own events in
order. Ticks are versioned: ``ticks_since(cursor, keys)`` gives each client the ticks that changed
since it last looked, whoever caused the change.

Rejection design: ``place`` never raises for a bad order. A refused order is recorded and
returned with status REJECTED and the reason in ``status_message`` (PENDING then REJECTED are
both reported), as the exchange's order book would show it. ``modify`` and ``cancel`` raise
SimError subclasses, because a refused change leaves the order as it was.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from terminal.domain import (
    INTERVALS_MINUTES, AccountId, Candle, Exchange, Funds, Holding, Instrument, InstrumentKey, Order,
    OrderModification, OrderRequest, OrderStatus, OrderType, Position, Side, Tick, Trade, Validity, check_order,
)
from terminal.domain.money import format_price
from terminal.domain.validation import check_modification
from terminal.sim.accounts import DEFAULT_CASH, Account, WorkingOrder, margin_after_fill
from terminal.sim.calendar import Clock, as_ist, ist_now
from terminal.sim.errors import (
    ModificationRejectedError, OrderNotOpenError, UnknownAccountError, UnknownInstrumentError, UnknownOrderError,
)
from terminal.sim.instruments import build_instrument_master
from terminal.sim.market import MarketModel
from terminal.sim.matching import (
    Fill, average_price, band_problem, is_triggered, opposite_levels, resting_fill_quantity, take_liquidity,
)

# Sample delivery holdings every new account starts with: (symbol, units, average price paise).
SAMPLE_HOLDINGS = (("RELIANCE-EQ", 10, 1420_50), ("INFY-EQ", 25, 1488_00), ("ITC-EQ", 100, 412_75))


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step produced: changed ticks (of the keys asked for), order updates and fills."""

    ticks: list[Tick]
    orders: list[Order]
    trades: list[Trade]


class SimulatedExchange:
    """A simulated NSE/NFO exchange. All methods are thread-safe; prices are paise, quantities units."""

    def __init__(self, seed: int = 0, clock: Clock | None = None, ticks_per_second: float = 2.0,
                 strikes_each_side: int = 50):
        self._clock = clock or ist_now
        start = as_ist(self._clock())
        self._lock = threading.RLock()
        self.master = build_instrument_master(start, strikes_each_side)
        self.model = MarketModel(self.master, start, seed, ticks_per_second)
        self._accounts: dict[AccountId, Account] = {}
        self._open: dict[str, tuple[Account, WorkingOrder]] = {}  # order id -> its account and state
        self._order_seq = 0
        self._trade_seq = 0
        self._id_prefix = f"{start:%y%m%d}"
        self._step_events: list[Order | Trade] = []

    # --- time and reference data ------------------------------------------------------------
    def now(self) -> datetime:
        return as_ist(self._clock())

    @property
    def ticks_per_second(self) -> float:
        return self.model.ticks_per_second

    @ticks_per_second.setter
    def ticks_per_second(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("ticks_per_second must be positive")
        with self._lock:
            self.model.ticks_per_second = float(rate)

    def instruments(self) -> list[Instrument]:
        return list(self.master.instruments)

    def instrument(self, key: InstrumentKey) -> Instrument:
        try:
            return self.master.by_key[key]
        except KeyError:
            raise UnknownInstrumentError(f"Unknown instrument {key}: no such token on the exchange.") from None

    def find_instrument(self, exchange: Exchange | str, trading_symbol: str) -> Instrument:
        try:
            return self.master.by_symbol[(Exchange(exchange), trading_symbol)]
        except (KeyError, ValueError):
            raise UnknownInstrumentError(
                f"Unknown instrument {getattr(exchange, 'value', exchange)}:{trading_symbol}.") from None

    # --- market data -----------------------------------------------------------------------
    def quote(self, key: InstrumentKey) -> Tick:
        """The latest tick of ``key`` (quoted on first use). Raises UnknownInstrumentError."""
        self.instrument(key)
        with self._lock:
            return self.model.tick(self.model.index_of[key])

    def quotes(self, keys: list[InstrumentKey]) -> list[Tick]:
        """Latest ticks of the known keys, in order; unknown keys are left out."""
        with self._lock:
            return [self.model.tick(self.model.index_of[k]) for k in keys if k in self.model.index_of]

    def step(self, now: datetime | None = None, keys: list[InstrumentKey] | None = None) -> StepResult:
        """Advance the market to ``now`` (default: the clock), re-quote ``keys`` and every instrument
        with a working order, and match working orders against the new books."""
        with self._lock:
            moment = as_ist(now).timestamp() if now is not None else self.now().timestamp()
            self._step_events = []
            self.model.advance(moment)
            wanted = self._indices(keys or [])
            working = {self.model.index_of[w.order.instrument_key] for _, w in self._open.values()}
            changed = self.model.refresh(np.array(sorted(set(wanted.tolist()) | working), dtype=np.int64))
            changed_set = set(changed.tolist())
            for account, work in list(self._open.values()):
                i = self.model.index_of[work.order.instrument_key]
                if i in changed_set:
                    self._match_resting(account, work)
            wanted_set = set(wanted.tolist())
            ticks = [self.model.ticks[i] for i in changed.tolist() if i in wanted_set]
            events, self._step_events = self._step_events, []
            return StepResult(ticks, [e for e in events if isinstance(e, Order)],
                              [e for e in events if isinstance(e, Trade)])

    def ticks_since(self, cursor: int, keys: list[InstrumentKey]) -> tuple[list[Tick], int]:
        """Ticks of ``keys`` that changed after ``cursor`` (start with 0), and the next cursor."""
        with self._lock:
            return self.model.ticks_since(cursor, self._indices(keys))

    def history(self, key: InstrumentKey, interval_minutes: int, start: datetime, end: datetime) -> list[Candle]:
        """Bars of ``interval_minutes`` whose start lies in [start, end], oldest first.

        The last bar closes at the live LTP; generated history covers 60 trading days before the
        exchange started, then live one-minute bars follow.
        """
        if interval_minutes not in INTERVALS_MINUTES:
            raise ValueError(f"interval {interval_minutes} minutes is not one of {INTERVALS_MINUTES}")
        begin, finish = as_ist(start).timestamp(), as_ist(end).timestamp()
        self.instrument(key)
        with self._lock:
            bars = self.model.history_bars(self.model.index_of[key])
        return bars.resample(interval_minutes).between(begin, finish).to_candles()

    # --- accounts --------------------------------------------------------------------------
    def open_account(self, account: AccountId, cash: int = DEFAULT_CASH, sample_holdings: bool = True) -> None:
        """Create ``account`` with ``cash`` paise (₹10,00,000 by default); an existing one is kept."""
        with self._lock:
            if account in self._accounts:
                return
            acct = Account(account, opening_balance=cash)
            if sample_holdings:
                for symbol, qty, avg in SAMPLE_HOLDINGS:
                    inst = self.master.by_symbol[(Exchange.NSE, symbol)]
                    acct.holdings.append(Holding(account, inst.key, symbol, qty, avg))
            self._accounts[account] = acct

    def orders(self, account: AccountId) -> list[Order]:
        with self._lock:
            return [w.order for w in self._account(account).orders.values()]

    def order(self, account: AccountId, order_id: str) -> Order:
        with self._lock:
            return self._working(account, order_id).order

    def trades(self, account: AccountId) -> list[Trade]:
        with self._lock:
            return list(self._account(account).trades)

    def positions(self, account: AccountId) -> list[Position]:
        with self._lock:
            return list(self._account(account).positions.values())

    def holdings(self, account: AccountId) -> list[Holding]:
        with self._lock:
            return [replace(h, last_price=self._ltp(h.instrument_key)) for h in self._account(account).holdings]

    def funds(self, account: AccountId) -> Funds:
        with self._lock:
            return self._account(account).funds(self.master.by_key, self._ltp, self._spot)

    def drain_events(self, account: AccountId) -> list[Order | Trade]:
        """Order updates and fills of ``account`` since the last drain, in the order they happened."""
        with self._lock:
            events = self._account(account).events
            drained = list(events)
            events.clear()
            return drained

    # --- orders ----------------------------------------------------------------------------
    def place(self, account: AccountId, request: OrderRequest) -> Order:
        """Accept or reject ``request``; returns the order as it stands after matching on arrival.

        Raises UnknownAccountError only; a refused order comes back REJECTED with its reason.
        """
        with self._lock:
            acct = self._account(account)
            now = self.now().timestamp()
            self._order_seq += 1
            order_id = f"{self._id_prefix}{self._order_seq:08d}"
            inst = self.master.by_key.get(request.instrument_key)
            order = Order(
                account=account, order_id=order_id, instrument_key=request.instrument_key,
                trading_symbol=inst.trading_symbol if inst else request.instrument_key, side=request.side,
                quantity=request.quantity, order_type=request.order_type, product=request.product,
                validity=request.validity, status=OrderStatus.PENDING, price=request.price,
                trigger_price=request.trigger_price, tag=request.tag, placed_at=now, updated_at=now,
                exchange_order_id=f"1{order_id}",
            )
            working = WorkingOrder(order, inst)
            acct.orders[order_id] = working
            self._emit(acct, order)
            reason, margin = self._check_new_order(acct, request, inst)
            if reason:
                self._update(acct, working, status=OrderStatus.REJECTED, status_message=reason)
                return working.order
            assert inst is not None
            working.blocked_margin = margin
            working.seen_volume = self.model.tick(self.model.index_of[inst.key]).volume
            self._open[order_id] = (acct, working)
            if request.order_type.needs_trigger:
                self._update(acct, working, status=OrderStatus.TRIGGER_PENDING)
            else:
                self._update(acct, working, status=OrderStatus.OPEN)
                self._take(acct, working)
            return working.order

    def modify(self, account: AccountId, order_id: str, modification: OrderModification) -> Order:
        """Change an open order's quantity (new total), price, trigger or type.

        Raises UnknownOrderError, OrderNotOpenError or ModificationRejectedError (order unchanged).
        """
        with self._lock:
            acct = self._account(account)
            working = self._working(account, order_id)
            order = working.order
            if not order.is_open:
                raise OrderNotOpenError(f"Order {order_id} is {order.status.value}: it can no longer be modified.")
            inst = working.instrument
            assert inst is not None
            problems = check_modification(modification, order.order_type, inst, order.price, order.trigger_price,
                                          order.side)
            if problems:
                raise ModificationRejectedError("; ".join(str(p) for p in problems))
            new_type = modification.order_type or order.order_type
            quantity = order.quantity if modification.quantity is None else modification.quantity
            price = order.price if modification.price is None else modification.price
            trigger = order.trigger_price if modification.trigger_price is None else modification.trigger_price
            price = price if new_type.needs_price else 0
            trigger = trigger if new_type.needs_trigger else 0
            if quantity <= order.filled_quantity:
                raise ModificationRejectedError(
                    f"Quantity {quantity} must be more than the {order.filled_quantity} units already filled.")
            waiting_for_trigger = new_type.needs_trigger and not working.triggered
            tick = self.model.tick(self.model.index_of[inst.key])
            reason = self._price_problems(inst, order.side, new_type, price, trigger, tick,
                                          check_trigger=waiting_for_trigger)
            if reason:
                raise ModificationRejectedError(reason)
            remaining = quantity - order.filled_quantity
            margin = self._order_margin(acct, inst, order.product, order.side, remaining, new_type, price, trigger,
                                        tick)
            available = acct.cash - (self._used_margin(acct) - working.blocked_margin)
            if margin > available:
                raise ModificationRejectedError(
                    f"Insufficient funds: margin required {format_price(margin)}, available {format_price(available)}.")
            working.blocked_margin = margin
            if waiting_for_trigger:
                status = OrderStatus.TRIGGER_PENDING
            else:
                status = OrderStatus.PARTIALLY_FILLED if order.filled_quantity else OrderStatus.OPEN
            self._update(acct, working, quantity=quantity, price=price, trigger_price=trigger, order_type=new_type,
                         status=status)
            if status is not OrderStatus.TRIGGER_PENDING:
                self._take(acct, working)
            return working.order

    def cancel(self, account: AccountId, order_id: str) -> Order:
        """Cancel an open order. Raises UnknownOrderError or OrderNotOpenError."""
        with self._lock:
            acct = self._account(account)
            working = self._working(account, order_id)
            if not working.order.is_open:
                raise OrderNotOpenError(
                    f"Order {order_id} is {working.order.status.value}: there is nothing left to cancel.")
            self._close(acct, working, OrderStatus.CANCELLED, "Cancelled by the trader.")
            return working.order

    # --- internals -------------------------------------------------------------------------
    def _account(self, account: AccountId) -> Account:
        try:
            return self._accounts[account]
        except KeyError:
            raise UnknownAccountError(f"No account {account!r} on the simulated exchange.") from None

    def _working(self, account: AccountId, order_id: str) -> WorkingOrder:
        try:
            return self._account(account).orders[order_id]
        except KeyError:
            raise UnknownOrderError(f"No order {order_id} in account {account}.") from None

    def _indices(self, keys: list[InstrumentKey]) -> np.ndarray:
        index_of = self.model.index_of
        return np.array([index_of[k] for k in keys if k in index_of], dtype=np.int64)

    def _ltp(self, key: InstrumentKey) -> int:
        return self.model.tick(self.model.index_of[key]).ltp

    def _spot(self, key: InstrumentKey) -> int:
        return int(round(self.model.spot[self.model.und[self.model.index_of[key]]]))

    def _emit(self, acct: Account, event: Order | Trade) -> None:
        acct.record(event)
        self._step_events.append(event)

    def _update(self, acct: Account, working: WorkingOrder, **changes) -> Order:
        working.order = replace(working.order, updated_at=self.now().timestamp(), **changes)
        self._emit(acct, working.order)
        return working.order

    def _used_margin(self, acct: Account) -> int:
        return acct.positions_margin(self.master.by_key, self._ltp, self._spot) + acct.orders_margin()

    def _check_new_order(self, acct: Account, request: OrderRequest, inst: Instrument | None) -> tuple[str, int]:
        """The rejection reason (empty if none) and the margin the order blocks (paise)."""
        if inst is None:
            return f"Unknown instrument {request.instrument_key}: no such token on the exchange.", 0
        if not inst.is_tradeable:
            return f"{inst.display_name} is an index and cannot be traded; trade its futures or options.", 0
        problems = check_order(request, inst, allow_freeze_slicing=False)
        if problems:
            return "; ".join(str(p) for p in problems), 0
        tick = self.model.tick(self.model.index_of[inst.key])
        reason = self._price_problems(inst, request.side, request.order_type, request.price, request.trigger_price,
                                      tick, check_trigger=True)
        if reason:
            return reason, 0
        if request.order_type is OrderType.MARKET and not opposite_levels(tick, request.side):
            book = "sellers" if request.side is Side.BUY else "buyers"
            return f"No liquidity: there are no {book} in the book for {inst.trading_symbol}.", 0
        margin = self._order_margin(acct, inst, request.product, request.side, request.quantity, request.order_type,
                                    request.price, request.trigger_price, tick)
        available = acct.cash - self._used_margin(acct)
        if margin > available:
            return (f"Insufficient funds: margin required {format_price(margin)}, "
                    f"available {format_price(available)}."), 0
        return "", margin

    def _price_problems(self, inst: Instrument, side: Side, order_type: OrderType, price: int, trigger: int,
                        tick: Tick, check_trigger: bool) -> str:
        if order_type.needs_price:
            problem = band_problem(inst, tick.ltp, price)
            if problem:
                return problem
        if order_type.needs_trigger:
            problem = band_problem(inst, tick.ltp, trigger, "Trigger price")
            if problem:
                return problem
            if check_trigger and is_triggered(side, trigger, tick.ltp):
                where = "above" if side is Side.BUY else "below"
                return (f"Trigger price {format_price(trigger)} is already crossed: a stop-loss {side.value.lower()} "
                        f"needs a trigger {where} the LTP {format_price(tick.ltp)}.")
        return ""

    def _order_margin(self, acct: Account, inst: Instrument, product, side: Side, quantity: int,
                      order_type: OrderType, price: int, trigger: int, tick: Tick) -> int:
        """Margin an order of ``quantity`` units would add if it filled completely (paise)."""
        if order_type is OrderType.MARKET:
            fills = take_liquidity(side, quantity, None, tick)
            estimate = fills[-1][0] if fills else tick.ltp
        elif order_type is OrderType.SL_M:
            estimate = trigger
        else:
            estimate = price
        position = acct.positions.get((inst.key, product)) or Position(acct.account_id, inst.key,
                                                                        inst.trading_symbol, product)
        return margin_after_fill(inst, product, position, side, quantity, estimate, tick.ltp,
                                 self._spot(inst.key))

    def _take(self, acct: Account, working: WorkingOrder) -> None:
        """Trade an active order against the book on arrival (or trigger); handle what is left."""
        order = working.order
        i = self.model.index_of[order.instrument_key]
        market = order.order_type in (OrderType.MARKET, OrderType.SL_M)
        fills = take_liquidity(order.side, order.quantity - order.filled_quantity, None if market else order.price,
                               self.model.tick(i))
        if fills:
            self._fill(acct, working, fills)
            self.model.record_fill(i, order.side, fills)
        working.seen_volume = self.model.tick(i).volume
        left = working.order.quantity - working.order.filled_quantity
        if left and market:
            self._close(acct, working, OrderStatus.CANCELLED,
                        f"Market order: {left} units cancelled, not enough depth in the book.")
        elif left and order.validity is Validity.IOC:
            self._close(acct, working, OrderStatus.CANCELLED, f"IOC: the unfilled {left} units were cancelled.")

    def _match_resting(self, acct: Account, working: WorkingOrder) -> None:
        order = working.order
        i = self.model.index_of[order.instrument_key]
        tick = self.model.tick(i)
        if order.status is OrderStatus.TRIGGER_PENDING:
            if is_triggered(order.side, order.trigger_price, tick.ltp):
                working.triggered = True
                self._update(acct, working, status=OrderStatus.OPEN,
                             status_message=f"Triggered at LTP {format_price(tick.ltp)}.")
                self._take(acct, working)
            return
        new_volume = tick.volume - working.seen_volume
        qty = resting_fill_quantity(order.side, order.price, order.quantity - order.filled_quantity, tick,
                                    new_volume)
        if qty > 0:
            fills = [(order.price, qty)]
            self._fill(acct, working, fills)
            self.model.record_fill(i, order.side, fills)
        working.seen_volume = self.model.tick(i).volume

    def _fill(self, acct: Account, working: WorkingOrder, fills: list[Fill]) -> None:
        order = working.order
        inst = working.instrument
        assert inst is not None
        now = self.now().timestamp()
        for price, qty in fills:
            self._trade_seq += 1
            trade = Trade(acct.account_id, f"{self._id_prefix}{self._trade_seq:08d}", order.order_id,
                          order.instrument_key, order.trading_symbol, order.side, qty, price, order.product, now)
            acct.trades.append(trade)
            acct.book_fill(inst, order.product, order.side, qty, price)
            self._emit(acct, trade)
        filled = order.filled_quantity + sum(q for _, q in fills)
        avg = average_price(fills, order.filled_quantity, order.average_price)
        complete = filled >= order.quantity
        working.blocked_margin = 0 if complete else working.blocked_margin * (order.quantity - filled) // max(
            order.quantity - order.filled_quantity, 1)
        self._update(acct, working, filled_quantity=filled, average_price=avg,
                     status=OrderStatus.COMPLETE if complete else OrderStatus.PARTIALLY_FILLED)
        if complete:
            self._open.pop(order.order_id, None)

    def _close(self, acct: Account, working: WorkingOrder, status: OrderStatus, message: str) -> None:
        working.blocked_margin = 0
        self._open.pop(working.order.order_id, None)
        self._update(acct, working, status=status, status_message=message)
