"""Candle store, tick aggregation on IST minutes, and resampling against a plain-Python reference."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from terminal.analytics.candles import (
    CandleBuilder, CandleSeries, bucket_start, ist_day_start, last_bucket, resample,
)
from terminal.domain import Candle, Tick

IST = timezone(timedelta(hours=5, minutes=30))


def ist(y, mo, d, h, mi, s=0) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=IST).timestamp())


def random_minute_bars(days: int = 5, seed: int = 1, start_day=(2024, 3, 4)) -> list[Candle]:
    """A random walk of 1-minute bars, 09:15-15:29 IST on weekdays (375 bars a day)."""
    rng = np.random.default_rng(seed)
    bars, price = [], 2_000_000
    day = datetime(*start_day, tzinfo=IST)
    made = 0
    while made < days:
        if day.weekday() < 5:
            open_at = int(day.replace(hour=9, minute=15).timestamp())
            for m in range(375):
                o = price
                steps = rng.integers(-300, 301, size=4)
                path = o + np.cumsum(steps) // 5 * 5
                c = int(path[-1])
                bars.append(Candle(open_at + 60 * m, o, int(max(o, path.max())), int(min(o, path.min())), c,
                                   int(rng.integers(0, 5000)), int(rng.integers(0, 10**6))))
                price = c
            made += 1
        day += timedelta(days=1)
    return bars


# --- CandleSeries ---------------------------------------------------------------------------

def test_series_round_trips_candles_and_grows():
    bars = random_minute_bars(2)
    series = CandleSeries(capacity=16)
    for bar in bars:
        series.append(bar)
    assert len(series) == len(bars)
    assert series.to_candles() == bars
    assert series.candle(-1) == bars[-1]
    assert CandleSeries.from_candles(bars).to_candles() == bars


def test_series_upsert_replaces_forming_bar_and_rejects_older():
    bars = random_minute_bars(1)[:3]
    series = CandleSeries.from_candles(bars[:2])
    changed = Candle(bars[1].start, bars[1].open, bars[1].high + 100, bars[1].low, bars[1].close + 100)
    assert series.upsert(changed) is False
    assert series.last() == changed and len(series) == 2
    assert series.upsert(bars[2]) is True and len(series) == 3
    with pytest.raises(ValueError, match="not after"):
        series.upsert(bars[0])


def test_series_rejects_inconsistent_bar_and_unsorted_history():
    with pytest.raises(ValueError, match="inconsistent"):
        CandleSeries().append(Candle(0, 100, 90, 80, 95))
    with pytest.raises(ValueError, match="strictly increase"):
        CandleSeries.from_candles([Candle(60, 1, 1, 1, 1), Candle(0, 1, 1, 1, 1)])


# --- CandleBuilder --------------------------------------------------------------------------

def tick(t: int, ltp: int, volume: int, key="NFO:1", oi=0) -> Tick:
    return Tick(key=key, ltp=ltp, timestamp=float(t), volume=volume, open_interest=oi)


def test_builder_cuts_bars_on_ist_minutes_and_first_tick_opens():
    b = CandleBuilder()
    t0 = ist(2024, 3, 4, 9, 15, 0)
    b.on_tick(tick(t0 + 1, 10_000, 1_000))       # first tick ever: opens, adds no volume
    b.on_tick(tick(t0 + 20, 10_100, 1_050))
    b.on_tick(tick(t0 + 40, 9_950, 1_060))
    bar = b.on_tick(tick(t0 + 59, 10_020, 1_100))
    assert bar == Candle(t0, 10_000, 10_100, 9_950, 10_020, 100, 0)
    nxt = b.on_tick(tick(t0 + 60, 10_030, 1_130, oi=7))  # 09:16:00 belongs to the next bar
    assert nxt == Candle(t0 + 60, 10_030, 10_030, 10_030, 10_030, 30, 7)


def test_builder_volume_from_cumulative_day_volume_resets_on_new_ist_day():
    b = CandleBuilder()
    day1 = ist(2024, 3, 4, 15, 29, 30)
    b.on_tick(tick(day1, 10_000, 50_000))
    b.on_tick(tick(day1 + 10, 10_000, 50_400))
    day2 = ist(2024, 3, 5, 9, 15, 5)
    bar = b.on_tick(tick(day2, 10_500, 300))  # the exchange restarted the day count
    assert bar.volume == 300 and bar.open == 10_500


def test_builder_late_and_out_of_order_ticks_keep_volume_and_prices_honest():
    b = CandleBuilder()
    t0 = ist(2024, 3, 4, 10, 0, 0)
    b.on_tick(tick(t0 + 5, 10_000, 100))
    b.on_tick(tick(t0 + 65, 10_010, 150))
    late = b.on_tick(tick(t0 + 30, 20_000, 170))  # belongs to 10:00, arrives during 10:01
    assert late.start == t0 + 60 and late.high == 10_010 and late.volume == 70
    assert b.late_ticks == 1
    glitch = b.on_tick(tick(t0 + 70, 10_020, 160))  # smaller total: counts nothing
    assert glitch.volume == 70
    after = b.on_tick(tick(t0 + 75, 10_020, 200))  # counted from the highest total seen (170)
    assert after.volume == 100


def test_builder_batch_returns_closed_then_forming_bar_per_instrument():
    b = CandleBuilder()
    t0 = ist(2024, 3, 4, 11, 0, 0)
    out = b.update([tick(t0 + 1, 500, 10, key="A"), tick(t0 + 2, 700, 5, key="B"),
                    tick(t0 + 50, 510, 12, key="A"), tick(t0 + 61, 520, 20, key="A"),
                    tick(t0 + 3, 0, 5, key="B")])
    assert [(k, c.start) for k, c in out] == [("A", t0), ("B", t0), ("A", t0 + 60)]
    assert out[0][1].close == 510 and out[0][1].volume == 2
    assert out[2][1].volume == 8
    assert b.rejected_ticks == 1


# --- resampling -----------------------------------------------------------------------------

def reference_resample(bars: list[Candle], minutes: int) -> list[Candle]:
    """Group by the IST wall clock in plain Python."""
    groups: dict[int, list[Candle]] = {}
    for c in bars:
        local = datetime.fromtimestamp(c.start, IST)
        if minutes == 1440:
            key = int(local.replace(hour=0, minute=0, second=0).timestamp())
        else:
            open_ = local.replace(hour=9, minute=15, second=0)
            offset = int((local - open_).total_seconds()) // 60
            key = int((open_ + timedelta(minutes=(offset // minutes) * minutes)).timestamp())
        groups.setdefault(key, []).append(c)
    return [Candle(k, g[0].open, max(c.high for c in g), min(c.low for c in g), g[-1].close,
                   sum(c.volume for c in g), g[-1].open_interest) for k, g in groups.items()]


@pytest.mark.parametrize("minutes", [3, 5, 15, 30, 60, 1440])
def test_resample_matches_reference(minutes):
    bars = random_minute_bars(6, seed=minutes)
    # a pre-open bar and a hole inside the day, which must not shift later bars
    bars = [Candle(bars[0].start - 600, 2_000_000, 2_000_000, 2_000_000, 2_000_000, 1)] + bars[:100] + bars[130:]
    got = resample(CandleSeries.from_candles(bars), minutes)
    assert got.interval_minutes == minutes
    assert got.to_candles() == reference_resample(bars, minutes)


def test_hourly_bars_align_to_session_open_and_daily_to_ist_date():
    assert bucket_start(ist(2024, 3, 4, 10, 14, 59), 60) == ist(2024, 3, 4, 9, 15)
    assert bucket_start(ist(2024, 3, 4, 15, 29), 60) == ist(2024, 3, 4, 15, 15)
    assert bucket_start(ist(2024, 3, 4, 0, 10), 1440) == ist(2024, 3, 4, 0, 0)
    assert ist_day_start(ist(2024, 3, 4, 23, 59)) == ist(2024, 3, 4, 0, 0)  # 18:29 UTC, same IST date


def test_resample_refuses_finer_from_coarser():
    with pytest.raises(ValueError, match="cannot make"):
        resample(CandleSeries(interval_minutes=5), 3)


def test_last_bucket_equals_last_bar_of_full_resample():
    bars = random_minute_bars(3)
    series = CandleSeries.from_candles(bars[:-7])
    for minutes in (3, 5, 15, 30, 60, 1440):
        assert last_bucket(series, minutes) == resample(series, minutes).last()
