"""Implied volatility and greeks for whole chains: vectorised numpy vs a per-option Python loop.

Run: ``python bench/bench_greeks.py``. The last row is the issue's yardstick: a 1,000-option chain
(IV plus price, delta, gamma, theta, vega, rho) against vollib called per option, in the same run,
after checking that the two agree to 1e-8 on every IV. ``run()`` returns one dict per measurement with keys
name, value, unit, reference, reference_value, ratio; ``ratio`` is reference time / our time
(above 1: the vectorised path is that many times faster). Both paths solve the same options
in the same run, and the run fails loudly if their answers disagree.

The reference is what one would write without numpy: for each option, Newton's method on
the vol from a Corrado-Miller start with a bisection fallback, then the closed-form greeks,
all with ``math``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from terminal.analytics.greeks import black76_price, greeks_black76, implied_volatility_black76  # noqa: E402

RATE = 0.065
TICK = 0.05  # rupees


# --- the reference: one option at a time --------------------------------------------------------------


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _black(f: float, k: float, t: float, r: float, v: float, call: bool) -> tuple[float, float]:
    """Discounted Black-76 price and vega (per unit vol)."""
    sd = v * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    df = math.exp(-r * t)
    price = df * (f * _cdf(d1) - k * _cdf(d2)) if call else df * (k * _cdf(-d2) - f * _cdf(-d1))
    return price, df * f * _pdf(d1) * math.sqrt(t)


def scalar_iv(price: float, f: float, k: float, t: float, r: float, call: bool) -> float:
    if t <= 0:
        return math.nan
    df = math.exp(-r * t)
    intrinsic = df * max(f - k, 0.0) if call else df * max(k - f, 0.0)
    if price - intrinsic < TICK or price >= df * (f if call else k):
        return math.nan
    undiscounted_call = price / df + (0.0 if call else f - k)
    centred = undiscounted_call - 0.5 * (f - k)
    root = math.sqrt(max(centred * centred - (f - k) ** 2 / math.pi, 0.0))
    vol = min(max(math.sqrt(2.0 * math.pi) / (f + k) * (centred + root) / math.sqrt(t), 1e-3), 5.0)
    lo, hi = 0.0, 10.0
    for _ in range(100):
        model, vega = _black(f, k, t, r, vol, call)
        if model > price:
            hi = vol
        else:
            lo = vol
        step = (model - price) / vega if vega > 0 else math.inf
        new = vol - step
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - vol) < 1e-12 * vol:
            return new
        vol = new
    return vol


def scalar_greeks(f: float, k: float, t: float, r: float, v: float, call: bool) -> tuple[float, ...]:
    sqrt_t = math.sqrt(t)
    sd = v * sqrt_t
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    df = math.exp(-r * t)
    price = df * (f * _cdf(d1) - k * _cdf(d2)) if call else df * (k * _cdf(-d2) - f * _cdf(-d1))
    delta = df * _cdf(d1) if call else -df * _cdf(-d1)
    gamma = df * _pdf(d1) / (f * sd)
    vega = df * f * _pdf(d1) * sqrt_t * 0.01
    theta = (r * price - df * f * _pdf(d1) * v / (2 * sqrt_t)) / 365.0
    rho = -t * price * 0.01
    return price, delta, gamma, theta, vega, rho


def scalar_chain(prices, forwards, strikes, years, calls) -> tuple[np.ndarray, np.ndarray]:
    ivs = np.empty(len(prices))
    deltas = np.empty(len(prices))
    for i, (p, f, k, t, c) in enumerate(zip(prices.tolist(), forwards.tolist(), strikes.tolist(), years.tolist(),
                                            calls.tolist())):
        vol = scalar_iv(p, f, k, t, RATE, c)
        ivs[i] = vol
        deltas[i] = scalar_greeks(f, k, t, RATE, vol, c)[1] if vol == vol else math.nan
    return ivs, deltas


# --- the terminal's vectorised path -----------------------------------------------------------------


def vector_chain(prices, forwards, strikes, years, calls) -> tuple[np.ndarray, np.ndarray]:
    ivs = implied_volatility_black76(prices, forwards, strikes, years, RATE, calls, tick=TICK)
    return ivs, greeks_black76(forwards, strikes, years, RATE, ivs, calls).delta


# --- workloads -------------------------------------------------------------------------------------------


def nifty_chain() -> tuple[np.ndarray, ...]:
    """One NIFTY expiry a week out: 81 strikes at NIFTY's 50-point interval around 24,000, calls
    and puts, with a smile; the far wings quote under a tick and have no IV, as on the screen."""
    strikes = np.tile(np.arange(22000.0, 26001.0, 50.0), 2)
    calls = np.repeat([True, False], 81)
    moneyness = np.log(strikes / 24000.0)
    vols = 0.13 + 0.8 * moneyness ** 2 - 0.1 * moneyness
    return _quoted(np.full(strikes.shape, 24000.0), strikes, np.full(strikes.shape, 7 / 365), vols, calls)


def many_options(n: int = 10_000, seed: int = 7) -> tuple[np.ndarray, ...]:
    """n options across indices, expiries from an hour to a year, deep wings included."""
    rng = np.random.default_rng(seed)
    forwards = rng.choice([24000.0, 51000.0, 80000.0], n)
    strikes = np.round(forwards * np.exp(rng.uniform(-0.25, 0.25, n)) / 50.0) * 50.0
    years = np.exp(rng.uniform(np.log(1 / 365 / 24), 0.0, n))
    vols = rng.uniform(0.08, 0.6, n)
    return _quoted(forwards, strikes, years, vols, rng.random(n) < 0.5)


def _quoted(forwards, strikes, years, vols, calls) -> tuple[np.ndarray, ...]:
    prices = np.round(black76_price(forwards, strikes, years, RATE, vols, calls) / TICK) * TICK  # on the tick
    return prices, forwards, strikes, years, calls


def chain_1000() -> tuple[np.ndarray, ...]:
    """1,000 options as a trader's screen holds them: NIFTY, 10 expiries from today (2 hours
    left) to three months, 50 strikes at 50 points around the forward, calls and puts, with a smile."""
    expiries = np.array([2 / 24, 1, 2, 7, 14, 21, 28, 35, 63, 91]) / 365
    offsets = np.arange(-25, 25) * 50.0
    years = np.repeat(expiries, 100)
    strikes = np.tile(np.concatenate([24000.0 + offsets, 24000.0 + offsets]), 10)
    calls = np.tile(np.repeat([True, False], 50), 10)
    moneyness = np.log(strikes / 24000.0) / np.sqrt(np.maximum(years, 1 / 365))
    vols = 0.13 + 0.02 * moneyness ** 2 - 0.01 * moneyness
    return _quoted(np.full(strikes.shape, 24000.0), strikes, years, vols, calls)


def vector_chain_all_greeks(prices, forwards, strikes, years, calls):
    """What the option chain does per batch: IV, then price, delta, gamma, theta, vega, rho."""
    ivs = implied_volatility_black76(prices, forwards, strikes, years, RATE, calls, tick=TICK)
    return ivs, greeks_black76(forwards, strikes, years, RATE, ivs, calls)


def vollib_chain_all_greeks(prices, forwards, strikes, years, calls):
    """The same with vollib, one option at a time (how vollib is called: it takes scalars)."""
    from vollib.black.greeks import analytical as vg
    from vollib.black.implied_volatility import implied_volatility as vollib_iv

    out = np.full((6, len(prices)), np.nan)
    for i, (p, f, k, t, c) in enumerate(zip(prices.tolist(), forwards.tolist(), strikes.tolist(), years.tolist(),
                                            calls.tolist())):
        df = math.exp(-RATE * t)
        intrinsic = df * (max(f - k, 0.0) if c else max(k - f, 0.0))
        if p - intrinsic < TICK - 1e-9:  # the same rule as ours: no IV under a tick of time value
            continue
        flag = "c" if c else "p"
        vol = vollib_iv(p, f, k, RATE, t, flag)
        out[:, i] = (vol, vg.delta(flag, f, k, t, RATE, vol), vg.gamma(flag, f, k, t, RATE, vol),
                     vg.theta(flag, f, k, t, RATE, vol), vg.vega(flag, f, k, t, RATE, vol),
                     vg.rho(flag, f, k, t, RATE, vol))
    return out


def _check_vollib_agreement(args) -> int:
    ours, g = vector_chain_all_greeks(*args)
    theirs = vollib_chain_all_greeks(*args)
    if not np.array_equal(np.isnan(ours), np.isnan(theirs[0])):
        raise AssertionError("chain_1000: vollib and the terminal disagree on which options have an IV")
    solved = ~np.isnan(ours)
    if np.max(np.abs(ours[solved] - theirs[0][solved])) > 1e-8:
        raise AssertionError(f"chain_1000: IVs differ from vollib by {np.max(np.abs(ours[solved] - theirs[0][solved]))}")
    if np.max(np.abs(g.delta[solved] - theirs[1][solved])) > 1e-8:
        raise AssertionError("chain_1000: deltas differ from vollib")
    return int(solved.sum())


def _best_ms(fn, args, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


def _check_agreement(name: str, args) -> None:
    ref_iv, ref_delta = scalar_chain(*args)
    our_iv, our_delta = vector_chain(*args)
    if not np.array_equal(np.isnan(ref_iv), np.isnan(our_iv)):
        raise AssertionError(f"{name}: the two paths disagree on which options have an IV")
    solved = ~np.isnan(ref_iv)
    if solved.any():
        if np.max(np.abs(ref_iv[solved] - our_iv[solved])) > 1e-6:
            raise AssertionError(f"{name}: IVs differ by {np.max(np.abs(ref_iv[solved] - our_iv[solved]))}")
        if np.max(np.abs(ref_delta[solved] - our_delta[solved])) > 1e-6:
            raise AssertionError(f"{name}: deltas differ")


def run() -> list[dict]:
    results = []
    workloads = [("iv_greeks_chain_2x81", nifty_chain(), 20), ("iv_greeks_10000_options", many_options(), 3)]
    for name, args, repeats in workloads:
        _check_agreement(name, args)
        ours = _best_ms(vector_chain, args, repeats)
        reference = _best_ms(scalar_chain, args, repeats)
        results.append({
            "name": name,
            "value": round(ours, 3),
            "unit": "ms",
            "reference": "per-option Python loop (math, safeguarded Newton)",
            "reference_value": round(reference, 3),
            "ratio": round(reference / ours, 1),
        })
    args = chain_1000()
    solved = _check_vollib_agreement(args)
    ours = _best_ms(vector_chain_all_greeks, args, 200)
    reference = _best_ms(vollib_chain_all_greeks, args, 3)
    results.append({
        "name": f"iv_all_greeks_chain_1000 ({solved} with IV)",
        "value": round(ours, 3),
        "unit": "ms",
        "reference": "vollib per option (Let's Be Rational IV + analytical Black greeks)",
        "reference_value": round(reference, 3),
        "ratio": round(reference / ours, 1),
    })
    return results


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<40} {row['value']:>10.3f} {row['unit']}   reference {row['reference_value']:>10.3f} "
              f"{row['unit']}   {row['ratio']:>6.1f}x faster   ({row['reference']})")
