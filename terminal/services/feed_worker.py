"""The FeedWorker thread: owns a broker's feed and hands the UI coalesced batches.

The broker's own I/O thread calls the FeedSink methods (on_ticks, ...) for every message. They
only store the newest tick per instrument under a lock. The worker thread wakes at most once
per ``interval_ms``, swaps the buffers out and emits one ``batch_ready`` signal. It emits the
next batch only after the UI acknowledged the previous one, so a slow UI sees fewer, larger
batches instead of a growing queue of stale ones. Nothing per tick crosses into the UI thread.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QThread, Signal

from terminal.brokers.base import Broker, BrokerError, FeedState
from terminal.domain import Candle, InstrumentKey, Order, Tick, Trade

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FeedBatch:
    account: str
    ticks: dict[InstrumentKey, Tick] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    # forming 1-minute bars of charted instruments: key -> {bar start: latest state}, oldest first
    bars: dict[InstrumentKey, dict[int, Candle]] = field(default_factory=dict)
    tick_count: int = 0  # raw ticks received for this batch, before coalescing
    first_received: float = 0.0  # time.perf_counter() of the oldest tick in the batch

    def __bool__(self) -> bool:
        return bool(self.ticks or self.orders or self.trades or self.bars)


_workers: "weakref.WeakSet[FeedWorker]" = weakref.WeakSet()


def stop_all_workers() -> None:
    """Stop every feed worker still running (an embedding app or a test tearing down)."""
    for worker in list(_workers):
        if worker.isRunning():
            worker.stop()


class FeedWorker(QThread):
    batch_ready = Signal(object)  # FeedBatch
    feed_state_changed = Signal(str, str)  # FeedState value, message

    def __init__(self, broker: Broker, interval_ms: int = 33, bar_builder=None, parent=None):
        super().__init__(parent)
        self.setObjectName(f"feed-{broker.name}")
        _workers.add(self)
        self.broker = broker
        self.interval = interval_ms / 1000.0
        self._bar_builder = bar_builder  # turns ticks into forming 1-minute bars (charts)
        self._cond = threading.Condition()
        self._batch = FeedBatch(broker.account)
        self._stopping = False
        self._acknowledged = threading.Event()
        self._acknowledged.set()
        self._refcount: Counter[InstrumentKey] = Counter()
        self._to_subscribe: set[InstrumentKey] = set()
        self._to_unsubscribe: set[InstrumentKey] = set()
        self._to_resubscribe: set[InstrumentKey] = set()
        self._bar_keys: set[InstrumentKey] = set()

    # --- FeedSink: called from the broker's I/O thread -----------------------------------------
    def on_ticks(self, ticks: Iterable[Tick]) -> None:
        now = time.perf_counter()
        with self._cond:
            batch = self._batch
            latest = batch.ticks
            count = 0
            charted = []
            for tick in ticks:
                latest[tick.key] = tick
                count += 1
                if tick.key in self._bar_keys:
                    charted.append(tick)
            if charted and self._bar_builder is not None:
                for key, bar in self._bar_builder.update(charted):
                    batch.bars.setdefault(key, {})[bar.start] = bar
            if count and not batch.first_received:
                batch.first_received = now
            batch.tick_count += count
            self._cond.notify()

    def on_order_update(self, order: Order) -> None:
        with self._cond:
            self._batch.orders.append(order)
            self._cond.notify()

    def on_trade(self, trade: Trade) -> None:
        with self._cond:
            self._batch.trades.append(trade)
            self._cond.notify()

    def on_feed_state(self, state: FeedState, message: str = "") -> None:
        self.feed_state_changed.emit(FeedState(state).value, message)

    # --- control: called from the UI thread ------------------------------------------------------
    def subscribe(self, keys: Iterable[InstrumentKey]) -> None:
        """Reference-counted: the broker is asked once per key however many panels want it."""
        with self._cond:
            for key in keys:
                self._refcount[key] += 1
                if self._refcount[key] == 1:
                    self._to_unsubscribe.discard(key)
                    self._to_subscribe.add(key)
            self._cond.notify()

    def unsubscribe(self, keys: Iterable[InstrumentKey]) -> None:
        with self._cond:
            for key in keys:
                if self._refcount[key] <= 0:
                    continue
                self._refcount[key] -= 1
                if self._refcount[key] == 0:
                    del self._refcount[key]
                    self._to_subscribe.discard(key)
                    self._to_unsubscribe.add(key)
            self._cond.notify()

    def resubscribe(self, keys: Iterable[InstrumentKey]) -> None:
        """Ask the broker again for subscribed ``keys`` (a stalled stream), counts unchanged."""
        with self._cond:
            for key in keys:
                if self._refcount.get(key, 0) > 0:
                    self._to_resubscribe.add(key)
            self._cond.notify()

    def subscribed(self) -> set[InstrumentKey]:
        with self._cond:
            return set(self._refcount)

    def watch_bars(self, key: InstrumentKey, watch: bool = True) -> None:
        """Build forming 1-minute bars for ``key`` (an open chart) from every tick."""
        with self._cond:
            if watch:
                self._bar_keys.add(key)
            else:
                self._bar_keys.discard(key)

    def acknowledge(self) -> None:
        """The UI applied the last batch; the next one may be sent.

        The event alone wakes a worker waiting for it. Nothing else waits on an acknowledgement
        (a worker idle in ``_cond`` waits for ticks, not for this), so the UI thread does not take
        the lock the broker's thread holds while it stores ticks.
        """
        self._acknowledged.set()

    def stop(self, timeout_ms: int = 3000) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.wait(timeout_ms)

    # --- the worker thread ----------------------------------------------------------------------
    def run(self) -> None:
        try:
            self.broker.connect_feed(self)
        except BrokerError as exc:
            self.feed_state_changed.emit(FeedState.DISCONNECTED.value, str(exc))
            return
        last_emit = 0.0
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(self._has_work, timeout=0.25)
                    if self._stopping:
                        break
                self._apply_subscriptions()
                wait = last_emit + self.interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not self._acknowledged.is_set():
                    self._acknowledged.wait(0.25)  # the UI is busy: keep coalescing
                    if not self._acknowledged.is_set():
                        continue
                batch = self._take_batch()
                if batch:
                    self._acknowledged.clear()
                    last_emit = time.monotonic()
                    self.batch_ready.emit(batch)
        finally:
            try:
                self.broker.disconnect_feed()
            except BrokerError as exc:
                log.warning("Feed did not close cleanly: %s", exc)

    def _has_work(self) -> bool:
        return bool(self._stopping or self._batch or self._to_subscribe or self._to_unsubscribe
                    or self._to_resubscribe)

    def _take_batch(self) -> FeedBatch:
        with self._cond:
            batch, self._batch = self._batch, FeedBatch(self.broker.account)
        return batch

    def _apply_subscriptions(self) -> None:
        with self._cond:
            add, remove = list(self._to_subscribe), list(self._to_unsubscribe)
            again = list(self._to_resubscribe - self._to_subscribe)
            self._to_subscribe.clear()
            self._to_unsubscribe.clear()
            self._to_resubscribe.clear()
        try:
            if again:
                self.broker.unsubscribe(again)
                add += again
            if remove:
                self.broker.unsubscribe(remove)
            if add:
                self.broker.subscribe(add)
        except BrokerError as exc:
            log.error("Subscription change failed: %s", exc)
            self.feed_state_changed.emit(FeedState.RECONNECTING.value, f"Subscription failed: {exc}")
