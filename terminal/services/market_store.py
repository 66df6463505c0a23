"""Latest market state, applied one batch at a time on the UI thread."""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import QObject, Signal

from terminal.domain import Candle, Instrument, InstrumentKey, Tick
from terminal.domain.catalog import InstrumentCatalog


class MarketStore(QObject):
    ticks_updated = Signal(object)  # frozenset of instrument keys changed by this batch
    bars_updated = Signal(object)  # dict key -> {bar start: 1-minute Candle}, oldest first
    catalog_changed = Signal()

    def __init__(self, catalog: InstrumentCatalog | None = None, parent=None):
        super().__init__(parent)
        self.catalog = catalog or InstrumentCatalog([])
        self._ticks: dict[InstrumentKey, Tick] = {}
        self._rate_window: deque[tuple[float, int]] = deque()
        self.last_batch_latency_ms = 0.0

    def set_catalog(self, catalog: InstrumentCatalog) -> None:
        self.catalog = catalog
        self.catalog_changed.emit()

    def instrument(self, key: InstrumentKey) -> Instrument | None:
        return self.catalog.get(key)

    def tick(self, key: InstrumentKey) -> Tick | None:
        return self._ticks.get(key)

    def ltp(self, key: InstrumentKey) -> int | None:
        tick = self._ticks.get(key)
        return tick.ltp if tick else None

    def apply_ticks(self, ticks: dict[InstrumentKey, Tick], raw_count: int | None = None,
                    first_received: float = 0.0) -> None:
        if not ticks:
            return
        self._ticks.update(ticks)
        now = time.monotonic()
        self._rate_window.append((now, len(ticks) if raw_count is None else raw_count))
        while self._rate_window and self._rate_window[0][0] < now - 1.0:
            self._rate_window.popleft()
        if first_received:
            self.last_batch_latency_ms = (time.perf_counter() - first_received) * 1000.0
        self.ticks_updated.emit(frozenset(ticks))

    def apply_bars(self, bars: dict[InstrumentKey, dict[int, Candle]]) -> None:
        if bars:
            self.bars_updated.emit(bars)

    def ticks_per_second(self) -> float:
        now = time.monotonic()
        return float(sum(count for at, count in self._rate_window if at >= now - 1.0))
