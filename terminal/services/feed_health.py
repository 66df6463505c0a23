"""Feed health: which subscribed instruments stopped ticking, and what the terminal does about it.

A websocket can stay "connected" while one subscription (or all of them) silently stops. This
service notes when each instrument last ticked (arrival time on this machine, not the exchange's
timestamp) and, once a second, marks as stale every subscribed instrument silent for longer than
``stale_after_s``. For a stale instrument it first resubscribes it at the broker; if that does not
bring ticks back within ``resubscribe_grace_s`` it polls REST quotes every ``poll_interval_s`` and
applies them to the MarketStore, so prices stay current while the stream is broken. The risk
check reads ``quote_age`` (stream or REST, whichever is newer) for its stale-quote interlock.
"""

from __future__ import annotations

import asyncio

import logging
import time
from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, QTimer, Signal

from terminal.brokers.base import BrokerError
from terminal.domain import InstrumentKey
from terminal.services.background import spawn

log = logging.getLogger(__name__)

QUOTE_BATCH = 50  # keys per REST quote call: one paced call, not one per instrument


class FeedHealth(QObject):
    """Per-instrument tick age, a stale set with a signal, resubscribe then REST-quote fallback.

    ``feed`` is the session's FeedWorker (its ``subscribed()`` set is what should be ticking),
    ``market`` the MarketStore, ``broker`` and ``runner`` make the REST calls off the UI thread.
    Times are seconds of ``clock`` (monotonic by default).
    """

    stale_changed = Signal(object)  # frozenset of instrument keys whose stream has stalled

    def __init__(self, feed, market, broker, runner, messages=None, *, stale_after_s: float = 10.0,
                 resubscribe_grace_s: float = 5.0, resubscribe_every_s: float = 60.0,
                 poll_interval_s: float = 5.0, check_interval_ms: int = 1000,
                 clock: Callable[[], float] = time.monotonic, resubscribe=None, parent=None):
        super().__init__(parent)
        self.feed = feed
        self.market = market
        self.broker = broker
        self.runner = runner
        self.messages = messages
        self.stale_after_s = stale_after_s
        self.resubscribe_grace_s = resubscribe_grace_s
        self.resubscribe_every_s = resubscribe_every_s
        self.poll_interval_s = poll_interval_s
        self._clock = clock
        self._resubscribe = resubscribe or getattr(feed, "resubscribe", None) or self._resubscribe_at_broker
        self._last_stream: dict[InstrumentKey, float] = {}  # last tick from the stream
        self._last_quote: dict[InstrumentKey, float] = {}  # last quote from the stream or REST
        self._watch_since: dict[InstrumentKey, float] = {}  # first seen subscribed
        self._resubscribed_at: dict[InstrumentKey, float] = {}
        self._polled_at: dict[InstrumentKey, float] = {}
        self._stale: frozenset[InstrumentKey] = frozenset()
        self._applying_rest = False
        self._checking = False
        market.ticks_updated.connect(self._on_ticks)
        self._timer = QTimer(self, interval=check_interval_ms)
        self._timer.timeout.connect(self._on_timer)

    # --- reading ---------------------------------------------------------------------------
    def stale_keys(self) -> frozenset[InstrumentKey]:
        return self._stale

    def is_stale(self, key: InstrumentKey) -> bool:
        return key in self._stale

    def stream_age(self, key: InstrumentKey) -> float | None:
        """Seconds since the stream last delivered ``key``; None if it never did."""
        at = self._last_stream.get(key)
        return None if at is None else max(0.0, self._clock() - at)

    def quote_age(self, key: InstrumentKey) -> float | None:
        """Seconds since the last quote of ``key`` from the stream or a REST poll; None if none."""
        at = self._last_quote.get(key)
        return None if at is None else max(0.0, self._clock() - at)

    # --- running ---------------------------------------------------------------------------
    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _on_timer(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no asyncio loop runs Qt's events (shutting down, or a tool): nothing to do
            return
        if not self._checking:  # a slow REST poll must not pile up checks
            spawn(self.check())

    def _on_ticks(self, keys: Iterable[InstrumentKey]) -> None:
        now = self._clock()
        stamped = dict.fromkeys(keys, now)  # one C-level update per batch, not a Python loop
        self._last_quote.update(stamped)
        if not self._applying_rest:
            self._last_stream.update(stamped)

    async def check(self) -> frozenset[InstrumentKey]:
        """One pass: update the stale set, resubscribe newly stale keys, poll REST for the rest."""
        self._checking = True
        try:
            now = self._clock()
            subscribed = self.feed.subscribed()
            self._forget(set(self._watch_since) - subscribed)
            stale = set()
            for key in subscribed:
                since = self._last_stream.get(key, self._watch_since.setdefault(key, now))
                if now - since > self.stale_after_s:
                    stale.add(key)
            self._set_stale(frozenset(stale))
            to_resubscribe = [k for k in stale if now - self._resubscribed_at.get(k, -1e18) >= self.resubscribe_every_s]
            if to_resubscribe:
                await self._resubscribe_keys(sorted(to_resubscribe), now)
            to_poll = [k for k in stale
                       if now - self._resubscribed_at.get(k, now) >= self.resubscribe_grace_s
                       and now - self._polled_at.get(k, -1e18) >= self.poll_interval_s]
            if to_poll:
                await self._poll_quotes(sorted(to_poll), now)
            return self._stale
        finally:
            self._checking = False

    def _set_stale(self, stale: frozenset[InstrumentKey]) -> None:
        if stale == self._stale:
            return
        went_stale, recovered = stale - self._stale, self._stale - stale
        self._stale = stale
        for key in recovered:
            self._resubscribed_at.pop(key, None)
            self._polled_at.pop(key, None)
        if self.messages is not None:
            if went_stale:
                self.messages.warning(
                    f"No ticks for {self.stale_after_s:g} s: {self._names(went_stale)}; resubscribing.",
                    "Prices of these rows may be old; they fall back to REST quotes until the stream recovers.")
            if recovered:
                self.messages.info(f"Ticks flowing again: {self._names(recovered)}.")
        self.stale_changed.emit(stale)

    async def _resubscribe_keys(self, keys: list[InstrumentKey], now: float) -> None:
        for key in keys:
            self._resubscribed_at[key] = now
        log.info("Resubscribing stalled instruments: %s", ", ".join(keys))
        try:
            result = self._resubscribe(keys)
            if hasattr(result, "__await__"):
                await result
        except BrokerError as exc:
            log.warning("Resubscribe failed (%s); falling back to REST quotes.", exc)

    def _resubscribe_at_broker(self, keys: list[InstrumentKey]):
        """Unsubscribe then subscribe at the broker, in the pool, for keys the feed still wants."""

        def redo() -> None:
            wanted = [k for k in keys if k in self.feed.subscribed()]
            if wanted:
                self.broker.unsubscribe(wanted)
                self.broker.subscribe(wanted)

        return self.runner.run(redo)

    async def _poll_quotes(self, keys: list[InstrumentKey], now: float) -> None:
        for key in keys:
            self._polled_at[key] = now
        for start in range(0, len(keys), QUOTE_BATCH):
            batch = keys[start:start + QUOTE_BATCH]
            try:
                ticks = await self.runner.run(self.broker.quotes, batch)
            except BrokerError as exc:
                log.warning("REST quotes for stalled instruments failed: %s", exc)
                continue
            # A stream tick may have arrived while the REST call was out: never go back in time.
            fresh = {}
            for tick in ticks:
                known = self.market.tick(tick.key)
                if known is None or tick.timestamp >= known.timestamp:
                    fresh[tick.key] = tick
            self._applying_rest = True
            try:
                self.market.apply_ticks(fresh)
            finally:
                self._applying_rest = False

    def _forget(self, keys: Iterable[InstrumentKey]) -> None:
        keys = set(keys)
        for table in (self._watch_since, self._last_stream, self._resubscribed_at, self._polled_at):
            for key in keys:
                table.pop(key, None)
        if keys & self._stale:
            self._set_stale(self._stale - keys)

    def _names(self, keys: Iterable[InstrumentKey]) -> str:
        names = []
        for key in sorted(keys):
            instrument = self.market.instrument(key)
            names.append(instrument.display_name if instrument else key)
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
