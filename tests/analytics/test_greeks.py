"""Prices, greeks and implied volatility against textbook values, identities and finite differences."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal.analytics.expiry import IST, expiry_moment, years_to_expiry
from terminal.analytics.greeks import (
    Greeks,
    black76_price,
    black_scholes_price,
    forward_from_parity,
    greeks,
    greeks_black76,
    implied_volatility,
    implied_volatility_black76,
)
from terminal.analytics import greeks as greeks_module

# --- textbook values -----------------------------------------------------------------------------


def test_hull_call_and_put_prices():
    # Hull, Options Futures and Other Derivatives, Example 15.6: S=42, K=40, r=10%, vol=20%, T=0.5.
    call, put = black_scholes_price(42.0, 40.0, 0.5, 0.10, 0.20, [True, False])
    assert call == pytest.approx(4.76, abs=0.005)
    assert put == pytest.approx(0.81, abs=0.005)


def test_hull_greeks_of_a_call():
    # Hull, chapter 19: S=49, K=50, r=5%, vol=20%, T=20 weeks. Hull quotes theta per year
    # (-4.31), vega per unit vol (12.1) and rho per unit rate (8.91); we quote per day,
    # per vol point and per 1% of rate.
    g = greeks(49.0, 50.0, 20 / 52, 0.05, 0.20, True)
    assert g.price == pytest.approx(2.40, abs=0.005)
    assert g.delta == pytest.approx(0.522, abs=0.0005)
    assert g.gamma == pytest.approx(0.066, abs=0.0005)
    assert g.theta == pytest.approx(-4.31 / 365, abs=0.005 / 365)
    assert g.vega == pytest.approx(0.121, abs=0.0005)
    assert g.rho == pytest.approx(0.0891, abs=0.00005)


def test_hull_implied_volatility():
    # Hull, chapter 15: a call worth 1.875 with S=21, K=20, r=10%, T=0.25 has an IV of 23.5%.
    iv = implied_volatility(1.875, 21.0, 20.0, 0.25, 0.10, True, tick=0.01)
    assert iv == pytest.approx(0.235, abs=0.0005)


# --- identities ----------------------------------------------------------------------------------

STRIKES = np.linspace(16000.0, 32000.0, 81)


@pytest.mark.parametrize("years", [1 / 365 / 24, 7 / 365, 0.25, 2.0])
@pytest.mark.parametrize("vol", [0.05, 0.18, 0.9])
def test_put_call_parity(years, vol):
    spot, rate = 24000.0, 0.065
    call = black_scholes_price(spot, STRIKES, years, rate, vol, True)
    put = black_scholes_price(spot, STRIKES, years, rate, vol, False)
    np.testing.assert_allclose(call - put, spot - STRIKES * np.exp(-rate * years), rtol=0, atol=1e-8 * spot)
    forward = spot * np.exp(rate * years)
    c76 = black76_price(forward, STRIKES, years, rate, vol, True)
    p76 = black76_price(forward, STRIKES, years, rate, vol, False)
    np.testing.assert_allclose(c76 - p76, np.exp(-rate * years) * (forward - STRIKES), rtol=0, atol=1e-8 * spot)


def test_put_and_call_share_gamma_and_vega_and_deltas_differ_by_one():
    g_call = greeks(24000.0, STRIKES, 0.1, 0.065, 0.2, True)
    g_put = greeks(24000.0, STRIKES, 0.1, 0.065, 0.2, False)
    np.testing.assert_allclose(g_call.gamma, g_put.gamma, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(g_call.vega, g_put.vega, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_call.delta - g_put.delta, 1.0, atol=1e-12)


# --- greeks against finite differences ------------------------------------------------------------

CASES = [  # (underlying, strike, years, rate, vol)
    (24000.0, 24000.0, 30 / 365, 0.065, 0.14),
    (24000.0, 22500.0, 7 / 365, 0.065, 0.22),
    (24000.0, 26000.0, 0.5, 0.07, 0.18),
    (51000.0, 50000.0, 2 / 365, 0.0, 0.35),
    (100.0, 130.0, 1.5, 0.1, 0.6),
]


def _finite_difference_greeks(price_fn, s, k, t, r, v, is_call) -> dict[str, float]:
    def p(s=s, t=t, r=r, v=v):
        return float(price_fn(s, k, t, r, v, is_call))

    ds, dt, dr, dv = s * 1e-4, 1e-6, 1e-6, 1e-6
    return {
        "delta": (p(s=s + ds) - p(s=s - ds)) / (2 * ds),
        "gamma": (p(s=s + ds) - 2 * p() + p(s=s - ds)) / (ds * ds),
        "theta": (p(t=t - dt) - p(t=t + dt)) / (2 * dt) / 365.0,  # calendar time passing shortens T
        "vega": (p(v=v + dv) - p(v=v - dv)) / (2 * dv) * 0.01,
        "rho": (p(r=r + dr) - p(r=r - dr)) / (2 * dr) * 0.01,
    }


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("model", ["black_scholes", "black76"])
def test_greeks_match_finite_differences(case, is_call, model):
    s, k, t, r, v = case
    price_fn, greeks_fn = ((black_scholes_price, greeks) if model == "black_scholes"
                           else (black76_price, greeks_black76))
    analytic = greeks_fn(s, k, t, r, v, is_call)
    numeric = _finite_difference_greeks(price_fn, s, k, t, r, v, is_call)
    assert float(analytic.price) == pytest.approx(float(price_fn(s, k, t, r, v, is_call)), rel=1e-12)
    for name, expected in numeric.items():
        got = float(getattr(analytic, name))
        scale = abs(expected) + 1e-6 * (1.0 if name != "gamma" else 1.0 / s)
        assert abs(got - expected) <= 2e-4 * scale, f"{name}: analytic {got} vs numeric {expected}"


def test_expired_options_are_worth_intrinsic_with_step_delta():
    g = greeks(24000.0, np.array([23000.0, 24000.0, 25000.0]), 0.0, 0.065, 0.2, True)
    np.testing.assert_allclose(g.price, [1000.0, 0.0, 0.0])
    np.testing.assert_allclose(g.delta, [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(g.gamma, 0.0)
    np.testing.assert_array_equal(g.theta, 0.0)
    np.testing.assert_array_equal(g.vega, 0.0)
    np.testing.assert_array_equal(g.rho, 0.0)
    put = greeks(24000.0, 25000.0, -0.01, 0.065, 0.2, False)
    assert float(put.price) == 1000.0 and float(put.delta) == -1.0


def test_bad_inputs_give_nan_greeks():
    g = greeks_black76([24000.0, -1.0, 24000.0, np.nan], [24000.0, 24000.0, 0.0, 24000.0], 0.1, 0.065,
                       [0.2, 0.2, 0.2, 0.2], True)
    assert np.isfinite(g.price[0])
    for field in g:
        assert np.isnan(field[1:]).all()
    assert np.isnan(greeks(24000.0, 24000.0, 0.1, 0.065, -0.1, True).price)


# --- implied volatility ----------------------------------------------------------------------------

GRID_YEARS = [1 / 365 / 24, 1 / 365, 7 / 365, 30 / 365, 0.5, 2.0]
GRID_VOLS = [0.03, 0.1, 0.2, 0.5, 1.5]


@pytest.mark.parametrize("years", GRID_YEARS)
@pytest.mark.parametrize("vol", GRID_VOLS)
def test_iv_round_trip_across_a_chain(years, vol):
    forward, rate = 24000.0, 0.065
    strikes = np.linspace(12000.0, 48000.0, 145)[:, None]  # deep ITM to deep OTM
    is_call = np.array([True, False])
    price = black76_price(forward, strikes, years, rate, vol, is_call)
    iv = implied_volatility_black76(price, forward, strikes, years, rate, is_call)
    assert iv.shape == (145, 2)
    discount = np.exp(-rate * years)
    time_value = price - discount * np.where(is_call, np.maximum(forward - strikes, 0), np.maximum(strikes - forward, 0))
    expected_solved = time_value >= 0.05
    np.testing.assert_array_equal(~np.isnan(iv), expected_solved)
    # Every solved price is reproduced to a fraction of a paisa...
    np.testing.assert_allclose(black76_price(forward, strikes, years, rate, iv, is_call)[expected_solved],
                               price[expected_solved], rtol=1e-9, atol=1e-7)
    # ...and where the price says anything about vol (vega of a paisa per point or more), vol is exact.
    vega = greeks_black76(forward, strikes, years, rate, vol, is_call).vega
    informative = expected_solved & (vega > 0.01)
    np.testing.assert_allclose(iv[informative], vol, rtol=1e-8)


def test_iv_round_trip_black_scholes_on_spot():
    spot, years, rate = 24000.0, 12 / 365, 0.07
    vols = np.array([0.11, 0.13, 0.15, 0.19])[:, None]
    strikes = np.array([23000.0, 23500.0, 24000.0, 24500.0, 25000.0])
    price = black_scholes_price(spot, strikes, years, rate, vols, False)
    iv = implied_volatility(price, spot, strikes, years, rate, False)
    np.testing.assert_allclose(iv, np.broadcast_to(vols, iv.shape), rtol=1e-9)


@settings(max_examples=300, deadline=None)
@given(
    moneyness=st.floats(min_value=-0.6, max_value=0.6),
    years=st.floats(min_value=1 / (365 * 24 * 4), max_value=3.0),
    vol=st.floats(min_value=0.02, max_value=3.0),
    rate=st.floats(min_value=0.0, max_value=0.12),
    is_call=st.booleans(),
)
def test_iv_round_trip_property(moneyness, years, vol, rate, is_call):
    forward = 24000.0
    strike = forward * np.exp(moneyness)
    price = float(black76_price(forward, strike, years, rate, vol, is_call))
    iv = float(implied_volatility_black76(price, forward, strike, years, rate, is_call))
    discount = np.exp(-rate * years)
    intrinsic = discount * max((forward - strike) if is_call else (strike - forward), 0.0)
    time_value = price - intrinsic
    upper = discount * (forward if is_call else strike)
    if time_value < 0.05 or price >= upper:
        assert np.isnan(iv)
        return
    assert np.isfinite(iv)
    assert float(black76_price(forward, strike, years, rate, iv, is_call)) == pytest.approx(price, rel=1e-9, abs=1e-7)
    vega = float(greeks_black76(forward, strike, years, rate, vol, is_call).vega)
    if vega > 0.01:
        assert iv == pytest.approx(vol, rel=1e-7)


def test_iv_nan_rules():
    forward, strike, years, rate = 24000.0, 24000.0, 30 / 365, 0.065
    discount = np.exp(-rate * years)
    itm_call_strike = 23000.0
    intrinsic = discount * 1000.0
    cases = {
        "below intrinsic": (intrinsic - 1.0, itm_call_strike, years, True),
        "time value under a tick": (intrinsic + 0.04, itm_call_strike, years, True),
        "zero price": (0.0, 26000.0, years, True),
        "call at the forward bound": (discount * forward, strike, years, True),
        "put above the strike bound": (discount * strike + 1.0, strike, years, False),
        "expired": (500.0, strike, 0.0, True),
        "negative time": (500.0, strike, -1.0, True),
        "nan price": (np.nan, strike, years, True),
    }
    for name, (price, k, t, call) in cases.items():
        assert np.isnan(implied_volatility_black76(price, forward, k, t, rate, call)), name
    # exactly one tick of time value is still solved
    assert np.isfinite(implied_volatility_black76(intrinsic + 0.05, forward, itm_call_strike, years, rate, True))


def test_iv_tick_keyword_for_prices_in_paise():
    forward, strike, years, rate = 2_400_000.0, 2_490_000.0, 2 / 365, 0.065  # paise
    price = float(black76_price(forward, strike, years, rate, 0.15, True))  # a couple of paise
    assert 1 < price < 5
    assert np.isnan(implied_volatility_black76(price, forward, strike, years, rate, True, tick=5))
    assert np.isfinite(implied_volatility_black76(price, forward, strike, years, rate, True, tick=1))


def test_iv_broadcasting_shapes():
    strikes = np.linspace(22000.0, 26000.0, 81)
    is_call = np.array([[True], [False]])  # 2 x 81: calls and puts of one chain
    price = black76_price(24000.0, strikes, 0.05, 0.065, 0.15, is_call)
    assert price.shape == (2, 81)
    assert implied_volatility_black76(price, 24000.0, strikes, 0.05, 0.065, is_call).shape == (2, 81)
    assert implied_volatility(100.0, 24000.0, 24000.0, 0.05, 0.065, True).shape == ()
    g = greeks(24000.0, strikes, np.array([[0.01], [0.1]]), 0.065, 0.15, True)
    assert isinstance(g, Greeks)
    assert all(field.shape == (2, 81) for field in g)


def test_iv_far_wings_do_not_take_more_iterations(monkeypatch):
    """The whole chain, wings included, is solved within a handful of iterations."""
    calls = []
    real = greeks_module._otm_black
    monkeypatch.setattr(greeks_module, "_otm_black", lambda *a: calls.append(1) or real(*a))
    strikes = np.linspace(12000.0, 40000.0, 561)
    price = black76_price(24000.0, strikes, 3 / 365, 0.065, 0.16, strikes >= 24000.0)
    iv = implied_volatility_black76(price, 24000.0, strikes, 3 / 365, 0.065, strikes >= 24000.0)
    np.testing.assert_array_equal(np.isfinite(iv), price >= 0.05)  # all out of the money: price is time value
    assert np.isfinite(iv).sum() > 40
    assert len(calls) <= 6  # Halley steps: 3-5 iterations for every strike


# --- forward from put-call parity -------------------------------------------------------------------


def _chain(forward=24100.0, years=20 / 365, rate=0.065):
    strikes = np.arange(22000.0, 26001.0, 50.0)
    calls = black76_price(forward, strikes, years, rate, 0.15, True)
    puts = black76_price(forward, strikes, years, rate, 0.15, False)
    return strikes, calls, puts, years, rate


def test_forward_from_parity_recovers_the_forward():
    strikes, calls, puts, years, rate = _chain()
    assert forward_from_parity(calls, puts, strikes, years, rate) == pytest.approx(24100.0, abs=1e-6)


def test_forward_from_parity_ignores_missing_quotes_and_one_stale_quote():
    strikes, calls, puts, years, rate = _chain()
    atm = int(np.argmin(np.abs(strikes - 24100.0)))
    calls = calls.copy()
    puts = puts.copy()
    calls[atm] += 40.0  # a stale call at the money
    puts[atm + 1] = np.nan  # no put quote next to it
    calls[atm - 3] = 0.0  # an untraded call
    assert forward_from_parity(calls, puts, strikes, years, rate) == pytest.approx(24100.0, abs=1e-6)


def test_forward_from_parity_without_any_pair_is_nan_and_shapes_must_match():
    strikes = np.array([24000.0, 24100.0])
    assert np.isnan(forward_from_parity([np.nan, 10.0], [5.0, np.nan], strikes, 0.1, 0.065))
    with pytest.raises(ValueError):
        forward_from_parity([1.0, 2.0], [1.0], strikes, 0.1, 0.065)


# --- time to expiry -----------------------------------------------------------------------------------


def test_years_to_expiry_counts_calendar_time_to_1530_ist():
    expiry = expiry_moment(datetime(2025, 11, 27).date())
    assert expiry == datetime(2025, 11, 27, 15, 30, tzinfo=IST)
    now = datetime(2025, 11, 20, 15, 30, tzinfo=IST)
    assert years_to_expiry(expiry, now) == pytest.approx(7 / 365, rel=1e-12)
    # the same moment seen from UTC
    now_utc = datetime(2025, 11, 27, 4, 0, tzinfo=timezone.utc)  # 09:30 IST on expiry day
    assert years_to_expiry(expiry, now_utc) == pytest.approx(6 / 24 / 365, rel=1e-12)
    assert greeks_module.years_to_expiry is years_to_expiry


def test_years_to_expiry_is_zero_after_expiry_and_refuses_naive_datetimes():
    expiry = datetime(2025, 11, 27, 15, 30, tzinfo=IST)
    assert years_to_expiry(expiry, expiry + timedelta(minutes=1)) == 0.0
    with pytest.raises(ValueError):
        years_to_expiry(datetime(2025, 11, 27, 15, 30), datetime(2025, 11, 20, tzinfo=IST))
    with pytest.raises(ValueError):
        years_to_expiry(expiry, datetime(2025, 11, 20))


# --- the normal CDF ------------------------------------------------------------------------------------


def test_norm_cdf_accuracy_against_erfc_and_extremes():
    import math

    x = np.linspace(-38.0, 38.0, 7601)
    expected = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
    got = greeks_module.norm_cdf(x)
    # Hart/West: double precision in absolute terms; relative error grows to ~1e-8 in the far
    # left tail, which moves an implied vol there by far less than a basis point.
    assert np.max(np.abs(got - expected)) <= 4e-16
    body = (x >= -3.0) & (x <= 0.0)
    assert np.max(np.abs(got - expected)[body] / expected[body]) < 1e-13
    tail = x < -3.0
    assert np.max(np.abs(got - expected)[tail] / expected[tail]) < 5e-8
    edges = greeks_module.norm_cdf([-np.inf, np.inf, np.nan, 0.0])
    assert edges[0] == 0.0 and edges[1] == 1.0 and np.isnan(edges[2]) and edges[3] == 0.5
