"""Indicators against plain-Python reference computations, and tail updates == full recompute."""

from __future__ import annotations

import math

import numpy as np
import pytest

from terminal.analytics.candles import IST_OFFSET_SECONDS, CandleSeries
from terminal.analytics.indicators import (
    EMA, MACD, RSI, SMA, VWAP, BollingerBands, bollinger, ema, indicator_from_dict, linear_recurrence,
    macd, rsi, sma, vwap,
)
from terminal.domain import Candle

NAN = float("nan")


def walk(n: int, seed: int = 3) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(2_000_000 + np.cumsum(rng.integers(-500, 501, size=n)) // 5 * 5)


def ref_sma(x, p):
    return [NAN if i < p - 1 else sum(x[i - p + 1:i + 1]) / p for i in range(len(x))]


def ref_ema(x, p, alpha=None):
    alpha = 2 / (p + 1) if alpha is None else alpha
    out, prev = [], None
    for i in range(len(x)):
        if i < p - 1:
            out.append(NAN)
        elif i == p - 1:
            prev = sum(x[:p]) / p
            out.append(prev)
        else:
            prev = alpha * x[i] + (1 - alpha) * prev
            out.append(prev)
    return out


def ref_rsi(x, p):
    gains = [max(x[i] - x[i - 1], 0) for i in range(1, len(x))]
    losses = [max(x[i - 1] - x[i], 0) for i in range(1, len(x))]
    ag, al = ref_ema(gains, p, 1 / p), ref_ema(losses, p, 1 / p)
    out = [NAN]
    for g, l in zip(ag, al):
        if math.isnan(g):
            out.append(NAN)
        elif l == 0:
            out.append(100.0 if g > 0 else 50.0)
        else:
            out.append(100 - 100 / (1 + g / l))
    return out


def ref_std(x, p):
    out = []
    for i in range(len(x)):
        if i < p - 1:
            out.append(NAN)
            continue
        w = x[i - p + 1:i + 1]
        m = sum(w) / p
        out.append(math.sqrt(sum((v - m) ** 2 for v in w) / p))
    return out


def close_enough(got, want):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float),
                               rtol=1e-9, atol=1e-6, equal_nan=True)


def test_linear_recurrence_matches_loop():
    b = np.random.default_rng(0).normal(size=1000)
    for decay in (0.0, 0.3, 0.9, 0.999):
        want, y = [], 5.0
        for v in b:
            y = decay * y + v
            want.append(y)
        close_enough(linear_recurrence(b, decay, 5.0), want)


@pytest.mark.parametrize("period", [1, 5, 20])
def test_sma_ema(period):
    x = walk(300)
    close_enough(sma(x, period), ref_sma(x, period))
    close_enough(ema(x, period), ref_ema(x, period))


def test_rsi_against_wilder_reference():
    x = walk(400)
    close_enough(rsi(x, 14), ref_rsi(x, 14))
    flat = [100.0] * 30
    assert rsi(flat, 14)[-1] == 50.0
    assert rsi(list(range(30)), 14)[-1] == 100.0


def test_macd_and_bollinger():
    x = walk(300)
    line, sig, hist = macd(x, 12, 26, 9)
    want_line = [a - b for a, b in zip(ref_ema(x, 12), ref_ema(x, 26))]
    close_enough(line, want_line)
    valid = [v for v in want_line if not math.isnan(v)]
    want_sig = [NAN] * (len(x) - len(valid)) + ref_ema(valid, 9)
    close_enough(sig, want_sig)
    close_enough(hist, np.asarray(want_line) - np.asarray(want_sig))
    upper, middle, lower = bollinger(x, 20, 2.0)
    sd = np.asarray(ref_std(x, 20))
    close_enough(middle, ref_sma(x, 20))
    close_enough(upper, np.asarray(ref_sma(x, 20)) + 2 * sd)
    close_enough(lower, np.asarray(ref_sma(x, 20)) - 2 * sd)


def minute_bars(n: int, seed: int = 5, per_day: int = 375) -> CandleSeries:
    """n one-minute bars, ``per_day`` a day from 09:15 IST, on consecutive days."""
    rng = np.random.default_rng(seed)
    close = np.asarray(walk(n, seed), dtype=np.int64)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.integers(0, 200, n) // 5 * 5
    low = np.minimum(open_, close) - rng.integers(0, 200, n) // 5 * 5
    day0 = 1_709_510_400 - IST_OFFSET_SECONDS + (9 * 60 + 15) * 60  # 2024-03-04 09:15 IST
    i = np.arange(n)
    start = day0 + (i // per_day) * 86_400 + (i % per_day) * 60
    return CandleSeries.from_arrays(start, open_, high, low, close, rng.integers(0, 3000, n))


def test_vwap_restarts_each_ist_day():
    bars = minute_bars(900, per_day=300)
    got = vwap(bars.high, bars.low, bars.close, bars.volume, bars.start)
    want, pv, v = [], 0.0, 0.0
    for i in range(len(bars)):
        if i % 300 == 0:
            pv = v = 0.0
        tp = (bars.high[i] + bars.low[i] + bars.close[i]) / 3
        pv += tp * bars.volume[i]
        v += bars.volume[i]
        want.append(pv / v if v else NAN)
    close_enough(got, want)
    assert np.allclose(VWAP().compute(bars)["vwap"], got, equal_nan=True)


ALL = [SMA(10), EMA(21), VWAP(), BollingerBands(20, 2.5), RSI(14), MACD(12, 26, 9)]


@pytest.mark.parametrize("indicator", ALL, ids=lambda i: i.label)
def test_tail_update_equals_full_recompute(indicator):
    full = minute_bars(2000, per_day=375)
    bars = CandleSeries.from_arrays(full.start[:1500], full.open[:1500], full.high[:1500], full.low[:1500],
                                    full.close[:1500], full.volume[:1500])
    lines = indicator.compute(bars)
    rng = np.random.default_rng(9)
    for i in range(1500, 2000):
        first_changed = len(bars) - 1
        if rng.random() < 0.5:  # a new bar opens...
            bars.append(full.candle(i))
            first_changed = len(bars) - 1
        else:  # ...or the forming bar changes
            last = bars.last()
            close = last.close + int(rng.integers(-50, 51)) * 5
            bars.replace_last(Candle(last.start, last.open, max(last.high, close), min(last.low, close), close,
                                     last.volume + 10))
        lines = indicator.update_tail(bars, lines, first_changed)
    want = indicator.compute(bars)
    assert set(lines) == set(want)
    for name in want:
        close_enough(lines[name], want[name])


def test_tail_update_before_warmup_falls_back_to_full():
    bars = minute_bars(10)
    ind = EMA(20)
    lines = ind.compute(bars)
    bars.append(Candle(int(bars.start[-1]) + 60, 2_000_000, 2_000_100, 1_999_900, 2_000_050, 5))
    close_enough(ind.update_tail(bars, lines, len(bars) - 1)["ema"], ind.compute(bars)["ema"])


def test_indicator_round_trip_and_bad_params():
    for ind in ALL:
        again = indicator_from_dict(ind.to_dict())
        assert type(again) is type(ind) and again.params == ind.params
    with pytest.raises(ValueError, match="unknown indicator"):
        indicator_from_dict({"kind": "ZIGZAG"})
    with pytest.raises(ValueError):
        SMA(0)
    with pytest.raises(ValueError, match="shorter"):
        MACD(26, 12)
