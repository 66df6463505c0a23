import numpy as np
import pytest

from terminal.domain import Exchange, InstrumentKind
from terminal.sim.exchange import SimulatedExchange


def _step_all(exchange, clock, keys, steps=5, seconds=1.0):
    for _ in range(steps):
        clock.advance(seconds)
        exchange.step(keys=keys)


def _sample_keys(exchange):
    insts = exchange.instruments()
    return [i.key for i in insts if i.kind is not InstrumentKind.OPTION] + \
           [i.key for i in insts if i.is_option][::7]


def test_prices_on_tick_grid_books_sorted_and_not_crossed(exchange, clock):
    keys = _sample_keys(exchange)
    _step_all(exchange, clock, keys)
    for tick in exchange.quotes(keys):
        inst = exchange.instrument(tick.key)
        assert tick.ltp > 0 and tick.ltp % 5 == 0
        assert tick.close > 0 and tick.close % 5 == 0
        if inst.kind is InstrumentKind.INDEX:
            assert not tick.bids and not tick.asks
            continue
        assert tick.asks and tick.bids
        assert tick.bids[0].price < tick.asks[0].price
        bids = [lv.price for lv in tick.bids]
        asks = [lv.price for lv in tick.asks]
        assert bids == sorted(bids, reverse=True) and len(set(bids)) == len(bids)
        assert asks == sorted(asks) and len(set(asks)) == len(asks)
        for level in tick.bids + tick.asks:
            assert level.price % 5 == 0 and level.price > 0
            assert level.quantity > 0 and level.quantity % inst.lot_size == 0
        assert tick.low <= tick.ltp <= tick.high


def test_index_levels_realistic(exchange):
    assert 24_500_00 <= exchange.quote("NSE:26000").ltp <= 26_000_00
    assert 52_000_00 <= exchange.quote("NSE:26009").ltp <= 57_000_00
    assert 24_000_00 <= exchange.quote("NSE:26037").ltp <= 27_000_00


def test_futures_trade_near_the_carry_forward(exchange):
    nifty = exchange.quote("NSE:26000").ltp
    near = exchange.quote(exchange.find_instrument(Exchange.NFO, "NIFTY26NOVFUT").key).ltp
    far = exchange.quote(exchange.find_instrument(Exchange.NFO, "NIFTY26DECFUT").key).ltp
    assert abs(near / nifty - 1) < 0.002  # one day of carry plus basis noise
    assert far > near  # a month more of carry at 6.5%
    assert 0.002 < far / nifty - 1 < 0.01


def test_options_consistent_with_underlying(exchange):
    fut = exchange.quote(exchange.find_instrument(Exchange.NFO, "NIFTY26DECFUT").key).ltp / 100
    strikes = range(24_000, 27_001, 500)
    calls = [exchange.quote(exchange.find_instrument(Exchange.NFO, f"NIFTY26DEC{k}CE").key).ltp / 100 for k in strikes]
    puts = [exchange.quote(exchange.find_instrument(Exchange.NFO, f"NIFTY26DEC{k}PE").key).ltp / 100 for k in strikes]
    assert calls == sorted(calls, reverse=True) and puts == sorted(puts)
    for k, c, p in zip(strikes, calls, puts):
        # Put-call parity on the forward, within the spread and a little noise.
        assert c - p == pytest.approx((fut - k) * np.exp(-0.065 * 36 / 365), abs=0.03 * (c + p) + 5)
        assert c >= max(fut - k, 0) * 0.97 and p >= max(k - fut, 0) * 0.97


def test_put_skew_out_of_the_money_puts_are_richer(exchange):
    fut = exchange.quote(exchange.find_instrument(Exchange.NFO, "NIFTY26DECFUT").key).ltp / 100
    atm = round(fut / 50) * 50
    put = exchange.quote(exchange.find_instrument(Exchange.NFO, f"NIFTY26DEC{atm - 1000}PE").key).ltp
    call = exchange.quote(exchange.find_instrument(Exchange.NFO, f"NIFTY26DEC{atm + 1000}CE").key).ltp
    assert put > call


def test_far_otm_spreads_wider_in_ticks_than_liquid_ones(exchange, clock):
    fut = exchange.quote(exchange.find_instrument(Exchange.NFO, "NIFTY26DECFUT").key).ltp / 100
    atm = round(fut / 50) * 50
    near = exchange.find_instrument(Exchange.NFO, f"NIFTY26DEC{atm + 100}CE").key
    far = exchange.find_instrument(Exchange.NFO, f"NIFTY26DEC{atm + 2000}CE").key
    spreads = {near: [], far: []}
    for _ in range(30):
        clock.advance(2)
        exchange.step(keys=[near, far])
        for key in spreads:
            t = exchange.quote(key)
            spreads[key].append((t.asks[0].price - t.bids[0].price) / t.asks[0].price)
    assert np.mean(spreads[far]) > np.mean(spreads[near])


def test_reproducible_with_a_seed(clock):
    def run():
        c = type(clock)(clock.now)
        ex = SimulatedExchange(seed=11, clock=c)
        keys = [i.key for i in ex.instruments()][:200]
        out = []
        for _ in range(5):
            c.advance(1)
            out += [(t.key, t.ltp, t.volume, t.bids, t.asks) for t in ex.step(keys=keys).ticks]
        return out

    assert run() == run()


def test_different_seeds_differ(clock):
    a = SimulatedExchange(seed=1, clock=clock).quote("NSE:26000").ltp
    b = SimulatedExchange(seed=2, clock=clock).quote("NSE:26000").ltp
    assert a != b


def test_tick_rate_controls_how_often_an_instrument_updates(clock):
    slow = SimulatedExchange(seed=3, clock=clock, ticks_per_second=0.5)
    keys = [i.key for i in slow.instruments() if i.is_option][:400]
    slow.step(keys=keys)  # first quote of everything
    clock.advance(0.1)
    count = len(slow.step(keys=keys).ticks)
    # 400 instruments, each with probability 1 - exp(-0.05) ~ 4.9%
    assert 5 <= count <= 45


def test_volume_and_open_interest_move_with_trades(exchange, clock):
    key = exchange.find_instrument(Exchange.NFO, "NIFTY26NOVFUT").key
    first = exchange.quote(key)
    _step_all(exchange, clock, [key], steps=20)
    last = exchange.quote(key)
    assert last.volume > first.volume
    assert last.open_interest_day_open == first.open_interest_day_open > 0
    assert last.open_interest != last.open_interest_day_open


def test_ticks_since_gives_each_client_what_changed(exchange, clock):
    keys = _sample_keys(exchange)[:50]
    ticks, cursor = exchange.ticks_since(0, keys)
    exchange.quotes(keys)
    ticks, cursor = exchange.ticks_since(0, keys)
    assert {t.key for t in ticks} == set(keys)
    again, cursor2 = exchange.ticks_since(cursor, keys)
    assert again == [] and cursor2 == cursor
    clock.advance(5)
    changed = exchange.step(keys=keys).ticks
    later, _ = exchange.ticks_since(cursor, keys)
    assert {t.key for t in later} == {t.key for t in changed}
