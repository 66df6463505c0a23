"""Multi-leg option strategies: building them from a chain, their payoff, risk and greeks.

Money is integer paise per unit, as everywhere in the terminal: strikes, premiums and the
underlying price grid are paise; quantities are units (lots × lot size). P&L comes back as
float paise (a position's P&L between grid points is not a whole number of paise).

A short strategy is sent to the exchange as several orders, one per leg. Which order goes
first matters; see :func:`hedge_first`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from terminal.analytics.expiry import years_to_expiry
from terminal.analytics.greeks import Greeks, black76_price, greeks, greeks_black76
from terminal.domain.enums import OptionType, Side
from terminal.domain.instrument import InstrumentKey


class StrategyError(ValueError):
    """A strategy cannot be built or valued as asked; the message says why, in trader's words."""


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg of a strategy: an option (``option_type`` set) or a future (``option_type`` None).

    ``quantity`` is units, a whole number of ``lot_size`` lots. ``premium`` is paise per unit:
    the option's premium, or the future's entry price. ``strike`` is paise (None for a future).
    ``expiry`` is the exact, timezone-aware expiry moment. ``iv`` is the annual implied vol
    (0.14) used to value the leg before expiry; a leg without it can only be valued at expiry.
    """

    instrument_key: InstrumentKey
    side: Side
    quantity: int
    expiry: datetime
    premium: int
    option_type: OptionType | None = None
    strike: int | None = None
    lot_size: int = 1
    iv: float | None = None

    def __post_init__(self) -> None:
        name = self.instrument_key
        if not isinstance(self.side, Side):
            raise StrategyError(f"{name}: side must be BUY or SELL, got {self.side!r}")
        if self.lot_size < 1:
            raise StrategyError(f"{name}: lot size must be at least 1, got {self.lot_size}")
        if self.quantity <= 0 or self.quantity % self.lot_size:
            raise StrategyError(f"{name}: quantity {self.quantity} is not a positive number of lots of {self.lot_size}")
        if self.premium < 0:
            raise StrategyError(f"{name}: premium cannot be negative ({self.premium} paise)")
        if not isinstance(self.expiry, datetime) or self.expiry.tzinfo is None or self.expiry.utcoffset() is None:
            raise StrategyError(f"{name}: expiry must be timezone-aware, got {self.expiry!r}")
        if self.option_type is None:
            if self.strike is not None:
                raise StrategyError(f"{name}: a future has no strike")
        else:
            if not isinstance(self.option_type, OptionType):
                raise StrategyError(f"{name}: option type must be CE or PE, got {self.option_type!r}")
            if self.strike is None or self.strike <= 0:
                raise StrategyError(f"{name}: an option needs a positive strike in paise, got {self.strike!r}")
        if self.iv is not None and not (math.isfinite(self.iv) and self.iv > 0):
            raise StrategyError(f"{name}: implied vol must be a positive number, got {self.iv!r}")

    @property
    def is_future(self) -> bool:
        return self.option_type is None

    @property
    def is_call(self) -> bool:
        return self.option_type is OptionType.CALL

    @property
    def lots(self) -> int:
        return self.quantity // self.lot_size

    @property
    def signed_quantity(self) -> int:
        """Units, positive when bought, negative when sold."""
        return self.side.sign * self.quantity


# --- building strategies from a chain ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainQuote:
    """What the chain knows of one contract: its key, its premium (paise) and its IV (or None)."""

    instrument_key: InstrumentKey
    premium: int
    iv: float | None = None


@dataclass(frozen=True)
class OptionChain:
    """One expiry of an option chain as the strategy builders need it.

    ``atm_strike`` and ``strike_step`` are paise; strikes are counted in steps from the ATM
    strike (+1 is the next strike up). ``options`` maps (strike paise, CE/PE) to quotes;
    ``future`` is the future used as the underlying leg of covered strategies, if any.
    """

    expiry: datetime
    atm_strike: int
    strike_step: int
    lot_size: int
    options: Mapping[tuple[int, OptionType], ChainQuote] = field(default_factory=dict)
    future: ChainQuote | None = None
    future_expiry: datetime | None = None  # defaults to the options' expiry

    def __post_init__(self) -> None:
        if self.strike_step <= 0:
            raise StrategyError(f"strike step must be positive, got {self.strike_step} paise")
        if self.atm_strike <= 0:
            raise StrategyError(f"ATM strike must be positive, got {self.atm_strike} paise")
        if self.lot_size < 1:
            raise StrategyError(f"lot size must be at least 1, got {self.lot_size}")

    def strike(self, steps: int) -> int:
        """The strike ``steps`` strikes away from the ATM strike, in paise."""
        return self.atm_strike + steps * self.strike_step

    def option_leg(self, side: Side, steps: int, option_type: OptionType, lots: int) -> Leg:
        strike = self.strike(steps)
        quote = self.options.get((strike, option_type))
        if quote is None:
            raise StrategyError(f"no {strike / 100:g} {option_type.value} in the chain")
        return Leg(quote.instrument_key, side, lots * self.lot_size, self.expiry, quote.premium,
                   option_type, strike, self.lot_size, quote.iv)

    def future_leg(self, side: Side, lots: int) -> Leg:
        if self.future is None:
            raise StrategyError("the chain has no future to cover with")
        return Leg(self.future.instrument_key, side, lots * self.lot_size, self.future_expiry or self.expiry,
                   self.future.premium, None, None, self.lot_size, None)


CE, PE = OptionType.CALL, OptionType.PUT
BUY, SELL = Side.BUY, Side.SELL


def _check(lots: int, **widths: int) -> None:
    if lots < 1:
        raise StrategyError(f"lots must be at least 1, got {lots}")
    for name, value in widths.items():
        if value < 1:
            raise StrategyError(f"{name} must be at least one strike, got {value}")


def straddle(chain: OptionChain, side: Side, lots: int = 1) -> list[Leg]:
    """ATM call and ATM put, both bought (long) or both sold (short)."""
    _check(lots)
    return [chain.option_leg(side, 0, CE, lots), chain.option_leg(side, 0, PE, lots)]


def long_straddle(chain: OptionChain, lots: int = 1) -> list[Leg]:
    return straddle(chain, BUY, lots)


def short_straddle(chain: OptionChain, lots: int = 1) -> list[Leg]:
    return straddle(chain, SELL, lots)


def strangle(chain: OptionChain, side: Side, width: int = 1, lots: int = 1, *,
             put_width: int | None = None) -> list[Leg]:
    """OTM call ``width`` strikes above ATM and OTM put ``put_width`` (default ``width``) below, same side."""
    put_width = width if put_width is None else put_width
    _check(lots, width=width, put_width=put_width)
    return [chain.option_leg(side, width, CE, lots), chain.option_leg(side, -put_width, PE, lots)]


def long_strangle(chain: OptionChain, width: int = 1, lots: int = 1) -> list[Leg]:
    return strangle(chain, BUY, width, lots)


def short_strangle(chain: OptionChain, width: int = 1, lots: int = 1) -> list[Leg]:
    return strangle(chain, SELL, width, lots)


def bull_call_spread(chain: OptionChain, width: int = 1, lots: int = 1) -> list[Leg]:
    """Buy the ATM call, sell the call ``width`` strikes above: a debit, capped both ways."""
    _check(lots, width=width)
    return [chain.option_leg(BUY, 0, CE, lots), chain.option_leg(SELL, width, CE, lots)]


def bear_put_spread(chain: OptionChain, width: int = 1, lots: int = 1) -> list[Leg]:
    """Buy the ATM put, sell the put ``width`` strikes below: a debit, capped both ways."""
    _check(lots, width=width)
    return [chain.option_leg(BUY, 0, PE, lots), chain.option_leg(SELL, -width, PE, lots)]


def iron_condor(chain: OptionChain, distance: int = 1, wing: int = 1, lots: int = 1, *,
                put_distance: int | None = None) -> list[Leg]:
    """Short strangle ``distance`` strikes from ATM (puts ``put_distance``, default the same),
    hedged by long wings ``wing`` strikes further out.

    A credit; the most it can lose is the wing width less the credit.
    """
    put_distance = distance if put_distance is None else put_distance
    _check(lots, distance=distance, wing=wing, put_distance=put_distance)
    return [
        chain.option_leg(BUY, -(put_distance + wing), PE, lots),
        chain.option_leg(SELL, -put_distance, PE, lots),
        chain.option_leg(SELL, distance, CE, lots),
        chain.option_leg(BUY, distance + wing, CE, lots),
    ]


def iron_butterfly(chain: OptionChain, wing: int = 1, lots: int = 1) -> list[Leg]:
    """Short ATM straddle hedged by a long put and a long call ``wing`` strikes away."""
    _check(lots, wing=wing)
    return [
        chain.option_leg(BUY, -wing, PE, lots),
        chain.option_leg(SELL, 0, PE, lots),
        chain.option_leg(SELL, 0, CE, lots),
        chain.option_leg(BUY, wing, CE, lots),
    ]


def covered_call(chain: OptionChain, width: int = 1, lots: int = 1) -> list[Leg]:
    """Long future, short the call ``width`` strikes above ATM against it."""
    _check(lots, width=width)
    return [chain.future_leg(BUY, lots), chain.option_leg(SELL, width, CE, lots)]


def ratio_call_spread(chain: OptionChain, width: int = 1, lots: int = 1, ratio: int = 2) -> list[Leg]:
    """Buy ``lots`` ATM calls, sell ``ratio × lots`` calls ``width`` strikes above: unlimited risk up."""
    _check(lots, width=width, ratio=ratio)
    return [chain.option_leg(BUY, 0, CE, lots), chain.option_leg(SELL, width, CE, ratio * lots)]


def steps_by_delta(chain: OptionChain, option_type: OptionType, target: float, forward: float,
                   now: datetime) -> int:
    """How many strikes from ATM the out-of-the-money option whose |delta| is nearest ``target`` lies.

    Positive (above ATM) for calls, negative (below) for puts, never 0: picking strikes "by delta"
    (a 0.20-delta strangle) means OTM strikes. Delta is Black-76 on ``forward`` (paise) at each
    quote's own IV; quotes without an IV are skipped. Raises StrategyError if none qualifies.
    """
    if not 0 < target < 1:
        raise StrategyError(f"target delta must be between 0 and 1, got {target}")
    years = years_to_expiry(chain.expiry, now)
    sign = 1 if option_type is CE else -1
    best: tuple[float, int] | None = None
    for (strike, kind), quote in chain.options.items():
        steps, rest = divmod(strike - chain.atm_strike, chain.strike_step)
        if kind is not option_type or rest or steps * sign < 1 or quote.iv is None or years <= 0:
            continue
        delta = abs(float(greeks_black76(forward, strike, years, 0.0, quote.iv, kind is CE).delta))
        if best is None or (abs(delta - target), abs(steps)) < best[:1] + (abs(best[1]),):
            best = (abs(delta - target), steps)
    if best is None:
        raise StrategyError(f"no {option_type.value} with an implied vol to pick by delta")
    return best[1]


# --- order of placement ----------------------------------------------------------------------------


class _HasSide(Protocol):
    side: Side


SideT = TypeVar("SideT", bound=_HasSide)


def hedge_first(legs: Iterable[SideT]) -> list[SideT]:
    """The legs in the order to send them: every BUY before any SELL, otherwise as given.

    Why: the bought legs are the hedges. Sent first, (1) the broker's span margin sees the
    hedge already in the account when the short arrives, so the short needs the hedged margin
    instead of the naked one (often a fraction), and (2) if an order fails part way the book
    holds extra long options, whose risk is the premium paid, and never a naked short whose
    risk is unlimited. The same rule fits exits: closing a short is a BUY, so shorts are
    bought back before the protecting longs are sold. Works on anything with a ``side``
    (legs or order requests).
    """
    items = list(legs)
    return [leg for leg in items if leg.side is Side.BUY] + [leg for leg in items if leg.side is not Side.BUY]


# --- value and payoff --------------------------------------------------------------------------------


def net_premium(legs: Sequence[Leg]) -> int:
    """Premium received less premium paid for the option legs, paise: positive is a credit.

    Future legs are left out: their entry price is not a cash flow.
    """
    return sum(-leg.signed_quantity * leg.premium for leg in legs if not leg.is_future)


def payoff_at_expiry(legs: Sequence[Leg], underlying: ArrayLike) -> np.ndarray:
    """P&L (float paise) at the options' expiry for each underlying price (paise) of a grid.

    All option legs must share one expiry; a calendar is valued with :func:`pnl_at` at the
    first expiry instead. A future leg counts at the underlying price.
    """
    _require_legs(legs)
    _single_expiry(legs)
    s = np.asarray(underlying, dtype=float)
    total = np.zeros_like(s)
    for leg in legs:
        total = total + leg.signed_quantity * (_value_at_expiry(leg, s) - leg.premium)
    return total


def pnl_at(legs: Sequence[Leg], underlying: ArrayLike, now: datetime, rate: float = 0.0) -> np.ndarray:
    """P&L (float paise) at moment ``now`` for each underlying price (paise) of a grid.

    Options not yet expired are valued with Black-76 at their own IV on the forward
    underlying·e^(rate·t); pass ``rate=0`` (the default) when the grid already is the forward,
    as when the chain's synthetic future is the underlying. Expired legs count at intrinsic.
    """
    _require_legs(legs)
    s = np.asarray(underlying, dtype=float)
    total = np.zeros_like(s)
    for leg in legs:
        years = years_to_expiry(leg.expiry, now)
        forward = s * math.exp(rate * years)
        if leg.is_future:
            value = forward
        elif years <= 0:
            value = _value_at_expiry(leg, s)
        else:
            value = black76_price(forward, leg.strike, years, rate, _iv(leg), leg.is_call)
        total = total + leg.signed_quantity * (value - leg.premium)
    return total


def net_greeks(legs: Sequence[Leg], underlying: ArrayLike, now: datetime, rate: float = 0.0) -> Greeks:
    """Position greeks summed over the legs, with signs and quantities; the same model as :func:`pnl_at`.

    Units: ``price`` is the position's value (paise, longs positive), ``delta`` units of
    the underlying, ``gamma`` delta per paisa of the underlying (× 100 for per rupee),
    ``theta`` paise per calendar day, ``vega`` paise per vol point, ``rho`` paise per 1% rate.
    """
    _require_legs(legs)
    s = np.asarray(underlying, dtype=float)
    totals = [np.zeros_like(s) for _ in Greeks._fields]
    for leg in legs:
        years = years_to_expiry(leg.expiry, now)
        if leg.is_future:
            growth = math.exp(rate * years)
            zero = np.zeros_like(s)
            g = Greeks(s * growth, np.full_like(s, growth), zero, -rate * s * growth / 365.0, zero,
                       years * s * growth * 0.01)
        else:
            vol = _iv(leg) if years > 0 else 0.0
            g = greeks(s, leg.strike, years, rate, vol, leg.is_call)
        totals = [total + leg.signed_quantity * value for total, value in zip(totals, g)]
    return Greeks(*totals)


# --- risk summary --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayoffSummary:
    """The shape of a strategy's payoff at expiry, per position (not per unit).

    ``net_premium`` paise, positive for a credit. ``max_profit`` is the best P&L at expiry
    and ``max_loss`` the worst (negative for a loss), float paise; ``math.inf`` /
    ``-math.inf`` when unlimited. ``breakevens`` are the underlying prices (float paise,
    ascending) where the P&L at expiry is zero.
    """

    net_premium: int
    max_profit: float
    max_loss: float
    breakevens: tuple[float, ...]

    @property
    def unlimited_profit(self) -> bool:
        return self.max_profit == math.inf

    @property
    def unlimited_loss(self) -> bool:
        return self.max_loss == -math.inf


def payoff_summary(legs: Sequence[Leg]) -> PayoffSummary:
    """Exact max profit, max loss and breakevens of the payoff at expiry.

    The payoff is piecewise linear in the underlying with kinks only at strikes, so its
    values at 0 and at each strike plus its slope above the highest strike describe it fully:
    no grid, no sampling error. The underlying cannot go below zero, so the down side is
    always bounded.
    """
    _require_legs(legs)
    _single_expiry(legs)
    nodes = np.array(sorted({0, *(leg.strike for leg in legs if not leg.is_future)}), dtype=float)
    values = payoff_at_expiry(legs, nodes)
    slope_above = float(sum(leg.signed_quantity for leg in legs if leg.is_future or leg.is_call))
    max_profit = math.inf if slope_above > 0 else float(values.max())
    max_loss = -math.inf if slope_above < 0 else float(values.min())
    crossings = zero_crossings(nodes, values)
    last_node, last_value = float(nodes[-1]), float(values[-1])
    if slope_above != 0 and last_value != 0 and (last_value > 0) != (slope_above > 0):
        crossings.append(last_node - last_value / slope_above)
    return PayoffSummary(net_premium(legs), max_profit, max_loss, tuple(crossings))


def zero_crossings(underlying: ArrayLike, pnl: ArrayLike) -> list[float]:
    """Underlying prices where a P&L curve sampled on an ascending grid crosses or touches zero.

    Linear between grid points (exact for the payoff at expiry when the grid holds the strikes).
    """
    x = np.asarray(underlying, dtype=float)
    y = np.asarray(pnl, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise StrategyError(f"grid and P&L must be 1-D and alike, got {x.shape} and {y.shape}")
    found: list[float] = [float(v) for v in x[y == 0]]
    sign_change = np.nonzero((y[:-1] * y[1:]) < 0)[0]
    for i in sign_change:
        found.append(float(x[i] - y[i] * (x[i + 1] - x[i]) / (y[i + 1] - y[i])))
    return sorted(set(found))


def price_grid(legs: Sequence[Leg], centre: int, span: float = 0.15, points: int = 301) -> np.ndarray:
    """An ascending grid of underlying prices (paise) for charting a payoff.

    It covers ``centre`` ± ``span`` (a fraction, 0.15 = 15%) and always every strike, so the
    kinks of the payoff lie on the grid.
    """
    if centre <= 0 or not 0 < span < 1 or points < 2:
        raise StrategyError(f"bad grid: centre {centre} paise, span {span}, {points} points")
    strikes = [leg.strike for leg in legs if not leg.is_future]
    grid = np.linspace(centre * (1 - span), centre * (1 + span), points)
    return np.unique(np.concatenate([grid, np.asarray(strikes, dtype=float)]))


# --- helpers --------------------------------------------------------------------------------------------


def _value_at_expiry(leg: Leg, underlying: np.ndarray) -> np.ndarray:
    if leg.is_future:
        return underlying
    if leg.is_call:
        return np.maximum(underlying - leg.strike, 0.0)
    return np.maximum(leg.strike - underlying, 0.0)


def _iv(leg: Leg) -> float:
    if leg.iv is None:
        raise StrategyError(f"{leg.instrument_key}: no implied vol to value the leg before expiry")
    return leg.iv


def _require_legs(legs: Sequence[Leg]) -> None:
    if not legs:
        raise StrategyError("a strategy needs at least one leg")


def _single_expiry(legs: Sequence[Leg]) -> None:
    expiries = {leg.expiry for leg in legs if not leg.is_future}
    if len(expiries) > 1:
        raise StrategyError("the option legs expire at different times; value the calendar with pnl_at")
