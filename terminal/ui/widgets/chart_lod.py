"""What the chart draws for a view: the visible slice of bars and its level of detail.

Pure numpy (no Qt), so the rules are tested as plain functions. x is the bar index: bar i
occupies [i - 0.5, i + 0.5]. When bars are narrower than a pixel, runs of ``factor`` bars
are merged into one drawn bar (OHLC of the run), so a frame never draws more bars than the
view has pixels. Runs are aligned to multiples of the factor, and the factor is a power of
two, so panning and small zoom steps do not make merged bars flicker.
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
