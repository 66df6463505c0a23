"""Trade book: every fill of the day, newest first."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from terminal.domain.money import format_price
from terminal.ui.context import TerminalContext
from terminal.ui.models.table_model import (
    CENTER, Column, KeyedTableModel, format_time_ist, price_column, quantity_column, side_colour,
)
from terminal.ui.widgets.table_view import TradingTableView


def trade_columns() -> list[Column]:
    return [
        Column("Time", lambda t: t.timestamp, format_time_ist, width=66),
        Column("Symbol", lambda t: t.trading_symbol, width=150),
        Column("Side", lambda t: t.side, lambda s: s.value, CENTER, colour=side_colour, width=44),
        quantity_column("Qty", lambda t: t.quantity, width=70),
        price_column("Price", lambda t: t.price, width=80),
        Column("Product", lambda t: t.product.value, width=56),
        Column("Trade Id", lambda t: t.trade_id, width=110),
        Column("Order Id", lambda t: t.order_id, width=110),
    ]


class TradeBookPanel(QWidget):
    panel_id = "trade_book"
    title = "Trade Book"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.model = KeyedTableModel(trade_columns(), key_of=lambda t: t.key, parent=self)
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.summary = QLabel(self)
        self.summary.setContentsMargins(4, 2, 4, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.table)
        layout.addWidget(self.summary)
        context.portfolio.trades_changed.connect(self.refresh)
        self.refresh()
        self.table.fit_columns()

    def refresh(self) -> None:
        trades = self.context.portfolio.trades(self.context.account)
        self.table.show_rows(trades)
        bought = sum(t.quantity * t.price for t in trades if t.side.value == "BUY")
        sold = sum(t.quantity * t.price for t in trades if t.side.value == "SELL")
        self.summary.setText(f"{len(trades)} trades   Bought ₹{format_price(bought)}   Sold ₹{format_price(sold)}")

    def selected_key(self) -> str | None:
        row = self.table.current_row()
        return self.model.item(row).instrument_key if row >= 0 else None

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
        if self.table.current_row() < 0 and len(self.model):
            self.table.select_row(0)
