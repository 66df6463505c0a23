"""Option prices, implied volatility and greeks (Black-Scholes and Black-76), vectorised.

Every argument may be a scalar or a numpy array; arrays broadcast. Prices and strikes are in
any one unit (rupees or paise, as long as they agree); ``years`` is time to expiry in years,
``rate`` and ``vol`` are annual decimals (0.065, 0.14).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def norm_cdf(x: ArrayLike) -> np.ndarray:
    """Standard normal CDF to double precision (Hart 1968 as given by West 2005), vectorised."""
    x = np.asarray(x, dtype=float)
    z = np.abs(x)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        e = np.exp(-z * z / 2.0)
        num = ((((((3.52624965998911e-02 * z + 0.700383064443688) * z + 6.37396220353165) * z
                  + 33.912866078383) * z + 112.079291497871) * z + 221.213596169931) * z + 220.206867912376)
        den = (((((((8.83883476483184e-02 * z + 1.75566716318264) * z + 16.064177579207) * z
                   + 86.7807322029461) * z + 296.564248779674) * z + 637.333633378831) * z
                + 793.826512519948) * z + 440.413735824752)
        near = e * num / den
        b = z + 2.0 / (z + 3.0 / (z + 4.0 / (z + 0.65)))
        far = e / (z + 1.0 / b) / 2.506628274631  # continued fraction for the far tail
        tail = np.where(z < 7.07106781186547, near, far)
        tail = np.where(z > 37.0, 0.0, tail)
        tail = np.where(np.isnan(z), np.nan, tail)
    return np.where(x > 0, 1.0 - tail, tail)


def norm_pdf(x: ArrayLike) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def black76_price(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike, vol: ArrayLike,
                  is_call: ArrayLike) -> np.ndarray:
    """Black-76 price of a European option on a forward, discounted at ``rate``."""
    f, k, t, r, v, call = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in
                                                 (forward, strike, years, rate, vol)), np.asarray(is_call, dtype=bool))
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = v * np.sqrt(np.maximum(t, 0.0))
        d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
        d2 = d1 - sd
        nd1 = norm_cdf(d1)
        nd2 = norm_cdf(d2)
        discount = np.exp(-r * np.maximum(t, 0.0))
        call_price = discount * (f * nd1 - k * nd2)
        put_price = discount * (k * (1.0 - nd2) - f * (1.0 - nd1))
        price = np.where(call, call_price, put_price)
        intrinsic = discount * np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
        price = np.where(sd > 0, price, intrinsic)
    return price


def black_scholes_price(underlying: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike,
                        vol: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """Black-Scholes price with no dividend: Black-76 on the forward S·e^(rT)."""
    s = np.asarray(underlying, dtype=float)
    forward = s * np.exp(np.asarray(rate, dtype=float) * np.maximum(np.asarray(years, dtype=float), 0.0))
    return black76_price(forward, strike, years, rate, vol, is_call)
