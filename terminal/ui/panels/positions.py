"""Positions with live MTM: only the rows of instruments that ticked are recomputed."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from terminal.domain import InstrumentKey, Position
from terminal.services.background import spawn
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.widgets.confirm import ask_yes_no
from terminal.ui.models.table_model import (
    Column, KeyedTableModel, format_rupees, price_column, quantity_column, sign_colour, signed_price_column,
)
from terminal.ui.widgets.table_view import TradingTableView


def average(value_paise: int, quantity: int) -> int | None:
    return round(value_paise / quantity) if quantity else None


class PositionsPanel(QWidget):
    panel_id = "positions"
    title = "Positions"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.market = context.market
        self.last_task: asyncio.Task | None = None
        self._rows_of: dict[InstrumentKey, list] = {}  # instrument key -> position keys
        self._subscribed: set[InstrumentKey] = set()

        self.model = KeyedTableModel(self._columns(), key_of=lambda p: p.key, parent=self, cache_cells=True)
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.table.installEventFilter(self)
        self.square_off_button = QPushButton("Square off", self)
        self.square_off_button.clicked.connect(self.square_off_selected)
        self.square_off_all_button = QPushButton("Square off all", self)
        self.square_off_all_button.clicked.connect(self.square_off_all)
        self.total_label = QLabel(self)
        self.total_label.setObjectName("positions_total")
        self.total_label.setTextFormat(Qt.RichText)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.square_off_button)
        bar.addWidget(self.square_off_all_button)
        bar.addStretch(1)
        bar.addWidget(self.total_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.table)

        context.portfolio.positions_changed.connect(self.refresh)
        self.market.ticks_updated.connect(self._on_ticks)
        self.refresh()
        self.table.fit_columns()

    def _ltp(self, position: Position) -> int:
        """The last price, or the average when no quote has arrived yet (no fake MTM)."""
        ltp = self.market.ltp(position.instrument_key)
        return position.average_price if ltp is None else ltp

    def mtm(self, position: Position) -> int:
        """Realised plus unrealised P&L at the last price, paise."""
        return position.total_pnl(self._ltp(position))

    def _columns(self) -> list[Column]:
        return [
            Column("Symbol", lambda p: p.trading_symbol, width=150),
            Column("Product", lambda p: p.product.value, width=56),
            quantity_column("Net Qty", lambda p: p.net_quantity, colour=sign_colour, width=70),
            price_column("Avg", lambda p: p.average_price, width=80),
            price_column("LTP", lambda p: self.market.ltp(p.instrument_key), width=80),
            signed_price_column("MTM", self.mtm, width=96),
            signed_price_column("Realised", lambda p: p.realised_pnl, width=90),
            signed_price_column("Unrealised", lambda p: p.unrealised_pnl(self._ltp(p)), width=90),
            quantity_column("Buy Qty", lambda p: p.day_buy_quantity, width=64),
            price_column("Buy Avg", lambda p: average(p.day_buy_value, p.day_buy_quantity), width=80),
            quantity_column("Sell Qty", lambda p: p.day_sell_quantity, width=64),
            price_column("Sell Avg", lambda p: average(p.day_sell_value, p.day_sell_quantity), width=80),
        ]

    # --- rows -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        positions = self.context.portfolio.positions(self.context.account)
        positions.sort(key=lambda p: (not p.is_open, p.trading_symbol, p.product.value))
        self.table.show_rows(positions)
        rows_of = defaultdict(list)
        for position in positions:
            rows_of[position.instrument_key].append(position.key)
        self._rows_of = dict(rows_of)
        self._resubscribe(set(rows_of))
        self._update_total()
        self.square_off_all_button.setEnabled(any(p.is_open for p in positions))

    def _resubscribe(self, keys: set[InstrumentKey]) -> None:
        added, removed = keys - self._subscribed, self._subscribed - keys
        if added:
            self.context.session.subscribe(sorted(added))
        if removed:
            self.context.session.unsubscribe(sorted(removed))
        self._subscribed = keys

    def _on_ticks(self, keys: frozenset) -> None:
        touched = self._rows_of.keys() & keys
        if not touched:
            return
        self.model.refresh_keys(k for key in touched for k in self._rows_of[key])
        self._update_total()

    def total_mtm(self) -> int:
        return sum(self.mtm(p) for p in self.model.rows())

    def _update_total(self) -> None:
        total = self.total_mtm()
        colour = sign_colour(total) or theme.current().text
        open_count = sum(1 for p in self.model.rows() if p.is_open)
        self.total_label.setText(f"Open {open_count}   Total MTM "
                                 f"<b style='color:{colour}'>{format_rupees(total, signed=True)}</b>")

    # --- selection and actions ------------------------------------------------------------------
    def selected_position(self) -> Position | None:
        row = self.table.current_row()
        return self.model.item(row) if row >= 0 else None

    def selected_key(self) -> InstrumentKey | None:
        position = self.selected_position()
        return position.instrument_key if position else None

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
        if self.table.current_row() < 0 and len(self.model):
            self.table.select_row(0)

    def square_off_selected(self) -> None:
        position = self.selected_position()
        if position is None or not position.is_open:
            return
        if self._confirm("Square off", f"Square off {position.trading_symbol} {position.product.value} "
                                       f"({position.net_quantity:+d}) at market?"):
            self.last_task = spawn(self.context.orders.square_off([position]))

    def square_off_all(self) -> None:
        positions = [p for p in self.model.rows() if p.is_open]
        if not positions:
            self.context.messages.info("There are no open positions to square off.")
            return
        if self._confirm("Square off all", f"Square off all {len(positions)} open positions at market?"):
            self.last_task = spawn(self.context.orders.square_off(positions))

    def _confirm(self, title: str, text: str) -> bool:
        if not self.context.settings.get("confirm", {}).get("square_off", True):
            return True
        return self.confirm(title, text)

    def confirm(self, title: str, text: str) -> bool:
        return ask_yes_no(self, title, text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.KeyPress and event.key() == Qt.Key_Delete:
            self.square_off_selected()
            return True
        return super().eventFilter(watched, event)
