"""Option prices, implied volatility and greeks (Black-Scholes and Black-76), vectorised.

Every argument may be a scalar or a numpy array; arrays broadcast. Prices and strikes are in
any one unit (rupees or paise, as long as they agree); ``years`` is time to expiry in years,
``rate`` and ``vol`` are annual decimals (0.065, 0.14).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from terminal.analytics.expiry import years_to_expiry  # noqa: F401  (part of this module's API)


def norm_cdf(x: ArrayLike) -> np.ndarray:
    """Standard normal CDF (Hart 1968 as given by West 2005), vectorised.

    Absolute error below 3e-16 everywhere; relative error 1e-14 down to x = -3 and about
    1e-8 further into the left tail.
    """
    x = np.asarray(x, dtype=float)
    # Capping |x| at 40 makes e exactly 0 far out (and keeps inf out of the polynomials), and a
    # NaN stays NaN through every step, so no masks are needed: this runs in every IV iteration.
    z = np.minimum(np.abs(x), 40.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        e = np.exp(-0.5 * z * z)
        num = ((((((3.52624965998911e-02 * z + 0.700383064443688) * z + 6.37396220353165) * z
                  + 33.912866078383) * z + 112.079291497871) * z + 221.213596169931) * z + 220.206867912376)
        den = (((((((8.83883476483184e-02 * z + 1.75566716318264) * z + 16.064177579207) * z
                   + 86.7807322029461) * z + 296.564248779674) * z + 637.333633378831) * z
                + 793.826512519948) * z + 440.413735824752)
        near = e * num / den
        b = z + 2.0 / (z + 3.0 / (z + 4.0 / (z + 0.65)))
        far = e / (z + 1.0 / b) / 2.506628274631  # continued fraction for the far tail
        tail = np.where(z < 7.07106781186547, near, far)
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


# --- greeks -------------------------------------------------------------------------------------

DAYS_PER_YEAR = 365.0  # theta is quoted per calendar day
VOL_POINT = 0.01  # vega is quoted per 1 vol point (0.14 -> 0.15)
RATE_POINT = 0.01  # rho is quoted per 1% of rate (0.065 -> 0.075)


class Greeks(NamedTuple):
    """Price and sensitivities, each an array of the broadcast shape of the inputs.

    Units follow the price unit (rupees or paise): ``delta`` is price change per unit move of
    the underlying (forward for Black-76), ``gamma`` the delta change per unit move, ``theta``
    the price change per calendar day that passes, ``vega`` the price change per 1 vol point,
    ``rho`` the price change per 1% of rate.
    """

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray
    rho: np.ndarray


def greeks_black76(forward: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike, vol: ArrayLike,
                   is_call: ArrayLike) -> Greeks:
    """Black-76 price and greeks of a European option on a forward; delta is w.r.t. the forward.

    Theta and rho hold the forward fixed. Expired options (``years <= 0``) and zero vol give
    the discounted intrinsic value with step delta and zero gamma and vega. Non-positive forward
    or strike, negative vol, or NaN anywhere give NaN.
    """
    f, k, t, r, v, call = _broadcast(forward, strike, years, rate, vol, is_call)
    years_left = np.maximum(t, 0.0)
    sqrt_t = np.sqrt(years_left)
    sd = v * sqrt_t
    live = sd > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # At zero total vol d1 = d2 = +inf in the money, -inf out of it, 0 at the money.
        d1 = np.where(live, (np.log(f / k) + 0.5 * sd * sd) / sd,
                      np.where(f > k, np.inf, np.where(f < k, -np.inf, 0.0)))
        d2 = d1 - sd
        pdf = norm_pdf(d1)
        discount = np.exp(-r * years_left)
        # Calls and puts in one formula, w = +1 / -1: price = w·D·(F·N(w·d1) - K·N(w·d2)).
        w = np.where(call, 1.0, -1.0)
        cdf = norm_cdf(np.stack((w * d1, w * d2)))
        price = w * discount * (f * cdf[0] - k * cdf[1])
        delta = w * discount * cdf[0]
        gamma = np.where(live, discount * pdf / (f * sd), 0.0)
        vega_year = discount * f * pdf * sqrt_t
        decay = np.where(live, discount * f * pdf * v / (2.0 * sqrt_t), 0.0)
        theta_year = np.where(years_left > 0, r * price - decay, 0.0)
        rho_year = -years_left * price
    bad = _invalid(f, k, t, r, v)
    return Greeks(*(np.where(bad, np.nan, g) for g in
                    (price, delta, gamma, theta_year / DAYS_PER_YEAR, vega_year * VOL_POINT, rho_year * RATE_POINT)))


def greeks(underlying: ArrayLike, strike: ArrayLike, years: ArrayLike, rate: ArrayLike, vol: ArrayLike,
           is_call: ArrayLike) -> Greeks:
    """Black-Scholes (no dividend) price and greeks; delta and gamma are w.r.t. the spot.

    Computed as Black-76 on the forward F = S·e^(rT), then moved from "forward fixed" to
    "spot fixed": dF/dS = e^(rT), and as calendar time passes F drifts down by r·F per year.
    """
    s, k, t, r, v, call = _broadcast(underlying, strike, years, rate, vol, is_call)
    years_left = np.maximum(t, 0.0)
    growth = np.exp(r * years_left)
    forward = s * growth
    g = greeks_black76(forward, k, t, r, v, call)
    delta_forward = g.delta
    delta = delta_forward * growth
    gamma = g.gamma * growth * growth
    theta = np.where(years_left > 0, g.theta - r * forward * delta_forward / DAYS_PER_YEAR, g.theta)
    rho = g.rho + years_left * forward * delta_forward * RATE_POINT
    return Greeks(g.price, delta, gamma, theta, g.vega, rho)


# --- implied volatility -------------------------------------------------------------------------

DEFAULT_TICK = 0.05  # one NSE tick in rupees; pass tick=5 when prices are in paise
_MAX_ITERATIONS = 60
_TOLERANCE = 1e-9  # a Halley step this small (relative) leaves an error near its cube: solved


def implied_volatility_black76(price: ArrayLike, forward: ArrayLike, strike: ArrayLike, years: ArrayLike,
                               rate: ArrayLike, is_call: ArrayLike, *, tick: float = DEFAULT_TICK) -> np.ndarray:
    """Annual implied volatility (0.14 = 14%) of European options on a forward, vectorised.

    NaN, never a made-up number, where no volatility is meaningful: expired (``years <= 0``),
    price below the discounted intrinsic value, price at or above the no-arbitrage bound
    (discounted forward for a call, discounted strike for a put), time value under one
    ``tick`` (same unit as ``price``), non-positive forward or strike, or any NaN input.

    How: the time value, undiscounted, is the price of the out-of-the-money option at the same
    strike, which carries all the information with the least cancellation. We solve for total
    vol s = vol·sqrt(years) on log(price), which stays well-shaped even for far wings whose
    prices are tiny, with Halley steps (Newton with the second derivative: 3-5 iterations for
    a whole chain) from a Corrado-Miller start. A bracket [lo, hi] of s is kept from the sign
    of each miss, and a step that would leave it is replaced by bisection (or doubling while
    hi is unknown), so every option converges.
    """
    p, f, k, t, r, call = _broadcast(price, forward, strike, years, rate, is_call)
    vol = np.full(p.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        discount = np.exp(-r * t)
        intrinsic = discount * np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
        time_value = p - intrinsic
        otm_price = time_value / discount
        # A price of exactly intrinsic + one tick must pass despite the rounding of the subtraction.
        enough_time_value = (time_value > 0) & (time_value + 1e-9 * np.abs(p) >= tick)
        solvable = ((t > 0) & (f > 0) & (k > 0) & np.isfinite(p) & np.isfinite(f) & np.isfinite(k)
                    & np.isfinite(t) & np.isfinite(r) & enough_time_value & (otm_price < np.minimum(f, k)))
    if np.any(solvable):
        total_vol = _solve_total_vol(otm_price[solvable], f[solvable], k[solvable])
        vol[solvable] = total_vol / np.sqrt(t[solvable])
    return vol


def implied_volatility(price: ArrayLike, underlying: ArrayLike, strike: ArrayLike, years: ArrayLike,
                       rate: ArrayLike, is_call: ArrayLike, *, tick: float = DEFAULT_TICK) -> np.ndarray:
    """Black-Scholes (no dividend) implied volatility from a spot price; see the Black-76 version."""
    s, t, r = (np.asarray(a, dtype=float) for a in (underlying, years, rate))
    with np.errstate(over="ignore", invalid="ignore"):
        forward = s * np.exp(r * np.maximum(t, 0.0))
    return implied_volatility_black76(price, forward, strike, years, rate, is_call, tick=tick)


def _solve_total_vol(otm_price: np.ndarray, forward: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """Total vol s with undiscounted OTM Black price(s) == otm_price, for 1-D arrays."""
    log_moneyness = np.log(forward / strike)
    otm_sign = np.where(strike >= forward, 1.0, -1.0)  # +1: the OTM option is the call
    target_log = np.log(otm_price)
    s = _corrado_miller(otm_price, forward, strike)
    lo = np.zeros_like(s)
    hi = np.full_like(s, np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(_MAX_ITERATIONS):
            model, vega, d1, d2 = _otm_black(forward, strike, log_moneyness, s, otm_sign)
            too_high = model > otm_price
            hi = np.where(too_high, np.minimum(hi, s), hi)
            lo = np.where(too_high, lo, np.maximum(lo, s))
            # Halley's step on g(s) = log(model) - log(target): g' = vega/model, and
            # d(vega)/ds = vega·d1·d2/s gives g''. Cubic convergence: 3-5 steps even in the wings.
            g = np.log(model) - target_log
            g1 = vega / model
            g2 = g1 * d1 * d2 / s - g1 * g1
            halley = s - g / g1 / (1.0 - 0.5 * g * g2 / (g1 * g1))
            settled = np.abs(halley - s) <= _TOLERANCE * s  # on the root: the bracket edge is s itself
            inside = np.isfinite(halley) & (((halley > lo) & (halley < hi)) | settled)
            fallback = np.where(np.isfinite(hi), 0.5 * (lo + hi), 2.0 * s)
            s = np.where(inside, halley, fallback)
            if (inside & settled).all():
                break
    return s


def _otm_black(forward: np.ndarray, strike: np.ndarray, log_moneyness: np.ndarray, s: np.ndarray,
               otm_sign: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Undiscounted Black price of the OTM option at total vol s, its derivative in s, d1 and d2."""
    d1 = log_moneyness / s + 0.5 * s
    d2 = d1 - s
    n = len(s)
    cdf = norm_cdf(np.concatenate((otm_sign * d1, otm_sign * d2)))  # one call: it dominates the cost
    price = otm_sign * (forward * cdf[:n] - strike * cdf[n:])
    return price, forward * norm_pdf(d1), d1, d2


def _corrado_miller(otm_price: np.ndarray, forward: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """Corrado-Miller (1996) total-vol guess on the forward, from the undiscounted call price."""
    call = otm_price + np.maximum(forward - strike, 0.0)
    half_gap = 0.5 * (forward - strike)
    centred = call - half_gap
    radicand = np.maximum(centred * centred - (forward - strike) ** 2 / np.pi, 0.0)
    guess = np.sqrt(2.0 * np.pi) / (forward + strike) * (centred + np.sqrt(radicand))
    return np.clip(guess, 1e-3, 5.0)


# --- forward from the chain ---------------------------------------------------------------------

def forward_from_parity(call_prices: ArrayLike, put_prices: ArrayLike, strikes: ArrayLike, years: float,
                        rate: float, *, count: int = 3) -> float:
    """The forward implied by put-call parity, F = K + e^(rT)·(C - P), for one expiry.

    Uses the ``count`` strikes where |C - P| is smallest (nearest the money, where both sides
    trade best) and returns the median, so one stale quote cannot move it. Strikes with a
    missing (NaN) or non-positive call or put price are skipped; NaN if no strike has both.
    Arrays are 1-D and alike in shape; prices and strikes in the same unit.
    """
    c, p, k = (np.asarray(a, dtype=float) for a in (call_prices, put_prices, strikes))
    if not (c.shape == p.shape == k.shape) or c.ndim != 1:
        raise ValueError(f"calls, puts and strikes must be 1-D and alike, got {c.shape}, {p.shape}, {k.shape}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    with np.errstate(invalid="ignore"):
        quoted = np.isfinite(c) & np.isfinite(p) & np.isfinite(k) & (c > 0) & (p > 0) & (k > 0)
    if not quoted.any():
        return float("nan")
    c, p, k = c[quoted], p[quoted], k[quoted]
    nearest = np.argsort(np.abs(c - p), kind="stable")[:count]
    growth = np.exp(float(rate) * max(float(years), 0.0))
    return float(np.median(k[nearest] + growth * (c[nearest] - p[nearest])))


# --- helpers ------------------------------------------------------------------------------------

def _broadcast(*args: ArrayLike) -> list[np.ndarray]:
    """Broadcast numeric arguments to floats and the last (is_call) to bool, one shape."""
    *numbers, is_call = args
    return np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in numbers), np.asarray(is_call, dtype=bool))


def _invalid(forward: np.ndarray, strike: np.ndarray, years: np.ndarray, rate: np.ndarray,
             vol: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (~(forward > 0) | ~(strike > 0) | ~(vol >= 0) | np.isnan(years) | np.isnan(rate))
