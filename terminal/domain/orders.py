"""Order intents, orders as the broker reports them, and fills. Prices are integer paise."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace

from terminal.domain.enums import OrderStatus, OrderType, Product, Side, Validity
from terminal.domain.instrument import InstrumentKey

AccountId = str  # "paper:SIM001", "flattrade:FT1234": broker name and client id


def new_client_tag() -> str:
    """A short unique tag sent with every order so an unknown outcome can be looked up.

    Twelve characters fit every broker's remarks/ordertag field (Angel One allows 20).
    """
    return "TT" + secrets.token_hex(5).upper()


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the trader asks for. ``quantity`` is units (a multiple of the lot size)."""

    account: AccountId
    instrument_key: InstrumentKey
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    product: Product = Product.MIS
    validity: Validity = Validity.DAY
    price: int = 0  # paise; 0 for MARKET and SL-M
    trigger_price: int = 0  # paise; only for SL and SL-M
    tag: str = field(default_factory=new_client_tag)

    def with_quantity(self, quantity: int, tag: str | None = None) -> "OrderRequest":
        return replace(self, quantity=quantity, tag=tag or new_client_tag())


@dataclass(frozen=True, slots=True)
class OrderModification:
    """Changes to an open order; ``None`` leaves a field as it is. Quantity is the new total."""

    quantity: int | None = None
    price: int | None = None
    trigger_price: int | None = None
    order_type: OrderType | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the broker last reported it. Timestamps are epoch seconds."""

    account: AccountId
    order_id: str
    instrument_key: InstrumentKey
    trading_symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    product: Product
    validity: Validity
    status: OrderStatus
    price: int = 0
    trigger_price: int = 0
    filled_quantity: int = 0
    average_price: int = 0
    tag: str = ""
    status_message: str = ""  # the rejection reason, in the broker's words
    placed_at: float = 0.0
    updated_at: float = 0.0
    exchange_order_id: str = ""

    @property
    def key(self) -> tuple[AccountId, str]:
        return (self.account, self.order_id)

    @property
    def pending_quantity(self) -> int:
        return 0 if self.status.is_terminal else self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status.is_open


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of an order."""

    account: AccountId
    trade_id: str
    order_id: str
    instrument_key: InstrumentKey
    trading_symbol: str
    side: Side
    quantity: int
    price: int
    product: Product
    timestamp: float = 0.0

    @property
    def key(self) -> tuple[AccountId, str]:
        return (self.account, self.trade_id)
