from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal.domain import Exchange
from terminal.sim.calendar import IST
from terminal.sim.history import Bars


def _minutes(candles):
    return [datetime.fromtimestamp(c.start, IST) for c in candles]


def test_thirty_days_of_session_bars_before_the_start(exchange, clock):
    end = clock.now
    candles = exchange.history("NSE:2885", 1, end - timedelta(days=45), end)
    times = _minutes(candles)
    days = sorted({t.date() for t in times})
    assert len(days) >= 30
    assert all(t.weekday() < 5 for t in times)
    for day in days[1:-1]:  # every session inside the window has 375 bars 09:15..15:29
        bars = [t for t in times if t.date() == day]
        assert len(bars) == 375
        assert (bars[0].hour, bars[0].minute) == (9, 15) and (bars[-1].hour, bars[-1].minute) == (15, 29)
    # The start day (Monday 11:00) has its 105 complete minutes, then the live bar.
    assert sum(t.date() == end.date() for t in times) == 105 + 1


def test_last_bar_closes_at_the_live_price_and_stream_continues(exchange, clock):
    key = exchange.find_instrument(Exchange.NFO, "NIFTY26DEC25500CE").key
    for k in ("NSE:26000", "NSE:2885", key):
        candles = exchange.history(k, 1, clock.now - timedelta(days=2), clock.now)
        assert candles[-1].close == exchange.quote(k).ltp
    for _ in range(150):
        clock.advance(1)
        exchange.step(keys=["NSE:26000"])
    candles = exchange.history("NSE:26000", 1, clock.now - timedelta(minutes=10), clock.now)
    assert candles[-1].close == exchange.quote("NSE:26000").ltp
    assert [c.start for c in candles[-3:]] == [c.start for c in candles[-3:]]  # ordered below
    starts = [c.start for c in candles]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # Live bars follow the generated ones minute by minute, with no jump between them.
    assert abs(candles[-1].open - candles[-2].close) / candles[-2].close < 0.002


def test_generated_history_joins_the_first_live_price(exchange, clock):
    candles = exchange.history("NSE:26000", 1, clock.now - timedelta(hours=1), clock.now)
    generated_last = candles[-2]
    first_live = candles[-1]
    assert first_live.open == generated_last.close


def test_bars_are_consistent_and_on_the_tick_grid(exchange, clock):
    key = exchange.find_instrument(Exchange.NFO, "BANKNIFTY26DEC55500PE").key
    for k in ("NSE:26009", key, "NSE:1594"):
        for c in exchange.history(k, 1, clock.now - timedelta(days=40), clock.now):
            assert c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
            assert c.low > 0 and all(p % 5 == 0 for p in (c.open, c.high, c.low, c.close))


def test_option_history_follows_the_underlying(exchange, clock):
    call = exchange.find_instrument(Exchange.NFO, "NIFTY26DEC25500CE").key
    start = clock.now - timedelta(days=20)
    spot = np.array([c.close for c in exchange.history("NSE:26000", 60, start, clock.now)], dtype=float)
    option = np.array([c.close for c in exchange.history(call, 60, start, clock.now)], dtype=float)
    assert len(spot) == len(option)
    assert np.corrcoef(np.diff(spot), np.diff(option))[0, 1] > 0.8


@pytest.mark.parametrize("interval", [3, 5, 15, 30, 60, 1440])
def test_resampling_matches_the_one_minute_bars(exchange, clock, interval):
    start, end = clock.now - timedelta(days=10), clock.now
    ones = exchange.history("NSE:11536", 1, start - timedelta(days=1), end)
    bars = exchange.history("NSE:11536", interval, start, end)
    assert bars
    for bar in bars[:-1]:
        span = interval * 60 if interval != 1440 else 86_400
        inside = [c for c in ones if bar.start <= c.start < bar.start + span]
        assert inside[0].open == bar.open and inside[-1].close == bar.close
        assert max(c.high for c in inside) == bar.high and min(c.low for c in inside) == bar.low
        assert sum(c.volume for c in inside) == bar.volume
    if interval == 60:
        first_of_day = [datetime.fromtimestamp(b.start, IST) for b in bars][0]
        assert (first_of_day.hour, first_of_day.minute) in {(9, 15), (10, 15), (11, 15), (12, 15), (13, 15),
                                                             (14, 15), (15, 15)}
    if interval == 1440:
        assert all(datetime.fromtimestamp(b.start, IST).hour == 0 for b in bars)


def test_history_rejects_unknown_interval_and_naive_times(exchange, clock):
    with pytest.raises(ValueError):
        exchange.history("NSE:26000", 7, clock.now - timedelta(days=1), clock.now)
    with pytest.raises(ValueError):
        exchange.history("NSE:26000", 5, datetime(2026, 11, 1), clock.now)


def test_history_is_deterministic_for_a_seed(clock):
    from terminal.sim.exchange import SimulatedExchange

    a = SimulatedExchange(seed=5, clock=clock).history("NSE:2885", 15, clock.now - timedelta(days=30), clock.now)
    b = SimulatedExchange(seed=5, clock=clock).history("NSE:2885", 15, clock.now - timedelta(days=30), clock.now)
    assert a == b


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 1000), st.floats(0, 50), st.floats(0, 50), st.integers(0, 1000)),
                min_size=1, max_size=200),
       st.sampled_from([3, 5, 15, 30, 60, 1440]))
def test_resample_conserves_volume_and_extremes(rows, interval):
    base = int(datetime(2026, 11, 20, 9, 15, tzinfo=IST).timestamp())
    starts = base + 60 * np.arange(len(rows), dtype=np.int64)
    close = np.array([r[0] for r in rows])
    high = close + np.array([r[1] for r in rows])
    low = close - np.array([r[2] for r in rows])
    volume = np.array([r[3] for r in rows], dtype=np.int64)
    bars = Bars(starts, close, high, low, close, volume, np.zeros(len(rows), dtype=np.int64))
    out = bars.resample(interval)
    assert out.volume.sum() == volume.sum()
    assert out.high.max() == high.max() and out.low.min() == low.min()
    assert out.open[0] == close[0] and out.close[-1] == close[-1]
