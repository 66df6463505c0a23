"""Chart indicators over numpy arrays, full and incremental on the tail. No Qt.

Every function takes prices as an array (paise or rupees, the output has the same unit) and
returns float64 arrays aligned with the bars, NaN where the indicator is not yet defined.
Conventions follow the common charting packages: EMA is seeded with the SMA of its first
``period`` values, RSI uses Wilder's smoothing, Bollinger Bands use the population standard
deviation, VWAP restarts at each IST date.

Incremental use: an ``Indicator`` keeps its output columns (and the state it needs, in
columns whose names start with ``_``). ``update_tail(bars, lines, first_changed)`` recomputes
only from ``first_changed`` on, so a forming bar costs O(period), not O(history).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from terminal.analytics.candles import CandleSeries, ist_day_start

Lines = dict[str, np.ndarray]


# --- building blocks --------------------------------------------------------------------------

def _as_float(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _check_period(period: int) -> None:
    if int(period) != period or period < 1:
        raise ValueError(f"period must be a whole number >= 1, got {period}")


def linear_recurrence(b: np.ndarray, decay: float, initial: float = 0.0) -> np.ndarray:
    """y[t] = decay * y[t-1] + b[t] with y[-1] = ``initial``, for 0 <= decay < 1.

    Solved as a prefix scan in log2(n) numpy passes (no Python loop per bar): after the pass
    with shift s, y[t] holds the sum over the last 2s terms. Powers of ``decay`` only shrink,
    so the scan is as stable as the plain loop.
    """
    y = np.array(b, dtype=np.float64)
    n = len(y)
    shift, factor = 1, float(decay)
    while shift < n and factor > 0.0:
        y[shift:] += factor * y[:-shift]
        shift *= 2
        factor *= factor
    if initial:
        y += initial * float(decay) ** np.arange(1, n + 1)
    return y


def sma(values, period: int) -> np.ndarray:
    """Simple moving average over ``period`` bars."""
    _check_period(period)
    x = _as_float(values)
    out = np.full(len(x), np.nan)
    if len(x) >= period:
        csum = np.cumsum(np.r_[0.0, x])
        out[period - 1:] = (csum[period:] - csum[:-period]) / period
    return out


def rolling_std(values, period: int) -> np.ndarray:
    """Population standard deviation over ``period`` bars (computed per window, in chunks,
    so it does not lose digits the way a running sum of squares does on long histories)."""
    _check_period(period)
    x = _as_float(values)
    out = np.full(len(x), np.nan)
    if len(x) < period:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(x, period)
    chunk = max(1, 1_000_000 // period)
    for i in range(0, len(windows), chunk):
        out[period - 1 + i: period - 1 + i + chunk] = windows[i:i + chunk].std(axis=1)
    return out


def ema(values, period: int, previous: float | None = None) -> np.ndarray:
    """Exponential moving average, alpha = 2 / (period + 1).

    Without ``previous`` the EMA starts at bar ``period - 1`` with the SMA of the first
    ``period`` values (NaN before; NaN inputs at the head are skipped). With ``previous``
    (the EMA of the bar before ``values[0]``) it continues that EMA: the incremental form.
    """
    _check_period(period)
    return _smoothed(_as_float(values), period, 2.0 / (period + 1), previous)


def rma(values, period: int, previous: float | None = None) -> np.ndarray:
    """Wilder's moving average (alpha = 1 / period), seeded like ``ema``."""
    _check_period(period)
    return _smoothed(_as_float(values), period, 1.0 / period, previous)


def _smoothed(x: np.ndarray, period: int, alpha: float, previous: float | None) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if previous is not None and not np.isnan(previous):
        return linear_recurrence(alpha * x, 1.0 - alpha, previous)
    valid = np.flatnonzero(~np.isnan(x))
    if not len(valid):
        return out
    head = valid[0]
    seed_at = head + period - 1
    if seed_at >= len(x):
        return out
    seed = x[head:seed_at + 1].mean()
    out[seed_at] = seed
    out[seed_at + 1:] = linear_recurrence(alpha * x[seed_at + 1:], 1.0 - alpha, seed)
    return out


def rsi(close, period: int = 14) -> np.ndarray:
    """Relative Strength Index (0..100), Wilder's smoothing; defined from bar ``period``."""
    return _rsi_parts(_as_float(close), period)[0]


def _rsi_parts(x: np.ndarray, period: int, prev_gain: float | None = None,
               prev_loss: float | None = None, prev_close: float | None = None):
    _check_period(period)
    if prev_close is None:
        change = np.r_[np.nan, np.diff(x)]
    else:
        change = np.diff(np.r_[prev_close, x])
    gain = np.where(np.isnan(change), np.nan, np.maximum(change, 0.0))
    loss = np.where(np.isnan(change), np.nan, np.maximum(-change, 0.0))
    avg_gain = _smoothed(gain, period, 1.0 / period, prev_gain)
    avg_loss = _smoothed(loss, period, 1.0 / period, prev_loss)
    return _rsi_from(avg_gain, avg_loss), avg_gain, avg_loss


def _rsi_from(avg_gain: np.ndarray, avg_loss: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    value = np.where(avg_loss == 0.0, 100.0, value)  # only gains: the top of the scale
    value = np.where((avg_loss == 0.0) & (avg_gain == 0.0), 50.0, value)  # a flat market
    return np.where(np.isnan(avg_gain) | np.isnan(avg_loss), np.nan, value)


def macd(close, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(MACD line, signal line, histogram): EMA(fast) - EMA(slow), its EMA(signal), and the gap."""
    if fast >= slow:
        raise ValueError(f"MACD fast period ({fast}) must be shorter than slow ({slow})")
    x = _as_float(close)
    line = ema(x, fast) - ema(x, slow)
    sig = ema(line, signal)
    return line, sig, line - sig


def bollinger(close, period: int = 20, width: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): SMA(period) +- ``width`` population standard deviations."""
    middle = sma(close, period)
    spread = width * rolling_std(close, period)
    return middle + spread, middle, middle - spread


def vwap(high, low, close, volume, start) -> np.ndarray:
    """Volume-weighted average of the typical price (H+L+C)/3, restarting each IST date.

    ``start`` is each bar's epoch seconds. NaN until the day has traded volume (an index,
    which has no volume, has no VWAP).
    """
    tp_volume, vol = _vwap_terms(high, low, close, volume)
    day = ist_day_start(start)
    first = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    cum_pv = _cumsum_by_group(tp_volume, first)
    cum_v = _cumsum_by_group(vol, first)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cum_v > 0, cum_pv / cum_v, np.nan)


def _vwap_terms(high, low, close, volume):
    vol = _as_float(volume)
    typical = (_as_float(high) + _as_float(low) + _as_float(close)) / 3.0
    return typical * vol, vol


def _cumsum_by_group(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Running sum that restarts at each index in ``first`` (sorted, starting with 0)."""
    total = np.cumsum(x)
    before = np.r_[0.0, total[first[1:] - 1]]
    lengths = np.diff(np.r_[first, len(x)])
    return total - np.repeat(before, lengths)


# --- incremental indicators for the chart -------------------------------------------------------

@dataclass
class Indicator:
    """One indicator with its parameters. Subclasses say which pane they draw in.

    ``compute`` returns full-length columns; ``update_tail`` brings columns computed for an
    older state of the bars up to date, recomputing from ``first_changed`` on only.
    """

    kind = ""
    pane = "price"  # "price" draws over the candles, anything else gets its own pane
    params: dict = field(default_factory=dict)

    def compute(self, bars: CandleSeries) -> Lines:
        raise NotImplementedError

    def update_tail(self, bars: CandleSeries, lines: Lines, first_changed: int) -> Lines:
        """Columns for ``bars`` given ``lines`` that are right for bars [0, first_changed)."""
        n = len(bars)
        start = self._tail_start(first_changed)
        have = min(len(v) for v in lines.values()) if lines else 0
        if start is None or start > have or start < 1:
            return self.compute(bars)
        tail = self._tail(bars, lines, start)
        return {name: _spliced(lines[name], start, values, n) for name, values in tail.items()}

    def _tail_start(self, first_changed: int) -> int | None:
        return first_changed

    def _tail(self, bars: CandleSeries, lines: Lines, start: int) -> Lines:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return f"{self.kind}({','.join(_fmt(v) for v in self.params.values())})"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "params": dict(self.params)}


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _spliced(old: np.ndarray, start: int, tail: np.ndarray, n: int) -> np.ndarray:
    out = old if len(old) == n else np.resize(old, n)  # resize copies; views stay untouched
    out[start:] = tail
    return out


def _price(bars: CandleSeries) -> np.ndarray:
    return bars.close


class SMA(Indicator):
    kind = "SMA"

    def __init__(self, period: int = 20):
        _check_period(period)
        super().__init__(params={"period": int(period)})

    def compute(self, bars):
        return {"sma": sma(_price(bars), self.params["period"])}

    def _tail(self, bars, lines, start):
        p = self.params["period"]
        lo = max(start - p + 1, 0)
        return {"sma": sma(_price(bars)[lo:], p)[start - lo:]}


class EMA(Indicator):
    kind = "EMA"

    def __init__(self, period: int = 20):
        _check_period(period)
        super().__init__(params={"period": int(period)})

    def compute(self, bars):
        return {"ema": ema(_price(bars), self.params["period"])}

    def _tail(self, bars, lines, start):
        previous = lines["ema"][start - 1]
        if np.isnan(previous):
            return {"ema": self.compute(bars)["ema"][start:]}
        return {"ema": ema(_price(bars)[start:], self.params["period"], previous)}


class BollingerBands(Indicator):
    kind = "BB"

    def __init__(self, period: int = 20, width: float = 2.0):
        _check_period(period)
        if not width > 0:
            raise ValueError(f"Bollinger width must be positive, got {width}")
        super().__init__(params={"period": int(period), "width": float(width)})

    def compute(self, bars):
        upper, middle, lower = bollinger(_price(bars), self.params["period"], self.params["width"])
        return {"upper": upper, "middle": middle, "lower": lower}

    def _tail(self, bars, lines, start):
        p = self.params["period"]
        lo = max(start - p + 1, 0)
        upper, middle, lower = bollinger(_price(bars)[lo:], p, self.params["width"])
        k = start - lo
        return {"upper": upper[k:], "middle": middle[k:], "lower": lower[k:]}


class VWAP(Indicator):
    kind = "VWAP"

    def __init__(self):
        super().__init__(params={})

    @property
    def label(self) -> str:
        return "VWAP"

    def compute(self, bars):
        pv, v = _vwap_terms(bars.high, bars.low, bars.close, bars.volume)
        day = ist_day_start(bars.start)
        first = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        cum_pv, cum_v = _cumsum_by_group(pv, first), _cumsum_by_group(v, first)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(cum_v > 0, cum_pv / cum_v, np.nan)
        return {"vwap": value, "_cum_pv": cum_pv, "_cum_v": cum_v}

    def _tail(self, bars, lines, start):
        sl = slice(start, None)
        pv, v = _vwap_terms(bars.high[sl], bars.low[sl], bars.close[sl], bars.volume[sl])
        day = ist_day_start(bars.start[start - 1:])
        first = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])  # relative to start - 1
        # carry the running day totals of bar start-1 in as a phantom first element
        pv = np.r_[lines["_cum_pv"][start - 1], pv]
        v = np.r_[lines["_cum_v"][start - 1], v]
        cum_pv, cum_v = _cumsum_by_group(pv, first)[1:], _cumsum_by_group(v, first)[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(cum_v > 0, cum_pv / cum_v, np.nan)
        return {"vwap": value, "_cum_pv": cum_pv, "_cum_v": cum_v}


class RSI(Indicator):
    kind = "RSI"
    pane = "rsi"

    def __init__(self, period: int = 14):
        _check_period(period)
        super().__init__(params={"period": int(period)})

    def compute(self, bars):
        value, gain, loss = _rsi_parts(_as_float(_price(bars)), self.params["period"])
        return {"rsi": value, "_gain": gain, "_loss": loss}

    def _tail(self, bars, lines, start):
        gain, loss = lines["_gain"][start - 1], lines["_loss"][start - 1]
        if np.isnan(gain) or np.isnan(loss):
            full = self.compute(bars)
            return {name: values[start:] for name, values in full.items()}
        x = _as_float(_price(bars))
        value, gain, loss = _rsi_parts(x[start:], self.params["period"], gain, loss, x[start - 1])
        return {"rsi": value, "_gain": gain, "_loss": loss}


class MACD(Indicator):
    kind = "MACD"
    pane = "macd"

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9):
        for p in (fast, slow, signal):
            _check_period(p)
        if fast >= slow:
            raise ValueError(f"MACD fast period ({fast}) must be shorter than slow ({slow})")
        super().__init__(params={"fast": int(fast), "slow": int(slow), "signal": int(signal)})

    def compute(self, bars):
        x = _as_float(_price(bars))
        fast, slow = ema(x, self.params["fast"]), ema(x, self.params["slow"])
        line = fast - slow
        sig = ema(line, self.params["signal"])
        return {"macd": line, "signal": sig, "histogram": line - sig, "_fast": fast, "_slow": slow}

    def _tail(self, bars, lines, start):
        previous = [lines[name][start - 1] for name in ("_fast", "_slow", "signal")]
        if any(np.isnan(v) for v in previous):
            full = self.compute(bars)
            return {name: values[start:] for name, values in full.items()}
        x = _as_float(_price(bars))[start:]
        fast = ema(x, self.params["fast"], previous[0])
        slow = ema(x, self.params["slow"], previous[1])
        line = fast - slow
        sig = ema(line, self.params["signal"], previous[2])
        return {"macd": line, "signal": sig, "histogram": line - sig, "_fast": fast, "_slow": slow}


INDICATOR_TYPES: dict[str, type[Indicator]] = {
    cls.kind: cls for cls in (SMA, EMA, VWAP, BollingerBands, RSI, MACD)
}


def indicator_from_dict(data: dict) -> Indicator:
    """Rebuild an indicator from ``Indicator.to_dict()``; unknown kinds raise ValueError."""
    kind = data.get("kind")
    if kind not in INDICATOR_TYPES:
        raise ValueError(f"unknown indicator {kind!r}; known: {', '.join(INDICATOR_TYPES)}")
    return INDICATOR_TYPES[kind](**data.get("params", {}))
