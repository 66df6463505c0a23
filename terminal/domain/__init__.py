"""Plain dataclasses and enums of the trading domain, and order validation. No Qt, no I/O."""

from terminal.domain.enums import (
    Exchange, InstrumentKind, OptionType, OrderStatus, OrderType, Product, Side, Validity,
)
from terminal.domain.instrument import Instrument, InstrumentKey, instrument_key
from terminal.domain.market import INTERVALS_MINUTES, Candle, DepthLevel, Tick
from terminal.domain.orders import AccountId, Order, OrderModification, OrderRequest, Trade, new_client_tag
from terminal.domain.portfolio import Funds, Holding, Position, apply_fill
from terminal.domain.validation import (
    OrderValidationError, Problem, check_order, round_to_tick, slice_order, slice_quantities, validate_order,
)

__all__ = [
    "AccountId", "Candle", "DepthLevel", "Exchange", "Funds", "Holding", "INTERVALS_MINUTES", "Instrument",
    "InstrumentKey", "InstrumentKind", "OptionType", "Order", "OrderModification", "OrderRequest",
    "OrderStatus", "OrderType", "OrderValidationError", "Position", "Problem", "Product", "Side", "Tick",
    "Trade", "Validity", "apply_fill", "check_order", "instrument_key", "new_client_tag", "round_to_tick",
    "slice_order", "slice_quantities", "validate_order",
]
