"""Orders, trades, positions, holdings and funds of every connected account, keyed by account."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from terminal.domain import AccountId, Funds, Holding, Order, Position, Trade


class PortfolioStore(QObject):
    orders_changed = Signal()
    trades_changed = Signal()
    positions_changed = Signal()
    holdings_changed = Signal()
    funds_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._orders: dict[tuple[AccountId, str], Order] = {}
        self._trades: dict[tuple[AccountId, str], Trade] = {}
        self._positions: dict[AccountId, list[Position]] = {}
        self._holdings: dict[AccountId, list[Holding]] = {}
        self._funds: dict[AccountId, Funds] = {}

    # --- orders ---------------------------------------------------------------------------------
    def apply_orders(self, orders: list[Order]) -> None:
        """Merge order updates; a stale update never overwrites a newer state."""
        changed = False
        for order in orders:
            known = self._orders.get(order.key)
            if known is not None and known.updated_at > order.updated_at:
                continue
            if known is not None and known.status.is_terminal and not order.status.is_terminal:
                continue
            if known != order:
                self._orders[order.key] = order
                changed = True
        if changed:
            self.orders_changed.emit()

    def replace_orders(self, account: AccountId, orders: list[Order]) -> None:
        """The broker's full order book for ``account`` (after a refresh)."""
        self._orders = {k: o for k, o in self._orders.items() if k[0] != account}
        self._orders.update((o.key, o) for o in orders)
        self.orders_changed.emit()

    def orders(self, account: AccountId | None = None) -> list[Order]:
        rows = [o for o in self._orders.values() if account is None or o.account == account]
        return sorted(rows, key=lambda o: o.placed_at or o.updated_at, reverse=True)

    def open_orders(self, account: AccountId | None = None) -> list[Order]:
        return [o for o in self.orders(account) if o.is_open]

    def completed_orders(self, account: AccountId | None = None) -> list[Order]:
        return [o for o in self.orders(account) if not o.is_open]

    def order(self, account: AccountId, order_id: str) -> Order | None:
        return self._orders.get((account, order_id))

    def order_by_tag(self, tag: str) -> Order | None:
        return next((o for o in self._orders.values() if o.tag == tag), None)

    # --- trades ---------------------------------------------------------------------------------
    def apply_trades(self, trades: list[Trade]) -> None:
        new = [t for t in trades if t.key not in self._trades]
        for trade in new:
            self._trades[trade.key] = trade
        if new:
            self.trades_changed.emit()

    def replace_trades(self, account: AccountId, trades: list[Trade]) -> None:
        self._trades = {k: t for k, t in self._trades.items() if k[0] != account}
        self._trades.update((t.key, t) for t in trades)
        self.trades_changed.emit()

    def trades(self, account: AccountId | None = None) -> list[Trade]:
        rows = [t for t in self._trades.values() if account is None or t.account == account]
        return sorted(rows, key=lambda t: t.timestamp, reverse=True)

    # --- positions, holdings, funds -------------------------------------------------------------
    def replace_positions(self, account: AccountId, positions: list[Position]) -> None:
        self._positions[account] = list(positions)
        self.positions_changed.emit()

    def positions(self, account: AccountId | None = None) -> list[Position]:
        if account is not None:
            return list(self._positions.get(account, []))
        return [p for rows in self._positions.values() for p in rows]

    def replace_holdings(self, account: AccountId, holdings: list[Holding]) -> None:
        self._holdings[account] = list(holdings)
        self.holdings_changed.emit()

    def holdings(self, account: AccountId | None = None) -> list[Holding]:
        if account is not None:
            return list(self._holdings.get(account, []))
        return [h for rows in self._holdings.values() for h in rows]

    def set_funds(self, funds: Funds) -> None:
        self._funds[funds.account] = funds
        self.funds_changed.emit()

    def funds(self, account: AccountId | None = None) -> list[Funds]:
        if account is not None:
            return [self._funds[account]] if account in self._funds else []
        return list(self._funds.values())
