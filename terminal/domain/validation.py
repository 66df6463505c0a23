"""Order checks as plain functions, run before anything reaches a broker."""

from __future__ import annotations

from dataclasses import dataclass

from terminal.domain.enums import OrderType, Product, Side
from terminal.domain.instrument import Instrument
from terminal.domain.money import format_price
from terminal.domain.orders import OrderModification, OrderRequest


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an order cannot go out, in words a trader understands, plus what to do."""

    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class OrderValidationError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def check_order(request: OrderRequest, instrument: Instrument, *, allow_freeze_slicing: bool = True) -> list[Problem]:
    """Everything wrong with ``request`` for ``instrument``; an empty list means it may go out."""
    problems: list[Problem] = []
    if request.instrument_key != instrument.key:
        problems.append(Problem("instrument", f"The order is for {request.instrument_key}, not {instrument.key}."))
    if not instrument.is_tradeable:
        problems.append(Problem("instrument", f"{instrument.display_name} is an index and cannot be traded.",
                                "Trade its futures or options instead."))
    problems += check_quantity(request.quantity, instrument, allow_freeze_slicing=allow_freeze_slicing)
    problems += check_prices(request.order_type, request.price, request.trigger_price, instrument, request.side)
    if request.product is Product.CNC and instrument.is_derivative:
        problems.append(Problem("product", "CNC (delivery) is for cash equities only.", "Use NRML or MIS for F&O."))
    if request.product is Product.NRML and not instrument.is_derivative:
        problems.append(Problem("product", "NRML is for futures and options.", "Use CNC for delivery or MIS for intraday."))
    return problems


def check_quantity(quantity: int, instrument: Instrument, *, allow_freeze_slicing: bool = True) -> list[Problem]:
    if quantity <= 0:
        return [Problem("quantity", "Quantity must be at least one lot.")]
    problems = []
    if quantity % instrument.lot_size:
        problems.append(Problem(
            "quantity",
            f"Quantity {quantity} is not a multiple of the lot size {instrument.lot_size}.",
            f"Use {max(quantity // instrument.lot_size, 1) * instrument.lot_size} "
            f"({max(quantity // instrument.lot_size, 1)} lots).",
        ))
    limit = instrument.max_order_quantity
    if not allow_freeze_slicing and limit is not None and quantity > limit:
        problems.append(Problem(
            "quantity",
            f"Quantity {quantity} is above the exchange freeze limit ({limit} per order).",
            "Turn on order slicing or split the order.",
        ))
    return problems


def check_prices(order_type: OrderType, price: int, trigger_price: int, instrument: Instrument,
                 side: Side | None = None) -> list[Problem]:
    problems = []
    tick = instrument.tick_size
    if order_type.needs_price:
        if price <= 0:
            problems.append(Problem("price", f"A {order_type.value} order needs a price."))
        elif price % tick:
            problems.append(off_tick("price", "Price", price, tick))
    elif price:
        problems.append(Problem("price", f"A {order_type.value} order takes no price."))
    if order_type.needs_trigger:
        if trigger_price <= 0:
            problems.append(Problem("trigger_price", f"A {order_type.value} order needs a trigger price."))
        elif trigger_price % tick:
            problems.append(off_tick("trigger_price", "Trigger", trigger_price, tick))
        elif order_type is OrderType.SL and price > 0 and side is not None:
            # A stop-loss buy triggers on a rise, so its limit must be at or above the trigger.
            if side is Side.BUY and price < trigger_price:
                problems.append(Problem("price", "For a stop-loss buy the price must be at or above the trigger."))
            if side is Side.SELL and price > trigger_price:
                problems.append(Problem("price", "For a stop-loss sell the price must be at or below the trigger."))
    elif trigger_price:
        problems.append(Problem("trigger_price", f"A {order_type.value} order takes no trigger price."))
    return problems


def off_tick(field: str, label: str, paise: int, tick: int) -> Problem:
    """The problem of a price (paise) that is not on the tick (paise), with the nearest one that is."""
    return Problem(
        field,
        f"{label} {format_price(paise)} is not a multiple of the tick size {format_price(tick)}.",
        f"Use {format_price(round_to_tick(paise, tick))}.",
    )


def check_modification(modification: OrderModification, order_type: OrderType, instrument: Instrument,
                       current_price: int, current_trigger: int, side: Side) -> list[Problem]:
    problems: list[Problem] = []
    if modification.quantity is not None:
        problems += check_quantity(modification.quantity, instrument, allow_freeze_slicing=False)
    new_type = modification.order_type or order_type
    price = current_price if modification.price is None else modification.price
    trigger = current_trigger if modification.trigger_price is None else modification.trigger_price
    if not new_type.needs_price:
        price = 0
    if not new_type.needs_trigger:
        trigger = 0
    problems += check_prices(new_type, price, trigger, instrument, side)
    return problems


def validate_order(request: OrderRequest, instrument: Instrument, *, allow_freeze_slicing: bool = True) -> None:
    problems = check_order(request, instrument, allow_freeze_slicing=allow_freeze_slicing)
    if problems:
        raise OrderValidationError(problems)


def round_to_tick(price: int, tick_size: int) -> int:
    """Nearest multiple of the tick size (paise), halves rounded up."""
    return ((price + tick_size // 2) // tick_size) * tick_size


def slice_quantities(quantity: int, instrument: Instrument) -> list[int]:
    """Split ``quantity`` units into orders of whole lots, each below the freeze limit.

    The slices are as equal as whole lots allow, largest first, so a 40-lot NIFTY order with a
    27-lot limit goes out as 20 + 20 lots rather than 27 + 13.
    """
    limit = instrument.max_order_quantity
    if limit is None or quantity <= limit:
        return [quantity]
    lot = instrument.lot_size
    lots = quantity // lot
    max_lots = limit // lot
    count = -(-lots // max_lots)
    base, extra = divmod(lots, count)
    slices = [(base + (1 if i < extra else 0)) * lot for i in range(count)]
    remainder = quantity - lots * lot
    if remainder:
        slices.append(remainder)  # not whole lots: left for check_quantity to reject
    return slices


def slice_order(request: OrderRequest, instrument: Instrument) -> list[OrderRequest]:
    """The request as freeze-safe child orders; each child gets a fresh client tag."""
    quantities = slice_quantities(request.quantity, instrument)
    if len(quantities) == 1:
        return [request]
    return [request.with_quantity(q) for q in quantities]
