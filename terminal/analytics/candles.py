"""Candles as numpy columns: the bar store, tick-to-candle aggregation and resampling.

Times are epoch seconds (UTC). Bar boundaries follow the Indian clock: IST is UTC+05:30 all
year (no daylight saving), so a fixed offset is exact. Prices are integer paise, volume and
open interest are units. No Qt here: the feed worker runs this off the UI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from terminal.domain.instrument import InstrumentKey
from terminal.domain.market import INTERVALS_MINUTES, Candle, Tick

log = logging.getLogger(__name__)

IST_OFFSET_SECONDS = 19_800  # +05:30
SECONDS_PER_DAY = 86_400
SESSION_OPEN_MINUTE = 9 * 60 + 15  # NSE cash and F&O open at 09:15 IST
DAILY = 1440  # minutes: one bar per IST calendar date

COLUMNS = ("start", "open", "high", "low", "close", "volume", "open_interest")


def ist_day_start(epoch_seconds):
    """Epoch seconds of 00:00 IST of the IST date that holds ``epoch_seconds`` (scalar or array)."""
    local = np.asarray(epoch_seconds, dtype=np.int64) + IST_OFFSET_SECONDS
    return local - local % SECONDS_PER_DAY - IST_OFFSET_SECONDS


def bucket_start(epoch_seconds, minutes: int, session_open_minute: int = SESSION_OPEN_MINUTE):
    """Start (epoch seconds) of the ``minutes``-long bar that holds ``epoch_seconds``.

    Intraday bars are counted from the session open of the same IST day, so 15-minute bars
    start at 09:15, 09:30, ... and hourly bars at 09:15, 10:15, ...; minutes before the open
    fall into bars counted backwards from it. ``minutes=1440`` gives 00:00 IST of the date.
    Works on scalars and int64 arrays.
    """
    _check_minutes(minutes)
    t = np.asarray(epoch_seconds, dtype=np.int64)
    day = ist_day_start(t)
    if minutes == DAILY:
        return day
    anchor = day + session_open_minute * 60
    width = minutes * 60
    return anchor + np.floor_divide(t - anchor, width) * width


def _check_minutes(minutes: int) -> None:
    if minutes < 1 or (minutes != DAILY and minutes > 24 * 60):
        raise ValueError(f"bar interval must be 1..1440 minutes, got {minutes}")


class CandleSeries:
    """A growing columnar store of bars, oldest first, with fast append and replace-last.

    Columns are int64 numpy arrays: ``start`` (epoch seconds), ``open``/``high``/``low``/
    ``close`` (paise), ``volume`` and ``open_interest`` (units). The properties return views
    of the filled part; they stay valid until the next append that grows the buffer.
    ``interval_minutes`` says what one bar spans (1440 = one IST day).
    """

    def __init__(self, interval_minutes: int = 1, capacity: int = 1024):
        _check_minutes(interval_minutes)
        self.interval_minutes = interval_minutes
        self._n = 0
        self._data = np.zeros((len(COLUMNS), max(int(capacity), 16)), dtype=np.int64)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_candles(cls, candles: Sequence[Candle], interval_minutes: int = 1) -> "CandleSeries":
        """A series from domain candles, which must be in strictly increasing ``start`` order."""
        n = len(candles)
        series = cls(interval_minutes, capacity=n + 1024)
        if n:
            rows = np.array([(c.start, c.open, c.high, c.low, c.close, c.volume, c.open_interest)
                             for c in candles], dtype=np.int64)
            series._data[:, :n] = rows.T
            series._n = n
            series._check_order()
        return series

    @classmethod
    def from_arrays(cls, start, open, high, low, close, volume=None, open_interest=None,
                    interval_minutes: int = 1) -> "CandleSeries":
        """A series from equal-length arrays (copied); ``start`` strictly increasing."""
        start = np.asarray(start, dtype=np.int64)
        n = len(start)
        series = cls(interval_minutes, capacity=n + 1024)
        zeros = np.zeros(n, dtype=np.int64)
        for row, values in enumerate((start, open, high, low, close,
                                      zeros if volume is None else volume,
                                      zeros if open_interest is None else open_interest)):
            values = np.asarray(values)
            if len(values) != n:
                raise ValueError(f"column {COLUMNS[row]} has {len(values)} rows, start has {n}")
            series._data[row, :n] = values
        series._n = n
        series._check_order()
        return series

    def _check_order(self) -> None:
        if self._n > 1 and not np.all(np.diff(self.start) > 0):
            bad = int(np.flatnonzero(np.diff(self.start) <= 0)[0])
            raise ValueError(f"bar starts must strictly increase; bar {bad + 1} does not "
                             f"({int(self.start[bad])} then {int(self.start[bad + 1])})")

    # --- columns --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def start(self) -> np.ndarray:
        return self._data[0, :self._n]

    @property
    def open(self) -> np.ndarray:
        return self._data[1, :self._n]

    @property
    def high(self) -> np.ndarray:
        return self._data[2, :self._n]

    @property
    def low(self) -> np.ndarray:
        return self._data[3, :self._n]

    @property
    def close(self) -> np.ndarray:
        return self._data[4, :self._n]

    @property
    def volume(self) -> np.ndarray:
        return self._data[5, :self._n]

    @property
    def open_interest(self) -> np.ndarray:
        return self._data[6, :self._n]

    def candle(self, index: int) -> Candle:
        """Bar ``index`` (negative counts from the end) as a domain Candle."""
        if not -self._n <= index < self._n:
            raise IndexError(f"bar {index} out of range for {self._n} bars")
        return Candle(*(int(v) for v in self._data[:, index % self._n]))

    def last(self) -> Candle | None:
        return self.candle(-1) if self._n else None

    def to_candles(self) -> list[Candle]:
        return [Candle(*row) for row in self._data[:, :self._n].T.tolist()]

    def copy(self) -> "CandleSeries":
        other = CandleSeries(self.interval_minutes, capacity=self._n + 1024)
        other._data[:, :self._n] = self._data[:, :self._n]
        other._n = self._n
        return other

    # --- updates --------------------------------------------------------------------------
    def append(self, candle: Candle) -> None:
        """Add a bar after the last one; its start must be later than the last start."""
        if self._n and candle.start <= self._data[0, self._n - 1]:
            raise ValueError(f"bar at {candle.start} is not after the last bar "
                             f"({int(self._data[0, self._n - 1])})")
        if self._n == self._data.shape[1]:
            grown = np.zeros((len(COLUMNS), self._data.shape[1] * 2), dtype=np.int64)
            grown[:, :self._n] = self._data[:, :self._n]
            self._data = grown
        self._write(self._n, candle)
        self._n += 1

    def replace_last(self, candle: Candle) -> None:
        """Overwrite the last bar (the forming one); the start must be the same."""
        if not self._n or candle.start != self._data[0, self._n - 1]:
            raise ValueError(f"bar at {candle.start} is not the last bar")
        self._write(self._n - 1, candle)

    def replace(self, index: int, candle: Candle) -> None:
        """Overwrite bar ``index`` (a late correction of a recent bar); same start required."""
        if not -self._n <= index < self._n or self._data[0, index % self._n] != candle.start:
            raise ValueError(f"bar at {candle.start} is not bar {index}")
        self._write(index % self._n, candle)

    def upsert(self, candle: Candle) -> bool:
        """Replace the last bar if ``candle`` has its start, else append. True if appended.

        A bar older than the last one is an error: history is not rewritten from the feed.
        """
        if self._n and candle.start == self._data[0, self._n - 1]:
            self.replace_last(candle)
            return False
        self.append(candle)
        return True

    def _write(self, i: int, c: Candle) -> None:
        if not c.low <= min(c.open, c.close) or not c.high >= max(c.open, c.close):
            raise ValueError(f"bar at {c.start} is inconsistent: O{c.open} H{c.high} L{c.low} C{c.close}")
        self._data[:, i] = (c.start, c.open, c.high, c.low, c.close, c.volume, c.open_interest)

    def index_at_or_after(self, epoch_seconds: int) -> int:
        """Index of the first bar starting at or after ``epoch_seconds`` (len if none)."""
        return int(np.searchsorted(self.start, epoch_seconds, side="left"))


# --- resampling -----------------------------------------------------------------------------

def resample(series: CandleSeries, minutes: int, session_open_minute: int = SESSION_OPEN_MINUTE) -> CandleSeries:
    """Bars of ``minutes`` (3, 5, 15, 30, 60 or 1440 = daily) from finer bars.

    Intraday bars align to the session open (09:15 IST); daily bars group by IST date. A
    bar takes the first open, highest high, lowest low, last close, summed volume and last
    open interest of the bars that fall in it; empty periods make no bar (the chart's x axis
    is by bar index, so nights and holidays leave no gap).
    """
    _check_minutes(minutes)
    if minutes % series.interval_minutes and minutes != DAILY:
        raise ValueError(f"cannot make {minutes}-minute bars from {series.interval_minutes}-minute bars")
    out = CandleSeries(minutes, capacity=1024)
    if minutes == series.interval_minutes or not len(series):
        out = series.copy()
        out.interval_minutes = minutes
        return out
    keys = bucket_start(series.start, minutes, session_open_minute)
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    last = np.r_[first[1:], len(keys)] - 1
    return CandleSeries.from_arrays(
        keys[first], series.open[first],
        np.maximum.reduceat(series.high, first), np.minimum.reduceat(series.low, first),
        series.close[last], np.add.reduceat(series.volume, first), series.open_interest[last],
        interval_minutes=minutes,
    )


def last_bucket(series: CandleSeries, minutes: int, session_open_minute: int = SESSION_OPEN_MINUTE) -> Candle | None:
    """The ``minutes`` bar that holds the last bar of ``series`` (the forming bar), folded from
    the tail only: cost is the bars of one bucket, not the whole history."""
    if not len(series):
        return None
    start = int(bucket_start(int(series.start[-1]), minutes, session_open_minute))
    i = series.index_at_or_after(start)
    return Candle(start, int(series.open[i]), int(series.high[i:].max()), int(series.low[i:].min()),
                  int(series.close[-1]), int(series.volume[i:].sum()), int(series.open_interest[-1]))


# --- ticks to 1-minute candles --------------------------------------------------------------

@dataclass(slots=True)
class _Forming:
    candle: Candle
    last_volume: int  # the tick's cumulative day volume last seen (units)
    last_day: int  # IST day start of that tick


class CandleBuilder:
    """Builds 1-minute candles from ticks of one or many instruments.

    A bar spans one IST minute [hh:mm:00, hh:mm+1:00). The first tick of a minute opens the
    bar; later ticks move high, low and close. A bar's volume is the rise of the ticks'
    cumulative day volume (``Tick.volume``) since the previous tick of the instrument, so
    the first tick ever seen adds none (its volume happened before we were listening), and
    a new IST day starts counting from zero. Open interest is the latest tick's.

    Ticks whose time lies before the forming bar (late or out-of-order frames) do not move
    its prices, but their volume is kept in the forming bar so the day's total stays right;
    ``late_ticks`` counts them. Ticks without a price (ltp <= 0) are counted in
    ``rejected_ticks`` and skipped. Not thread-safe: one builder per feed worker thread.
    """

    def __init__(self) -> None:
        self._forming: dict[InstrumentKey, _Forming] = {}
        self.late_ticks = 0
        self.rejected_ticks = 0

    def update(self, ticks: Iterable[Tick]) -> list[tuple[InstrumentKey, Candle]]:
        """Fold ``ticks`` (oldest first) in; return each bar touched, in its latest state.

        When a minute rolls over inside the batch, the closed bar comes first, then the new
        forming bar, so the receiver can upsert them in order. One entry per (instrument,
        bar start).
        """
        touched: dict[tuple[InstrumentKey, int], Candle] = {}
        for tick in ticks:
            candle = self.on_tick(tick)
            if candle is not None:
                touched[(tick.key, candle.start)] = candle
        return [(key, candle) for (key, _), candle in touched.items()]

    def on_tick(self, tick: Tick) -> Candle | None:
        """Fold one tick in; return the instrument's forming bar after it (None if rejected)."""
        if tick.ltp <= 0:
            self.rejected_ticks += 1
            log.debug("tick without price for %s skipped", tick.key)
            return None
        t = int(tick.timestamp)
        minute = t - (t + IST_OFFSET_SECONDS) % 60
        day = int(ist_day_start(t))
        state = self._forming.get(tick.key)
        if state is None:
            candle = Candle(minute, tick.ltp, tick.ltp, tick.ltp, tick.ltp, 0, tick.open_interest)
            self._forming[tick.key] = _Forming(candle, tick.volume, day)
            return candle
        traded = self._volume_since(state, tick.volume, day)
        bar = state.candle
        if minute > bar.start:
            candle = Candle(minute, tick.ltp, tick.ltp, tick.ltp, tick.ltp, traded, tick.open_interest)
        elif minute == bar.start:
            candle = Candle(bar.start, bar.open, max(bar.high, tick.ltp), min(bar.low, tick.ltp),
                            tick.ltp, bar.volume + traded, tick.open_interest)
        else:
            self.late_ticks += 1
            candle = Candle(bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume + traded,
                            bar.open_interest)
        state.candle = candle
        if day > state.last_day:
            state.last_volume, state.last_day = tick.volume, day
        elif day == state.last_day:
            # max: an out-of-order frame with a smaller total must not make the next one count twice
            state.last_volume = max(state.last_volume, tick.volume)
        return candle

    @staticmethod
    def _volume_since(state: _Forming, cumulative: int, day: int) -> int:
        if day > state.last_day:
            return max(cumulative, 0)  # the exchange resets day volume at the open
        if day < state.last_day:
            return 0  # a late tick of the previous day: its volume is already counted
        # A drop within the day is an out-of-order frame or a broker glitch: count nothing.
        return max(cumulative - state.last_volume, 0)

    def forming(self, key: InstrumentKey) -> Candle | None:
        state = self._forming.get(key)
        return state.candle if state else None

    def reset(self, key: InstrumentKey | None = None) -> None:
        """Forget one instrument's forming bar (or all), e.g. after unsubscribing."""
        if key is None:
            self._forming.clear()
        else:
            self._forming.pop(key, None)


SUPPORTED_INTERVALS = INTERVALS_MINUTES
