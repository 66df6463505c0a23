"""Positions, holdings and funds. Money is integer paise, quantities are units."""

from __future__ import annotations

from dataclasses import dataclass, replace

from terminal.domain.enums import Product, Side
from terminal.domain.instrument import InstrumentKey
from terminal.domain.orders import AccountId


@dataclass(frozen=True, slots=True)
class Position:
    """A net position in one instrument and product.

    ``average_price`` is the average of the open quantity (paise). ``realised_pnl`` is booked
    profit in paise. The ``day_*`` fields count today's fills only; the net position also
    carries ``overnight_quantity`` brought forward.
    """

    account: AccountId
    instrument_key: InstrumentKey
    trading_symbol: str
    product: Product
    net_quantity: int = 0
    average_price: int = 0
    realised_pnl: int = 0
    overnight_quantity: int = 0
    day_buy_quantity: int = 0
    day_buy_value: int = 0
    day_sell_quantity: int = 0
    day_sell_value: int = 0
    multiplier: int = 1

    @property
    def key(self) -> tuple[AccountId, InstrumentKey, Product]:
        return (self.account, self.instrument_key, self.product)

    @property
    def is_open(self) -> bool:
        return self.net_quantity != 0

    @property
    def day_quantity(self) -> int:
        return self.day_buy_quantity - self.day_sell_quantity

    def unrealised_pnl(self, ltp: int) -> int:
        """Mark-to-market of the open quantity at ``ltp`` (paise)."""
        return (ltp - self.average_price) * self.net_quantity * self.multiplier

    def total_pnl(self, ltp: int) -> int:
        return self.realised_pnl + self.unrealised_pnl(ltp)

    def mark_price(self, ltp: int | None) -> int:
        """``ltp``, or the average price while no quote has arrived (no made-up MTM), paise."""
        return self.average_price if ltp is None else ltp

    def mtm(self, ltp: int | None) -> int:
        """Realised plus unrealised P&L at ``ltp`` (at the average when None), paise."""
        return self.total_pnl(self.mark_price(ltp))


def apply_fill(position: Position, side: Side, quantity: int, price: int) -> Position:
    """The position after a fill of ``quantity`` units at ``price`` paise.

    Adding to a position moves the average; reducing books realised P&L at the old average;
    crossing through zero books the closed part and opens the rest at the fill price.
    """
    if quantity <= 0:
        raise ValueError("fill quantity must be positive")
    signed = quantity * side.sign
    net = position.net_quantity
    average = position.average_price
    realised = position.realised_pnl
    if net == 0 or (net > 0) == (signed > 0):
        new_net = net + signed
        average = round((average * abs(net) + price * quantity) / abs(new_net))
    else:
        closed = min(abs(net), quantity)
        realised += (price - average) * closed * (1 if net > 0 else -1) * position.multiplier
        new_net = net + signed
        if new_net == 0:
            average = 0
        elif (new_net > 0) != (net > 0):
            average = price
    day = (
        dict(day_buy_quantity=position.day_buy_quantity + quantity,
             day_buy_value=position.day_buy_value + quantity * price)
        if side is Side.BUY
        else dict(day_sell_quantity=position.day_sell_quantity + quantity,
                  day_sell_value=position.day_sell_value + quantity * price)
    )
    return replace(position, net_quantity=new_net, average_price=average, realised_pnl=realised, **day)


@dataclass(frozen=True, slots=True)
class Holding:
    """Delivery holdings in the demat account."""

    account: AccountId
    instrument_key: InstrumentKey
    trading_symbol: str
    quantity: int
    average_price: int
    last_price: int = 0

    @property
    def pnl(self) -> int:
        return (self.last_price - self.average_price) * self.quantity


@dataclass(frozen=True, slots=True)
class Funds:
    """The account's money, in paise."""

    account: AccountId
    opening_balance: int = 0
    available_cash: int = 0
    used_margin: int = 0
    collateral: int = 0
    realised_pnl: int = 0
    unrealised_pnl: int = 0

    @property
    def available_margin(self) -> int:
        return self.available_cash + self.collateral - self.used_margin
