"""Implied volatility agrees with vollib (Let's Be Rational, Jäckel) to 1e-8 wherever the time value
is at least one tick: across moneyness, expiries from minutes to a year, calls and puts, both models.

vollib is a test and benchmark dependency only. Prices are on the NSE tick (₹0.05), as quoted.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from terminal.analytics.greeks import (
    black76_price, black_scholes_price, implied_volatility, implied_volatility_black76,
)

vollib_black = pytest.importorskip("vollib.black.implied_volatility")
vollib_bs = pytest.importorskip("vollib.black_scholes.implied_volatility")

TICK = 0.05  # rupees
RATE = 0.065
MINUTE = 1 / (365 * 24 * 60)
EXPIRIES = (5 * MINUTE, 60 * MINUTE, 1 / 365, 7 / 365, 30 / 365, 91 / 365, 1.0)
LOG_MONEYNESS = np.linspace(-0.25, 0.25, 21)  # log(K/F)
VOLS = (0.08, 0.14, 0.30, 0.60)


def quoted_grid(model: str):
    """(price, underlying, strike, years, is_call) on the tick, time value at least one tick."""
    rows = []
    underlying = 24_000.0
    for years, x, vol, call in itertools.product(EXPIRIES, LOG_MONEYNESS, VOLS, (True, False)):
        forward = underlying * math.exp(RATE * years) if model == "bs" else underlying
        strike = round(forward * math.exp(x) / 50.0) * 50.0
        if model == "bs":
            price = float(black_scholes_price(underlying, strike, years, RATE, vol, call))
        else:
            price = float(black76_price(forward, strike, years, RATE, vol, call))
        price = round(price / TICK) * TICK
        discount = math.exp(-RATE * years)
        intrinsic = discount * max(forward - strike, 0.0) if call else discount * max(strike - forward, 0.0)
        if price - intrinsic >= TICK - 1e-9:
            rows.append((price, underlying, strike, years, call))
    return np.array(rows, dtype=float).T


def _reference(model: str, price, underlying, strike, years, call) -> float:
    flag = "c" if call else "p"
    if model == "bs":
        return vollib_bs.implied_volatility(price, underlying, strike, years, RATE, flag)
    return vollib_black.implied_volatility(price, underlying, strike, RATE, years, flag)


@pytest.mark.parametrize("model", ["black76", "bs"])
def test_iv_agrees_with_lets_be_rational(model):
    price, underlying, strike, years, call = quoted_grid(model)
    call = call.astype(bool)
    assert price.size > 500  # the grid is not vacuous
    if model == "bs":
        ours = implied_volatility(price, underlying, strike, years, RATE, call, tick=TICK)
    else:
        ours = implied_volatility_black76(price, underlying, strike, years, RATE, call, tick=TICK)
    reference = np.array([_reference(model, *row) for row in zip(price, underlying, strike, years, call)])
    assert not np.isnan(ours).any(), "every option with a tick of time value must have an IV"
    worst = np.argmax(np.abs(ours - reference))
    assert np.abs(ours - reference).max() <= 1e-8, (
        f"worst: ours {ours[worst]!r} vollib {reference[worst]!r} at price {price[worst]}, K {strike[worst]}, "
        f"T {years[worst] * 365:.4f}d, {'call' if call[worst] else 'put'}")
    # Both cover minutes to a year, and deep wings on both sides.
    assert years.min() < 10 * MINUTE and years.max() == 1.0
    assert (strike / underlying).min() < 0.8 and (strike / underlying).max() > 1.2


def test_under_a_tick_of_time_value_is_nan_where_vollib_would_still_answer():
    # A deep OTM call worth half a tick: vollib returns a number, the terminal refuses to.
    price, forward, strike, years = 0.025, 24_000.0, 26_000.0, 2 / 365
    assert math.isnan(float(implied_volatility_black76(price, forward, strike, years, RATE, True, tick=TICK)))
    assert vollib_black.implied_volatility(price, forward, strike, RATE, years, "c") > 0
