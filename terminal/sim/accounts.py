"""Trading accounts on the simulated exchange: cash, positions, holdings, and the margin rule.

Margin approximation (documented, not SPAN): all figures paise.
- Option bought: the premium, ``average price x quantity``.
- Option sold: ``rate x underlying spot x quantity``.
- Future, either side: ``rate x LTP x quantity``.
- Equity: ``rate x LTP x quantity``.
Rates: index F&O NRML 12%, MIS 8%; equity CNC 100%, MIS 20%.
Cash is ``opening balance + realised P&L``; used margin is the margin of the open positions plus
what open orders block; ``available margin = cash - used margin``. Unrealised P&L is shown but
not credited (a loss is counted when it is booked).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from terminal.domain import (
    AccountId, Funds, Holding, Instrument, InstrumentKey, InstrumentKind, Order, Position, Product, Side, Trade,
    apply_fill,
)

DEFAULT_CASH = 10_00_000_00  # ₹10,00,000 in paise
MARGIN_RATES = {
    (True, Product.NRML): 0.12, (True, Product.MIS): 0.08,  # index futures and option selling
    (False, Product.CNC): 1.00, (False, Product.MIS): 0.20, (False, Product.NRML): 1.00,  # equity
}
EVENT_BUFFER = 100_000  # order/trade events kept per account until a client drains them


def margin_rate(instrument: Instrument, product: Product) -> float:
    return MARGIN_RATES.get((instrument.is_derivative, product), 1.0)


def position_margin(instrument: Instrument, product: Product, net_quantity: int, average_price: int, ltp: int,
                    spot: int) -> int:
    """Margin (paise) a position of ``net_quantity`` units blocks under the rule above."""
    if net_quantity == 0:
        return 0
    qty = abs(net_quantity)
    rate = margin_rate(instrument, product)
    if instrument.kind is InstrumentKind.OPTION:
        if net_quantity > 0:
            return average_price * qty
        return round(rate * spot * qty)
    return round(rate * ltp * qty)


def margin_after_fill(instrument: Instrument, product: Product, position: Position, side: Side, quantity: int,
                      price: int, ltp: int, spot: int) -> int:
    """Extra margin (paise, >= 0) a fill of ``quantity`` at ``price`` would need beyond the position's now."""
    before = position_margin(instrument, product, position.net_quantity, position.average_price, ltp, spot)
    after_position = apply_fill(position, side, quantity, max(price, 1))
    after = position_margin(instrument, product, after_position.net_quantity, after_position.average_price,
                            max(ltp, price), spot)
    return max(after - before, 0)


@dataclass
class WorkingOrder:
    """The exchange's live view of one order: the reported snapshot plus what matching needs."""

    order: Order
    instrument: Instrument | None
    blocked_margin: int = 0  # paise held for the unfilled part
    seen_volume: int = 0  # market volume when last matched, to notice new trades at our price
    triggered: bool = False


@dataclass
class Account:
    """One client's book at the exchange. Mutated only under the exchange's lock."""

    account_id: AccountId
    opening_balance: int = DEFAULT_CASH
    positions: dict[tuple[InstrumentKey, Product], Position] = field(default_factory=dict)
    orders: dict[str, WorkingOrder] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    holdings: list[Holding] = field(default_factory=list)
    events: deque = field(default_factory=lambda: deque(maxlen=EVENT_BUFFER))

    @property
    def realised_pnl(self) -> int:
        return sum(p.realised_pnl for p in self.positions.values())

    @property
    def cash(self) -> int:
        return self.opening_balance + self.realised_pnl

    def position(self, instrument: Instrument, product: Product) -> Position:
        key = (instrument.key, product)
        if key not in self.positions:
            self.positions[key] = Position(self.account_id, instrument.key, instrument.trading_symbol, product)
        return self.positions[key]

    def book_fill(self, instrument: Instrument, product: Product, side: Side, quantity: int, price: int) -> Position:
        updated = apply_fill(self.position(instrument, product), side, quantity, price)
        self.positions[(instrument.key, product)] = updated
        return updated

    def positions_margin(self, instruments: dict[InstrumentKey, Instrument], ltp: Callable[[InstrumentKey], int],
                         spot: Callable[[InstrumentKey], int]) -> int:
        total = 0
        for (key, product), p in self.positions.items():
            if p.net_quantity:
                inst = instruments[key]
                total += position_margin(inst, product, p.net_quantity, p.average_price, ltp(key), spot(key))
        return total

    def orders_margin(self) -> int:
        return sum(w.blocked_margin for w in self.orders.values() if w.order.is_open)

    def funds(self, instruments: dict[InstrumentKey, Instrument], ltp: Callable[[InstrumentKey], int],
              spot: Callable[[InstrumentKey], int]) -> Funds:
        unrealised = sum(p.unrealised_pnl(ltp(p.instrument_key)) for p in self.positions.values() if p.net_quantity)
        used = self.positions_margin(instruments, ltp, spot) + self.orders_margin()
        return Funds(self.account_id, opening_balance=self.opening_balance, available_cash=self.cash,
                     used_margin=used, realised_pnl=self.realised_pnl, unrealised_pnl=unrealised)

    def record(self, event: Order | Trade) -> None:
        self.events.append(event)
