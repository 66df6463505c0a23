"""Matching rules of the simulated exchange, as pure functions of an order and a Tick's book.

- An order that can trade on arrival (or when its stop triggers) takes the displayed depth on the
  other side, level by level, at each level's price, up to its limit: a buy larger than the depth
  at its limit fills partly and the rest waits (DAY) or is cancelled (IOC). A market order takes
  all five levels; what they cannot fill is cancelled (the simulator has no hidden depth).
- A resting limit order fills at its own price when the book crosses it (the other side's levels
  at or through the price), and when the market trades at or through its price (up to the
  traded quantity).
- Stop-losses wait in TRIGGER_PENDING until the LTP reaches the trigger: a buy stop at or above
  it, a sell stop at or below it; SL then works as a limit order at its price, SL-M as market.

Price band (checked on placement and modification, for the limit price and the trigger):
equities and futures LTP +/- 10%; options LTP +/- max(50% of LTP, ₹20), never below one tick.
"""

from __future__ import annotations

from terminal.domain import DepthLevel, Instrument, InstrumentKind, Side, Tick
from terminal.domain.money import format_price

Fill = tuple[int, int]  # (price paise, quantity units)
BAND_PERCENT = 10
OPTION_BAND_PERCENT = 50
OPTION_BAND_MINIMUM = 20_00  # ₹20 in paise


def opposite_levels(tick: Tick, side: Side) -> tuple[DepthLevel, ...]:
    """The levels an order on ``side`` trades against: asks for a buy, bids for a sell."""
    return tick.asks if side is Side.BUY else tick.bids


def crosses(side: Side, limit: int, price: int) -> bool:
    """True if a ``side`` order limited at ``limit`` may trade at ``price``."""
    return price <= limit if side is Side.BUY else price >= limit


def take_liquidity(side: Side, quantity: int, limit: int | None, tick: Tick) -> list[Fill]:
    """Fills for an aggressive order of ``quantity`` units; ``limit`` None means market."""
    fills: list[Fill] = []
    left = quantity
    for level in opposite_levels(tick, side):
        if left <= 0 or (limit is not None and not crosses(side, limit, level.price)):
            break
        qty = min(left, level.quantity)
        if qty > 0:
            fills.append((level.price, qty))
            left -= qty
    return fills


def resting_fill_quantity(side: Side, limit: int, quantity: int, tick: Tick, new_volume: int) -> int:
    """Units a resting limit order gets this step: crossed depth plus trades at or through its price."""
    crossed = sum(lv.quantity for lv in opposite_levels(tick, side) if crosses(side, limit, lv.price))
    traded = tick.last_quantity if new_volume > 0 and tick.ltp and crosses(side, limit, tick.ltp) else 0
    return min(quantity, crossed + min(traded, new_volume))


def is_triggered(side: Side, trigger: int, ltp: int) -> bool:
    return ltp >= trigger if side is Side.BUY else ltp <= trigger


def price_band(instrument: Instrument, ltp: int) -> tuple[int, int]:
    """Lowest and highest acceptable price (paise) around ``ltp``, on the tick grid."""
    tick = instrument.tick_size
    if instrument.kind is InstrumentKind.OPTION:
        width = max(ltp * OPTION_BAND_PERCENT // 100, OPTION_BAND_MINIMUM)
    else:
        width = ltp * BAND_PERCENT // 100
    low = max(-(-(ltp - width) // tick) * tick, tick)
    high = ((ltp + width) // tick) * tick
    return low, high


def band_problem(instrument: Instrument, ltp: int, price: int, what: str = "Price") -> str | None:
    """A rejection reason if ``price`` is outside the band, else None."""
    low, high = price_band(instrument, ltp)
    if low <= price <= high:
        return None
    rule = "LTP ± 50% or ₹20" if instrument.kind is InstrumentKind.OPTION else "LTP ± 10%"
    return (f"{what} {format_price(price)} is outside the price band {format_price(low)} - {format_price(high)} "
            f"({rule}, LTP {format_price(ltp)}).")


def average_price(fills: list[Fill], previous_quantity: int = 0, previous_average: int = 0) -> int:
    """Volume-weighted average (paise, rounded) of earlier fills and ``fills``."""
    qty = previous_quantity + sum(q for _, q in fills)
    if qty == 0:
        return 0
    value = previous_average * previous_quantity + sum(p * q for p, q in fills)
    return round(value / qty)
