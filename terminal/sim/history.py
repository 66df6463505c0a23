"""One-minute bars for the simulator: generated history, live bars, and resampling.

An underlying's history is a random walk generated *backwards* from its price at the moment the
exchange starts, so the last generated bar closes exactly where the live stream begins; bars
formed while the exchange runs are recorded live and appended. A derivative's history is priced
from its underlying's bars with the same model the live market uses. Generated bars cover
trading days (Monday-Friday, 09:15-15:30 IST, 375 bars a day); live bars carry the moment they
formed, because the simulated market is open around the clock by default.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from terminal.domain import Candle
from terminal.sim.calendar import IST, MINUTES_PER_SESSION, is_trading_day, session_minute_starts, trading_days_before

HISTORY_TRADING_DAYS = 60  # generated sessions before the start day (the start day's bars come on top)
MINUTES_PER_TRADING_YEAR = 252 * MINUTES_PER_SESSION
IST_OFFSET_SECONDS = 19_800  # IST has no daylight saving: UTC+05:30 all year
SESSION_OPEN_SECONDS = 9 * 3600 + 15 * 60  # 09:15 after IST midnight


def stable_seed(*parts: object) -> int:
    """A seed that is the same in every process (Python's hash() is salted per run)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode())


@dataclass(frozen=True, slots=True)
class Bars:
    """Bars as parallel arrays: ``start`` epoch seconds, prices float paise, volume units."""

    start: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    open_interest: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @staticmethod
    def empty() -> "Bars":
        z = np.zeros(0)
        return Bars(np.zeros(0, dtype=np.int64), z, z, z, z, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @staticmethod
    def concat(parts: list["Bars"]) -> "Bars":
        parts = [p for p in parts if len(p)]
        if not parts:
            return Bars.empty()
        return Bars(*(np.concatenate([getattr(p, f) for p in parts]) for f in Bars.__slots__))

    def select(self, mask: np.ndarray) -> "Bars":
        return Bars(*(getattr(self, f)[mask] for f in Bars.__slots__))

    def between(self, start_epoch: float, end_epoch: float) -> "Bars":
        return self.select((self.start >= start_epoch) & (self.start <= end_epoch))

    def on_tick_grid(self, tick: int) -> "Bars":
        """Prices rounded to the tick grid, never below one tick, high/low enclosing open/close."""
        def snap(a: np.ndarray) -> np.ndarray:
            return np.maximum(np.round(a / tick), 1) * tick
        o, c = snap(self.open), snap(self.close)
        h = np.maximum(snap(self.high), np.maximum(o, c))
        lo = np.minimum(snap(self.low), np.minimum(o, c))
        return Bars(self.start, o, h, lo, c, self.volume, self.open_interest)

    def ending_at(self, price: float) -> "Bars":
        """The same bars with the last close moved to ``price`` (the live LTP), high/low widened."""
        if not len(self):
            return self
        close, high, low = self.close.copy(), self.high.copy(), self.low.copy()
        close[-1] = price
        high[-1] = max(high[-1], price)
        low[-1] = min(low[-1], price)
        return Bars(self.start, self.open, high, low, close, self.volume, self.open_interest)

    def resample(self, interval_minutes: int) -> "Bars":
        """Bars of ``interval_minutes`` (1, 3, 5, 15, 30, 60 or 1440 = one per IST day).

        Intraday buckets are aligned to the 09:15 session open, as NSE charts do (60-minute bars
        start 09:15, 10:15, ...); daily bars start at IST midnight of their day.
        """
        if interval_minutes < 1:
            raise ValueError(f"interval must be at least one minute, got {interval_minutes}")
        if interval_minutes == 1 or not len(self):
            return self
        day_start = ((self.start + IST_OFFSET_SECONDS) // 86_400) * 86_400 - IST_OFFSET_SECONDS
        if interval_minutes == 1440:
            bucket = day_start
        else:
            size = interval_minutes * 60
            session_open = day_start + SESSION_OPEN_SECONDS
            bucket = session_open + ((self.start - session_open) // size) * size
        first = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        last = np.r_[first[1:] - 1, len(bucket) - 1]
        return Bars(bucket[first], self.open[first], np.maximum.reduceat(self.high, first),
                    np.minimum.reduceat(self.low, first), self.close[last], np.add.reduceat(self.volume, first),
                    self.open_interest[last])

    def to_candles(self) -> list[Candle]:
        cols = (self.start.astype(np.int64), self.open, self.high, self.low, self.close, self.volume,
                self.open_interest)
        lists = [np.asarray(c).astype(np.int64).tolist() for c in cols]
        return [Candle(*row) for row in zip(*lists)]


def intraday_shape(minute_of_session: np.ndarray) -> np.ndarray:
    """Relative activity through the session: busy at the open, quieter at lunch, busy at the close."""
    m = minute_of_session.astype(float)
    return 1.0 + 1.2 * np.exp(-m / 25.0) + 0.6 * np.exp(-(MINUTES_PER_SESSION - 1 - m) / 30.0)


def session_days(start_day: date, days: int = HISTORY_TRADING_DAYS) -> list[date]:
    """The generated sessions: ``days`` trading days before ``start_day``, plus that day if it trades."""
    result = trading_days_before(start_day, days)
    if is_trading_day(start_day):
        result.append(start_day)
    return result


def generate_underlying_bars(end_epoch: float, end_price: float, annual_vol: float, minute_volume: int,
                             seed: int, days: int = HISTORY_TRADING_DAYS) -> Bars:
    """One-minute bars of complete minutes before ``end_epoch``, the last one closing at ``end_price``.

    Prices are float paise (not yet on the tick grid). The walk has intraday volatility shaped
    like a real session and an overnight gap at each open; ``minute_volume`` (units) scales volume.
    """
    end_day = datetime.fromtimestamp(end_epoch, IST).date()
    starts = session_minute_starts(session_days(end_day, days), until_epoch=end_epoch)
    n = len(starts)
    if n == 0:
        return Bars.empty()
    rng = np.random.default_rng(seed)
    minute = ((starts + IST_OFFSET_SECONDS) % 86_400 - SESSION_OPEN_SECONDS) // 60
    shape = intraday_shape(minute)
    sigma = annual_vol / np.sqrt(MINUTES_PER_TRADING_YEAR) * shape / np.sqrt(np.mean(shape ** 2))
    intrabar = sigma * rng.standard_normal(n)
    gap = np.where(minute == 0, annual_vol / np.sqrt(252) * 0.3 * rng.standard_normal(n), 0.0)
    steps = gap + intrabar
    log_close = np.cumsum(steps)
    log_close += np.log(end_price) - log_close[-1]
    close = np.exp(log_close)
    open_ = np.exp(log_close - intrabar)
    wick = sigma * 0.6
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * wick)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * wick)
    volume = np.zeros(n, dtype=np.int64)
    if minute_volume:
        volume = np.round(minute_volume * shape / shape.mean() * rng.lognormal(-0.125, 0.5, n)).astype(np.int64)
    return Bars(starts, open_, high, low, close, volume, np.zeros(n, dtype=np.int64))


def derive_bars(underlying: Bars, price_at: Callable[[np.ndarray, np.ndarray], np.ndarray], seed: int,
                minute_volume: float, end_open_interest: float) -> Bars:
    """A derivative's bars priced from its underlying's bars.

    ``price_at(spot, epoch)`` is the model price (paise) for underlying prices ``spot`` at
    moments ``epoch`` (arrays). Open and close are priced at the bar's own open and close; high
    and low take the extremes of the prices at the underlying's open, high, low and close.
    Volume and open interest are synthetic: ``minute_volume`` (units) scales the volume and the
    open interest path ends at ``end_open_interest`` (units).
    """
    n = len(underlying)
    if n == 0:
        return Bars.empty()
    t = underlying.start.astype(float)
    at = [price_at(s, t + 59.0) for s in (underlying.open, underlying.high, underlying.low, underlying.close)]
    open_, _, _, close = at
    high = np.maximum.reduce(at)
    low = np.minimum.reduce(at)
    rng = np.random.default_rng(seed)
    minute = ((underlying.start + IST_OFFSET_SECONDS) % 86_400 - SESSION_OPEN_SECONDS) // 60
    shape = intraday_shape(np.clip(minute, 0, MINUTES_PER_SESSION - 1))
    volume = np.round(minute_volume * shape / shape.mean() * rng.lognormal(-0.125, 0.5, n)).astype(np.int64)
    # Open interest wanders by a fraction of the traded volume, and never goes below zero.
    oi_steps = volume * rng.uniform(-0.22, 0.25, n)
    path = np.cumsum(oi_steps)
    oi = np.maximum(np.round(end_open_interest + path - path[-1]), 0).astype(np.int64)
    return Bars(underlying.start, open_, high, low, close, volume, oi)


class MinuteBarRecorder:
    """Builds one-minute bars from live prices (paise) and traded quantities (units)."""

    def __init__(self) -> None:
        self._done: list[tuple[int, float, float, float, float, int]] = []
        self._start = -1
        self._ohlcv: list = []

    def record(self, epoch: float, price: float, quantity: int = 0) -> None:
        minute = int(epoch // 60) * 60
        if minute != self._start:
            if self._start >= 0:
                self._done.append((self._start, *self._ohlcv))
            self._start = minute
            self._ohlcv = [price, price, price, price, 0]
        bar = self._ohlcv
        bar[1] = max(bar[1], price)
        bar[2] = min(bar[2], price)
        bar[3] = price
        bar[4] += quantity

    def bars(self) -> Bars:
        rows = self._done + ([(self._start, *self._ohlcv)] if self._start >= 0 else [])
        if not rows:
            return Bars.empty()
        a = np.array(rows, dtype=float)
        return Bars(a[:, 0].astype(np.int64), a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5].astype(np.int64),
                    np.zeros(len(rows), dtype=np.int64))
