"""PaperBroker: the Broker contract over the in-process SimulatedExchange (the default broker).

Orders take the same path as with a real broker: validation and matching happen at the
simulated exchange, rejections come back as OrderRejectedError with the exchange's reason, and
order updates and fills arrive through the feed. The feed is a daemon thread (no Qt) that steps
the exchange every ``step_interval`` seconds and pushes, per step, one list of changed ticks of
the subscribed keys, then the account's order updates and fills in the order they happened.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from terminal.brokers.base import (
    Broker, BrokerError, FeedSink, FeedState, InstrumentNotFoundError, OrderRejectedError, SessionInfo,
)
from terminal.domain import (
    AccountId, Candle, Funds, Holding, Instrument, InstrumentKey, Order, OrderModification, OrderRequest,
    OrderStatus, Position, Tick, Trade,
)
from terminal.sim.accounts import DEFAULT_CASH
from terminal.sim.errors import (
    ModificationRejectedError, OrderNotOpenError, SimError, UnknownInstrumentError, UnknownOrderError,
)
from terminal.sim.exchange import SimulatedExchange

log = logging.getLogger(__name__)


class PaperBroker(Broker):
    """A paper-trading account ``paper:<account_id>`` at a simulated exchange.

    ``exchange`` may be shared with other clients; by default a new one (seeded with ``seed``)
    is made. ``cash`` is the opening balance in paise. ``step_interval`` is seconds between feed
    steps (20-50 ms keeps the stream smooth without busy work).
    """

    name = "paper"

    def __init__(self, exchange: SimulatedExchange | None = None, account_id: str = "SIM001",
                 cash: int = DEFAULT_CASH, step_interval: float = 0.025, seed: int = 0):
        if step_interval <= 0:
            raise ValueError("step_interval must be positive (seconds)")
        self.exchange = exchange if exchange is not None else SimulatedExchange(seed=seed)
        self._account: AccountId = f"{self.name}:{account_id}"
        self.exchange.open_account(self._account, cash)
        self._step_interval = step_interval
        self._lock = threading.Lock()
        self._subscribed: set[InstrumentKey] = set()
        self._new_keys: set[InstrumentKey] = set()  # subscribed since the last step: sent a snapshot
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def account(self) -> AccountId:
        return self._account

    # --- session -------------------------------------------------------------------------
    def login(self) -> SessionInfo:
        return SessionInfo(self._account, "Paper trader", None)

    def logout(self) -> None:
        self.disconnect_feed()

    # --- reference and market data -------------------------------------------------------
    def instruments(self, progress=None) -> list[Instrument]:  # built in memory: nothing to report
        return self.exchange.instruments()

    def quotes(self, keys: list[InstrumentKey]) -> list[Tick]:
        return self.exchange.quotes(keys)

    def history(self, key: InstrumentKey, interval_minutes: int, start: datetime, end: datetime) -> list[Candle]:
        try:
            return self.exchange.history(key, interval_minutes, start, end)
        except UnknownInstrumentError as exc:
            raise InstrumentNotFoundError(str(exc)) from exc
        except ValueError as exc:
            raise BrokerError(str(exc), hint="Ask for 1, 3, 5, 15, 30, 60 or 1440 minutes, with aware times.") from exc

    # --- streaming -----------------------------------------------------------------------
    def connect_feed(self, sink: FeedSink) -> None:
        """Start the feed thread; a running feed is stopped first so only one sink is fed."""
        self.disconnect_feed()
        self._stop = threading.Event()
        with self._lock:
            self._new_keys = set(self._subscribed)
        self._thread = threading.Thread(target=self._run_feed, args=(sink, self._stop), name="paper-feed",
                                        daemon=True)
        self._thread.start()

    def disconnect_feed(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=5.0)
        self._thread = None

    def subscribe(self, keys: list[InstrumentKey]) -> None:
        """Stream ``keys``; raises InstrumentNotFoundError (subscribing none) if any is unknown."""
        unknown = [k for k in keys if k not in self.exchange.master.by_key]
        if unknown:
            raise InstrumentNotFoundError(f"Unknown instruments: {', '.join(unknown)}")
        with self._lock:
            fresh = set(keys) - self._subscribed
            self._subscribed |= fresh
            self._new_keys |= fresh

    def unsubscribe(self, keys: list[InstrumentKey]) -> None:
        with self._lock:
            self._subscribed -= set(keys)
            self._new_keys -= set(keys)

    def _run_feed(self, sink: FeedSink, stop: threading.Event) -> None:
        sink.on_feed_state(FeedState.CONNECTED, "Simulated exchange")
        cursor = 0
        try:
            while not stop.wait(self._step_interval):
                try:
                    cursor = self._feed_once(sink, cursor)
                except Exception as exc:  # the feed must outlive one bad step; say what happened
                    log.exception("paper feed step failed")
                    sink.on_feed_state(FeedState.RECONNECTING, f"Simulator step failed: {exc}")
                    sink.on_feed_state(FeedState.CONNECTED, "Simulated exchange")
        finally:
            sink.on_feed_state(FeedState.DISCONNECTED, "")

    def _feed_once(self, sink: FeedSink, cursor: int) -> int:
        with self._lock:
            keys = list(self._subscribed)
            fresh, self._new_keys = self._new_keys, set()
        self.exchange.step(keys=keys)
        ticks, cursor = self.exchange.ticks_since(cursor, keys)
        if fresh:
            changed = {t.key for t in ticks}
            ticks += [t for t in self.exchange.quotes(sorted(fresh)) if t.key not in changed]
        if ticks:
            sink.on_ticks(ticks)
        for event in self.exchange.drain_events(self._account):
            if isinstance(event, Trade):
                sink.on_trade(event)
            else:
                sink.on_order_update(event)
        return cursor

    # --- orders --------------------------------------------------------------------------
    def place_order(self, request: OrderRequest) -> str:
        if request.account != self._account:
            raise BrokerError(f"This order is for account {request.account}, not {self._account}.",
                              hint="Pick the paper account in the order window.")
        order = self.exchange.place(self._account, request)
        if order.status is OrderStatus.REJECTED:
            raise OrderRejectedError(order.status_message)
        return order.order_id

    def modify_order(self, order_id: str, modification: OrderModification) -> None:
        try:
            self.exchange.modify(self._account, order_id, modification)
        except ModificationRejectedError as exc:
            raise OrderRejectedError(exc.reason) from exc
        except (UnknownOrderError, OrderNotOpenError) as exc:
            raise BrokerError(str(exc), hint="Refresh the order book; the order may have filled or been cancelled.") from exc
        except SimError as exc:
            raise BrokerError(str(exc)) from exc

    def cancel_order(self, order_id: str) -> None:
        try:
            self.exchange.cancel(self._account, order_id)
        except (UnknownOrderError, OrderNotOpenError) as exc:
            raise BrokerError(str(exc), hint="Refresh the order book; the order may have filled or been cancelled.") from exc

    def order_book(self) -> list[Order]:
        return self.exchange.orders(self._account)

    def trade_book(self) -> list[Trade]:
        return self.exchange.trades(self._account)

    # --- portfolio -----------------------------------------------------------------------
    def positions(self) -> list[Position]:
        return self.exchange.positions(self._account)

    def holdings(self) -> list[Holding]:
        return self.exchange.holdings(self._account)

    def funds(self) -> Funds:
        return self.exchange.funds(self._account)
