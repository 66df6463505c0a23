"""Strategy builders, payoff shapes, risk summary, net greeks and the hedge-first placing order."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from terminal.analytics.expiry import IST
from terminal.analytics.greeks import black76_price
from terminal.analytics.strategies import (
    ChainQuote,
    Leg,
    OptionChain,
    StrategyError,
    bear_put_spread,
    bull_call_spread,
    covered_call,
    hedge_first,
    iron_butterfly,
    iron_condor,
    long_straddle,
    long_strangle,
    net_greeks,
    net_premium,
    payoff_at_expiry,
    payoff_summary,
    pnl_at,
    price_grid,
    ratio_call_spread,
    short_straddle,
    short_strangle,
    zero_crossings,
)
from terminal.domain.enums import OptionType, Side
from terminal.domain.orders import OrderRequest

CE, PE = OptionType.CALL, OptionType.PUT
EXPIRY = datetime(2025, 11, 27, 15, 30, tzinfo=IST)
NOW = datetime(2025, 11, 20, 15, 30, tzinfo=IST)  # seven days before expiry
FORWARD = 2_400_000  # paise: NIFTY at 24,000
STEP = 5_000  # 50-point strikes
LOT = 75
VOL = 0.15


def _chain(forward: int = FORWARD, vol: float = VOL) -> OptionChain:
    """A chain priced by Black-76 (rate 0, so the grid is the forward), premiums on 5-paise ticks."""
    years = 7 / 365
    options = {}
    for i in range(-20, 21):
        strike = FORWARD + i * STEP
        for option_type in (CE, PE):
            price = float(black76_price(forward, strike, years, 0.0, vol, option_type is CE))
            premium = max(5, int(round(price / 5)) * 5)
            options[(strike, option_type)] = ChainQuote(f"NFO:{strike // 100}{option_type.value}", premium, vol)
    future = ChainQuote("NFO:FUT", forward)
    return OptionChain(EXPIRY, FORWARD, STEP, LOT, options, future)


CHAIN = _chain()


def _brute_force_payoff(legs, grid):
    total = np.zeros_like(grid, dtype=float)
    for leg in legs:
        for i, s in enumerate(grid):
            if leg.option_type is None:
                value = s
            elif leg.option_type is CE:
                value = max(s - leg.strike, 0)
            else:
                value = max(leg.strike - s, 0)
            total[i] += (1 if leg.side is Side.BUY else -1) * leg.quantity * (value - leg.premium)
    return total


# --- legs ---------------------------------------------------------------------------------------------


GOOD_LEG = dict(instrument_key="NFO:1", side=Side.BUY, quantity=75, expiry=EXPIRY, premium=10_000,
                option_type=CE, strike=FORWARD, lot_size=75, iv=0.15)


def test_a_good_leg_is_accepted():
    assert Leg(**GOOD_LEG).lots == 1


@pytest.mark.parametrize("change", [
    dict(quantity=80),  # not whole lots
    dict(quantity=0),
    dict(premium=-5),
    dict(expiry=datetime(2025, 11, 27, 15, 30)),  # naive
    dict(expiry=datetime(2025, 11, 27).date()),  # a day, not the expiry moment
    dict(strike=None),  # an option without a strike
    dict(option_type=None),  # a future with a strike
    dict(side="BUY"),
    dict(iv=float("nan")),
    dict(option_type="CE"),
], ids=str)
def test_leg_refuses_bad_input(change):
    with pytest.raises(StrategyError):
        Leg(**{**GOOD_LEG, **change})


def test_leg_lots_and_signed_quantity():
    leg = CHAIN.option_leg(Side.SELL, 0, CE, lots=3)
    assert leg.quantity == 225 and leg.lots == 3 and leg.signed_quantity == -225
    assert leg.strike == FORWARD and leg.premium == CHAIN.options[(FORWARD, CE)].premium and leg.iv == VOL


# --- builders -----------------------------------------------------------------------------------------


def _shape(legs):
    return [(leg.side, (leg.strike - FORWARD) // STEP if leg.strike else None, leg.option_type, leg.lots) for leg in legs]


def test_builders_pick_the_right_strikes_and_sides():
    B, S = Side.BUY, Side.SELL
    assert _shape(long_straddle(CHAIN, lots=2)) == [(B, 0, CE, 2), (B, 0, PE, 2)]
    assert _shape(short_straddle(CHAIN)) == [(S, 0, CE, 1), (S, 0, PE, 1)]
    assert _shape(short_strangle(CHAIN, width=3)) == [(S, 3, CE, 1), (S, -3, PE, 1)]
    assert _shape(long_strangle(CHAIN, width=2)) == [(B, 2, CE, 1), (B, -2, PE, 1)]
    assert _shape(bull_call_spread(CHAIN, width=4)) == [(B, 0, CE, 1), (S, 4, CE, 1)]
    assert _shape(bear_put_spread(CHAIN, width=4)) == [(B, 0, PE, 1), (S, -4, PE, 1)]
    assert _shape(iron_condor(CHAIN, distance=4, wing=2)) == [(B, -6, PE, 1), (S, -4, PE, 1), (S, 4, CE, 1),
                                                              (B, 6, CE, 1)]
    assert _shape(iron_butterfly(CHAIN, wing=5)) == [(B, -5, PE, 1), (S, 0, PE, 1), (S, 0, CE, 1), (B, 5, CE, 1)]
    assert _shape(covered_call(CHAIN, width=2)) == [(B, None, None, 1), (S, 2, CE, 1)]
    assert _shape(ratio_call_spread(CHAIN, width=2, lots=2)) == [(B, 0, CE, 2), (S, 2, CE, 4)]


def test_builders_refuse_missing_strikes_and_bad_widths():
    with pytest.raises(StrategyError, match="no 25050 CE"):
        short_strangle(CHAIN, width=21)
    with pytest.raises(StrategyError):
        iron_condor(CHAIN, distance=0)
    with pytest.raises(StrategyError):
        long_straddle(CHAIN, lots=0)
    with pytest.raises(StrategyError):
        covered_call(replace(CHAIN, future=None))


# --- payoff shapes ---------------------------------------------------------------------------------------


ALL_STRATEGIES = {
    "long straddle": long_straddle(CHAIN),
    "short straddle": short_straddle(CHAIN, lots=2),
    "short strangle": short_strangle(CHAIN, width=3),
    "bull call spread": bull_call_spread(CHAIN, width=4),
    "bear put spread": bear_put_spread(CHAIN, width=4),
    "iron condor": iron_condor(CHAIN, distance=4, wing=2),
    "iron butterfly": iron_butterfly(CHAIN, wing=5),
    "covered call": covered_call(CHAIN, width=2),
    "ratio call spread": ratio_call_spread(CHAIN, width=2),
}


@pytest.mark.parametrize("name", sorted(ALL_STRATEGIES))
def test_payoff_matches_leg_by_leg_sum_and_summary_matches_a_dense_grid(name):
    legs = ALL_STRATEGIES[name]
    grid = np.arange(0, 2 * FORWARD + 1, 500, dtype=float)  # every 5 rupees from 0 to 48,000
    payoff = payoff_at_expiry(legs, grid)
    np.testing.assert_allclose(payoff, _brute_force_payoff(legs, grid))
    summary = payoff_summary(legs)
    if not summary.unlimited_profit:
        assert summary.max_profit == pytest.approx(payoff.max())
    if not summary.unlimited_loss:
        assert summary.max_loss == pytest.approx(payoff.min())
    for breakeven in summary.breakevens:
        assert float(payoff_at_expiry(legs, breakeven)) == pytest.approx(0.0, abs=1e-6)
    assert len(summary.breakevens) == len(zero_crossings(grid, payoff))


def test_iron_condor_max_loss_is_wing_width_less_credit():
    legs = iron_condor(CHAIN, distance=4, wing=2)
    quantity = LOT
    credit = net_premium(legs)
    assert credit > 0
    summary = payoff_summary(legs)
    wing_width = 2 * STEP * quantity
    assert summary.max_loss == -(wing_width - credit)
    assert summary.max_profit == credit
    credit_per_unit = credit / quantity
    assert summary.breakevens == pytest.approx((FORWARD - 4 * STEP - credit_per_unit, FORWARD + 4 * STEP + credit_per_unit))
    assert not summary.unlimited_loss and not summary.unlimited_profit


def test_iron_butterfly_breakevens_sit_the_credit_either_side_of_atm():
    legs = iron_butterfly(CHAIN, wing=5)
    credit_per_unit = net_premium(legs) / LOT
    summary = payoff_summary(legs)
    assert summary.breakevens == pytest.approx((FORWARD - credit_per_unit, FORWARD + credit_per_unit))
    assert summary.max_loss == pytest.approx(-(5 * STEP * LOT - net_premium(legs)))


def test_straddles_long_has_unlimited_profit_short_has_unlimited_loss():
    long_summary = payoff_summary(long_straddle(CHAIN))
    debit = -long_summary.net_premium
    assert debit > 0
    assert long_summary.unlimited_profit and long_summary.max_loss == -debit
    assert long_summary.breakevens == pytest.approx((FORWARD - debit / LOT, FORWARD + debit / LOT))
    short_summary = payoff_summary(short_straddle(CHAIN))
    assert short_summary.unlimited_loss and short_summary.max_profit == debit


def test_debit_spreads_are_capped_both_ways():
    bull = payoff_summary(bull_call_spread(CHAIN, width=4))
    debit = -bull.net_premium
    assert bull.max_profit == 4 * STEP * LOT - debit and bull.max_loss == -debit
    assert bull.breakevens == pytest.approx((FORWARD + debit / LOT,))
    bear = payoff_summary(bear_put_spread(CHAIN, width=4))
    debit = -bear.net_premium
    assert bear.max_profit == 4 * STEP * LOT - debit and bear.max_loss == -debit
    assert bear.breakevens == pytest.approx((FORWARD - debit / LOT,))


def test_covered_call_and_ratio_spread_limits():
    covered = payoff_summary(covered_call(CHAIN, width=2))
    assert not covered.unlimited_profit and not covered.unlimited_loss
    call_premium = CHAIN.options[(FORWARD + 2 * STEP, CE)].premium
    assert covered.max_profit == (2 * STEP + call_premium) * LOT
    assert covered.max_loss == -(FORWARD - call_premium) * LOT  # the underlying going to zero
    assert covered.net_premium == call_premium * LOT  # the future's price is not a premium
    ratio = payoff_summary(ratio_call_spread(CHAIN, width=2))
    assert ratio.unlimited_loss and not ratio.unlimited_profit


def test_calendar_needs_pnl_at():
    later = replace(CHAIN, expiry=EXPIRY + timedelta(days=7))
    legs = [CHAIN.option_leg(Side.SELL, 0, CE, 1), later.option_leg(Side.BUY, 0, CE, 1)]
    with pytest.raises(StrategyError, match="calendar"):
        payoff_at_expiry(legs, FORWARD)
    with pytest.raises(StrategyError):
        payoff_summary(legs)
    at_first_expiry = pnl_at(legs, np.array([FORWARD - 50_000, FORWARD, FORWARD + 50_000], dtype=float), EXPIRY)
    assert at_first_expiry[1] == at_first_expiry.max()  # a calendar does best at the strike


def test_no_legs_is_an_error():
    with pytest.raises(StrategyError):
        payoff_summary([])


# --- value before expiry and greeks ---------------------------------------------------------------------


def test_pnl_now_is_near_zero_at_entry_and_equals_payoff_at_expiry():
    legs = iron_condor(CHAIN, distance=4, wing=2)
    now = float(pnl_at(legs, FORWARD, NOW))
    assert abs(now) <= 4 * 2.5 * LOT  # only the rounding of each premium to a 5-paise tick
    grid = price_grid(legs, FORWARD)
    np.testing.assert_allclose(pnl_at(legs, grid, EXPIRY), payoff_at_expiry(legs, grid), atol=1e-6)
    np.testing.assert_allclose(pnl_at(legs, grid, EXPIRY + timedelta(days=1)), payoff_at_expiry(legs, grid), atol=1e-6)


def test_pnl_before_expiry_needs_an_iv():
    leg = replace(CHAIN.option_leg(Side.BUY, 0, CE, 1), iv=None)
    with pytest.raises(StrategyError, match="implied vol"):
        pnl_at([leg], FORWARD, NOW)
    assert float(pnl_at([leg], FORWARD + 10_000, EXPIRY)) == (10_000 - leg.premium) * LOT


@pytest.mark.parametrize("rate", [0.0, 0.065])
@pytest.mark.parametrize("name", sorted(ALL_STRATEGIES))
def test_net_greeks_match_finite_differences_of_pnl(name, rate):
    legs = ALL_STRATEGIES[name]
    g = net_greeks(legs, float(FORWARD), NOW, rate)
    h = 100.0  # one rupee
    up, mid, down = (float(pnl_at(legs, FORWARD + d, NOW, rate)) for d in (h, 0.0, -h))
    assert float(g.delta) == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-3)
    assert float(g.gamma) == pytest.approx((up - 2 * mid + down) / (h * h), rel=1e-3, abs=1e-8)
    hour = timedelta(hours=1)
    theta = (float(pnl_at(legs, FORWARD, NOW + hour, rate)) - float(pnl_at(legs, FORWARD, NOW - hour, rate))) * 12
    assert float(g.theta) == pytest.approx(theta, rel=1e-3, abs=1.0)
    def bumped(dv):
        return [replace(leg, iv=leg.iv + dv) if leg.iv else leg for leg in legs]

    vega = (float(pnl_at(bumped(0.001), FORWARD, NOW, rate)) - float(pnl_at(bumped(-0.001), FORWARD, NOW, rate))) * 5
    assert float(g.vega) == pytest.approx(vega, rel=1e-3, abs=1.0)


def test_short_premium_strategies_earn_theta_and_are_short_vega():
    g = net_greeks(short_straddle(CHAIN), np.array([FORWARD - 20_000, FORWARD, FORWARD + 20_000], dtype=float), NOW)
    assert g.delta.shape == (3,)
    assert (g.theta > 0).all() and (g.vega < 0).all() and (g.gamma < 0).all()
    assert g.delta[0] > 0 > g.delta[2]


# --- hedge first ----------------------------------------------------------------------------------------


def test_hedge_first_sends_every_buy_before_any_sell_keeping_order_otherwise():
    legs = [CHAIN.option_leg(Side.SELL, -4, PE, 1), CHAIN.option_leg(Side.BUY, -6, PE, 1),
            CHAIN.option_leg(Side.SELL, 4, CE, 1), CHAIN.option_leg(Side.BUY, 6, CE, 1)]
    ordered = hedge_first(legs)
    assert [leg.side for leg in ordered] == [Side.BUY, Side.BUY, Side.SELL, Side.SELL]
    assert ordered == [legs[1], legs[3], legs[0], legs[2]]
    assert sorted(map(id, ordered)) == sorted(map(id, legs))
    assert hedge_first([]) == []
    assert hedge_first(iter(legs)) == ordered


def test_hedge_first_on_exit_buys_back_shorts_before_selling_the_hedges():
    exit_orders = [
        OrderRequest("paper:SIM001", "NFO:LONGPE", Side.SELL, 75),
        OrderRequest("paper:SIM001", "NFO:SHORTPE", Side.BUY, 75),
        OrderRequest("paper:SIM001", "NFO:SHORTCE", Side.BUY, 75),
        OrderRequest("paper:SIM001", "NFO:LONGCE", Side.SELL, 75),
    ]
    ordered = hedge_first(exit_orders)
    assert [o.instrument_key for o in ordered] == ["NFO:SHORTPE", "NFO:SHORTCE", "NFO:LONGPE", "NFO:LONGCE"]


def test_every_prefix_of_a_hedge_first_iron_condor_has_bounded_loss():
    """Stopping after any number of orders (a rejection part way) never leaves unlimited risk."""
    ordered = hedge_first(iron_condor(CHAIN, distance=4, wing=2))
    for n in range(1, len(ordered) + 1):
        assert not payoff_summary(ordered[:n]).unlimited_loss
    # ...whereas the builder's own order would leave a naked short call after three orders.
    unordered = iron_condor(CHAIN, distance=4, wing=2)
    assert payoff_summary(unordered[:3]).unlimited_loss


# --- grids ----------------------------------------------------------------------------------------------


def test_zero_crossings_and_price_grid():
    assert zero_crossings([0, 1, 2, 3], [-1, 1, 1, 0]) == [0.5, 3.0]
    with pytest.raises(StrategyError):
        zero_crossings([0, 1], [1, 2, 3])
    legs = short_strangle(CHAIN, width=3)
    grid = price_grid(legs, FORWARD, span=0.001, points=11)
    assert np.all(np.diff(grid) > 0)
    assert {FORWARD - 3 * STEP, FORWARD + 3 * STEP} <= set(grid.astype(int))
    with pytest.raises(StrategyError):
        price_grid(legs, FORWARD, span=0.0)
    assert math.isclose(grid.min(), FORWARD - 3 * STEP)
