"""What the chart draws for a view: the visible slice of bars and its level of detail.

Pure numpy (no Qt), so the rules are tested as plain functions. x is the bar index: bar i
occupies [i - 0.5, i + 0.5]. When bars are narrower than a pixel, runs of ``factor`` bars
are merged into one drawn bar (OHLC of the run), so a frame never draws more bars than the
view has pixels. Runs are aligned to multiples of the factor, and the factor is a power of
two, so panning and small zoom steps do not make merged bars flicker.

``merge_*`` compute merged runs from the bars directly (a pass over the visible slice);
``Pyramid`` precomputes every power-of-two level once per history load, so a frame only
reads the few hundred runs it draws, and a live bar updates the tail of each level.
"""

from __future__ import annotations

import math

import numpy as np


def visible_slice(x_min: float, x_max: float, bar_count: int) -> tuple[int, int]:
    """Bars [first, stop) that overlap the x range [x_min, x_max]; (0, 0) if none."""
    if bar_count <= 0 or x_max < -0.5 or x_min > bar_count - 0.5 or x_max < x_min:
        return 0, 0
    first = max(0, math.floor(x_min + 0.5))
    stop = min(bar_count, math.floor(x_max + 0.5) + 1)
    return first, max(first, stop)


def merge_factor(bars_per_pixel: float) -> int:
    """Bars merged into one drawn bar: the smallest power of two >= bars per pixel (>= 1)."""
    if not bars_per_pixel > 1.0:
        return 1
    return 1 << math.ceil(math.log2(bars_per_pixel) - 1e-9)


def run_bounds(first: int, stop: int, factor: int, bar_count: int) -> np.ndarray:
    """Start index of each merged run covering [first, stop), aligned to multiples of factor,
    followed by the end of the last run (clipped to ``bar_count``)."""
    lo = (first // factor) * factor
    hi = min(bar_count, -(-stop // factor) * factor)
    starts = np.arange(lo, hi, factor, dtype=np.int64)
    return np.r_[starts, hi]


def merge_ohlc(open_, high, low, close, first: int, stop: int, factor: int):
    """(x centres, open, high, low, close) of the drawn bars for the slice [first, stop).

    With ``factor`` 1 these are the bars themselves; otherwise each run of ``factor`` bars
    becomes one bar: first open, highest high, lowest low, last close.
    """
    if stop <= first:
        empty = np.empty(0)
        return empty, empty, empty, empty, empty
    if factor == 1:
        x = np.arange(first, stop, dtype=np.float64)
        return x, open_[first:stop], high[first:stop], low[first:stop], close[first:stop]
    bounds = run_bounds(first, stop, factor, len(open_))
    lo, hi = bounds[0], bounds[-1]
    idx = bounds[:-1] - lo
    last = bounds[1:] - 1
    x = (bounds[:-1] + last) / 2.0
    return (x, open_[bounds[:-1]], np.maximum.reduceat(high[lo:hi], idx),
            np.minimum.reduceat(low[lo:hi], idx), close[last])


def merge_sum(values, first: int, stop: int, factor: int):
    """(x centres, sums) of ``values`` over merged runs (volume of the run)."""
    if stop <= first:
        return np.empty(0), np.empty(0)
    if factor == 1:
        return np.arange(first, stop, dtype=np.float64), values[first:stop]
    bounds = run_bounds(first, stop, factor, len(values))
    return (bounds[:-1] + bounds[1:] - 1) / 2.0, np.add.reduceat(values[bounds[0]:bounds[-1]], bounds[:-1] - bounds[0])


def merge_extreme(values, first: int, stop: int, factor: int):
    """(x centres, the value farthest from zero) over merged runs (a histogram's peaks); NaN ignored."""
    if stop <= first:
        return np.empty(0), np.empty(0)
    if factor == 1:
        return np.arange(first, stop, dtype=np.float64), values[first:stop]
    bounds = run_bounds(first, stop, factor, len(values))
    part, idx = values[bounds[0]:bounds[-1]], bounds[:-1] - bounds[0]
    top, bottom = np.fmax.reduceat(part, idx), np.fmin.reduceat(part, idx)
    return (bounds[:-1] + bounds[1:] - 1) / 2.0, np.where(np.abs(bottom) > np.abs(top), bottom, top)


def merge_line(values, first: int, stop: int, factor: int):
    """(x, y) points of a line over the slice; merged runs give their low and high, in the
    order they happened, so spikes survive zooming out. NaN (no value yet) is kept as a gap."""
    if stop <= first:
        return np.empty(0), np.empty(0)
    first = max(first - 1, 0)  # one point before and after, so the line reaches the edges
    stop = min(stop + 1, len(values))
    if factor == 1:
        return np.arange(first, stop, dtype=np.float64), np.asarray(values[first:stop], dtype=np.float64)
    bounds = run_bounds(first, stop, factor, len(values))
    part, idx = values[bounds[0]:bounds[-1]], bounds[:-1] - bounds[0]
    with np.errstate(invalid="ignore"):
        low, high = np.fmin.reduceat(part, idx), np.fmax.reduceat(part, idx)
    starts, ends = bounds[:-1].astype(np.float64), (bounds[1:] - 1).astype(np.float64)
    x = np.empty(2 * len(starts))
    y = np.empty(2 * len(starts))
    x[0::2], x[1::2] = starts, ends
    rising = values[bounds[1:] - 1] >= values[bounds[:-1]]
    y[0::2] = np.where(rising, low, high)
    y[1::2] = np.where(rising, high, low)
    return x, y


def price_range(low, high, first: int, stop: int, pad: float = 0.06) -> tuple[float, float] | None:
    """y range (same unit as the input) that fits the bars [first, stop) with ``pad`` of the
    height added above and below; None when nothing is visible."""
    if stop <= first:
        return None
    lo, hi = float(low[first:stop].min()), float(high[first:stop].max())
    span = hi - lo or max(abs(hi) * 0.001, 1.0)
    return lo - span * pad, hi + span * pad


def finite_range(arrays, first: int, stop: int, pad: float = 0.08) -> tuple[float, float] | None:
    """y range that fits the finite values of several arrays over [first, stop)."""
    lows, highs = [], []
    for a in arrays:
        part = a[first:stop]
        if len(part):
            with np.errstate(invalid="ignore"):
                lo, hi = np.nanmin(part) if np.isfinite(part).any() else np.nan, np.nanmax(part) if np.isfinite(part).any() else np.nan
            if np.isfinite(lo):
                lows.append(lo)
                highs.append(hi)
    if not lows:
        return None
    lo, hi = min(lows), max(highs)
    span = hi - lo or max(abs(hi) * 0.01, 1.0)
    return lo - span * pad, hi + span * pad


# --- the precomputed level-of-detail pyramid --------------------------------------------------

# how a column's runs merge: first value, last value, highest, lowest (NaN ignored), sum
_REDUCERS = {
    "first": None, "last": None,
    "max": np.fmax, "min": np.fmin, "sum": np.add,
}


def _merge_pairs(values: np.ndarray, how: str) -> np.ndarray:
    """One level up: neighbours (2i, 2i+1) merged; an odd last element stands alone."""
    m = len(values)
    if how == "first":
        return values[0::2].copy()
    # np.concatenate, not np.r_: a live bar merges ~80 short tails a tick, and np.r_'s
    # parsing cost (~13 us a call) was most of it
    if how == "last":
        out = values[1::2]
        return np.concatenate((out, values[-1:])) if m % 2 else out.copy()
    pair = _REDUCERS[how](values[0:m - m % 2:2], values[1::2])
    return np.concatenate((pair, values[-1:])) if m % 2 else pair


class Pyramid:
    """Merged levels of some per-bar columns for factors 2, 4, 8, ... up to one run.

    ``columns`` maps a name to how its runs merge ("first", "last", "max", "min", "sum";
    max/min ignore NaN). Level k holds runs of 2**k bars aligned to multiples of 2**k (the
    same runs as ``run_bounds``); each level is built from the one below, so a full build is
    O(bars) once and ``update_tail`` is O(levels + changed bars). Reading a view's runs is a
    slice: O(drawn runs), independent of how many bars are in view.
    """

    def __init__(self, columns: dict[str, str]) -> None:
        for how in columns.values():
            if how not in _REDUCERS:
                raise ValueError(f"unknown merge {how!r}")
        self._how = dict(columns)
        self._levels: list[dict[str, np.ndarray]] = []  # index k-1 holds factor 2**k
        self.count = 0

    def build(self, data: dict[str, np.ndarray]) -> None:
        """Rebuild every level from the bars' columns (same length each)."""
        self.count = self._length(data)
        self._levels = []
        below = data
        length = self.count
        while length > 1:
            below = {name: _merge_pairs(np.asarray(below[name]), how) for name, how in self._how.items()}
            length = len(next(iter(below.values())))
            self._levels.append(below)

    def update_tail(self, data: dict[str, np.ndarray], first_changed: int) -> None:
        """Bring the levels up to date after bars [first_changed, end) changed or were added
        (``data`` is the full current columns); earlier bars must be unchanged."""
        n = self._length(data)
        if first_changed <= 0 or n < self.count or first_changed > self.count:
            self.build(data)
            return
        self.count = n
        below, changed, length, k = data, first_changed, n, 0
        while length > 1:
            start = changed // 2  # first run of this level that changed
            length = -(-length // 2)
            if k < len(self._levels):
                level = self._levels[k]
                tail = {name: _merge_pairs(np.asarray(below[name][2 * start:]), how)
                        for name, how in self._how.items()}
                for name in self._how:
                    old = level[name]
                    grown = old if len(old) == length else np.resize(old, length)
                    grown[start:] = tail[name]
                    level[name] = grown
            else:
                self._levels.append({name: _merge_pairs(np.asarray(below[name]), how)
                                     for name, how in self._how.items()})
            below, changed, k = self._levels[k], start, k + 1
        del self._levels[k:]

    def runs(self, data: dict[str, np.ndarray], first: int, stop: int, factor: int):
        """(x centres, {name: merged values}) of the runs of ``factor`` bars (a power of two)
        covering bars [first, stop); ``data`` gives the bars themselves for factor 1."""
        if stop <= first or not self.count:
            return np.empty(0), {name: np.empty(0) for name in self._how}
        k = max(factor, 1).bit_length() - 1
        if 1 << k != max(factor, 1):
            raise ValueError(f"merge factor must be a power of two, got {factor}")
        k = min(k, len(self._levels))  # coarser than one run of everything: the top level
        if k == 0:
            return np.arange(first, stop, dtype=np.float64), {name: data[name][first:stop] for name in self._how}
        factor = 1 << k
        level = self._levels[k - 1]
        r0, r1 = first // factor, -(-stop // factor)
        starts = np.arange(r0, r1, dtype=np.int64) * factor
        ends = np.minimum(starts + factor, self.count) - 1
        return (starts + ends) / 2.0, {name: level[name][r0:r1] for name in self._how}

    @staticmethod
    def _length(data: dict[str, np.ndarray]) -> int:
        lengths = {len(v) for v in data.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns differ in length: {sorted(lengths)}")
        return lengths.pop() if lengths else 0


OHLCV = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
LINE = {"value": "last", "first": "first", "high": "max", "low": "min"}


def line_points(x: np.ndarray, runs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A line's drawn points from merged runs (``LINE`` columns, for factor > 1): each run
    gives its low and high in the order they happened (rising run: low first), at the run's
    centre, so spikes survive zooming out. NaN runs stay gaps."""
    rising = runs["value"] >= runs["first"]
    xs = np.repeat(x, 2)
    y = np.empty(2 * len(x))
    y[0::2] = np.where(rising, runs["low"], runs["high"])
    y[1::2] = np.where(rising, runs["high"], runs["low"])
    return xs, y


def padded_range(lo: float, hi: float, pad: float) -> tuple[float, float] | None:
    """[lo, hi] with ``pad`` of the height added each side; None when not finite."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    span = hi - lo or max(abs(hi) * 0.001, 1.0)
    return lo - span * pad, hi + span * pad
