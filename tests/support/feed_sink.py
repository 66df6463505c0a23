"""A FeedSink that records everything a broker's feed pushes, for assertions from the test thread."""

from __future__ import annotations

import threading

from .polling import poll


class RecordingSink:
    """Keeps, in arrival order: ``ticks`` (every tick, flattened), ``tick_batches`` (each
    ``on_ticks`` call's ticks as one list), ``orders``, ``trades`` and ``states`` as
    ``(FeedState, message)`` pairs.

    The feed thread appends under ``lock`` (a Condition); hold it to change the lists from the
    test. :meth:`wait` wakes on every push and also polls, so a condition on something outside the
    sink (the sandbox's subscriptions, a socket's connection count) is noticed without a push."""

    def __init__(self):
        self.lock = threading.Condition()
        self.ticks, self.tick_batches, self.orders, self.trades, self.states = [], [], [], [], []

    def on_ticks(self, ticks):
        batch = list(ticks)
        with self.lock:
            self.ticks.extend(batch)
            self.tick_batches.append(batch)
            self.lock.notify_all()

    def on_order_update(self, order):
        self._record(self.orders, order)

    def on_trade(self, trade):
        self._record(self.trades, trade)

    def on_feed_state(self, state, message=""):
        self._record(self.states, (state, message))

    def _record(self, bucket: list, item) -> None:
        with self.lock:
            bucket.append(item)
            self.lock.notify_all()

    def wait(self, predicate, timeout: float = 8.0, interval: float = 0.01) -> bool:
        """Whether ``predicate`` came true within ``timeout`` seconds. It is called outside the
        lock (it may take the broker's or the sandbox's locks), at least every ``interval`` s."""
        return bool(poll(predicate, timeout, interval, pause=self._pause))

    def _pause(self, seconds: float) -> None:
        with self.lock:
            self.lock.wait(seconds)
