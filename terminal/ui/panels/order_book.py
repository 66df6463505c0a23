"""Order book: open and completed orders, modify and cancel from the keyboard."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from terminal.domain import Order, OrderStatus
from terminal.domain.money import format_quantity
from terminal.services.background import spawn
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.widgets.confirm import ask_yes_no
from terminal.ui.models.table_model import (
    CENTER, Column, KeyedTableModel, format_time_ist, price_column, side_colour,
)
from terminal.ui.widgets.table_view import TradingTableView

SETTLED_INTENT_STATES = {"sent", "rejected", "failed", "not placed"}


def status_colour(status: OrderStatus) -> str | None:
    colours = theme.current()
    if status is OrderStatus.REJECTED:
        return colours.negative
    if status is OrderStatus.COMPLETE:
        return colours.positive
    if status is OrderStatus.CANCELLED:
        return colours.muted
    return None


def order_columns() -> list[Column]:
    return [
        Column("Time", lambda o: o.placed_at or o.updated_at, format_time_ist, width=66),
        Column("Symbol", lambda o: o.trading_symbol, width=150),
        Column("Side", lambda o: o.side, lambda s: s.value, CENTER, colour=side_colour, width=44),
        Column("Type", lambda o: o.order_type.value, width=52),
        Column("Product", lambda o: o.product.value, width=56),
        Column("Qty", lambda o: (o.filled_quantity, o.quantity),
               lambda q: f"{format_quantity(q[0])}/{format_quantity(q[1])}", Qt.AlignRight | Qt.AlignVCenter,
               width=80),
        price_column("Price", lambda o: o.price, width=80),
        price_column("Trigger", lambda o: o.trigger_price, width=80),
        price_column("Avg", lambda o: o.average_price, width=80),
        Column("Status", lambda o: o.status, lambda s: s.value.replace("_", " "), colour=status_colour,
               tooltip=lambda o: o.status_message, width=132),
        Column("Reason", lambda o: o.status_message, tooltip=lambda o: o.status_message, width=160),
        Column("Order Id", lambda o: o.order_id, width=110),
        Column("Tag", lambda o: o.tag, width=100),
    ]


class OrderBookPanel(QWidget):
    panel_id = "order_book"
    title = "Order Book"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.last_task: asyncio.Task | None = None
        self._intents: dict[str, str] = {}  # client tag -> state, for intents not yet settled

        self.open_model = KeyedTableModel(order_columns(), key_of=lambda o: o.key, parent=self)
        self.completed_model = KeyedTableModel(order_columns(), key_of=lambda o: o.key, parent=self)
        self.open_table = TradingTableView(self)
        self.open_table.setModel(self.open_model)
        self.completed_table = TradingTableView(self)
        self.completed_table.setModel(self.completed_model)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.open_table, "Open")
        self.tabs.addTab(self.completed_table, "Completed")
        self.open_table.row_activated.connect(lambda _row: self.modify_selected())
        self.open_table.installEventFilter(self)

        self.modify_button = QPushButton("Modify (Enter)", self)
        self.modify_button.clicked.connect(self.modify_selected)
        self.cancel_button = QPushButton("Cancel (Del)", self)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.cancel_all_button = QPushButton("Cancel all", self)
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.intent_label = QLabel(self)
        self.intent_label.setObjectName("order_book_intents")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(4, 2, 4, 2)
        buttons.addWidget(self.modify_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.cancel_all_button)
        buttons.addWidget(self.intent_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(buttons)
        layout.addWidget(self.tabs)

        context.portfolio.orders_changed.connect(self.refresh)
        context.orders.intent_state_changed.connect(self._on_intent_state)
        self.open_table.current_row_changed.connect(lambda _row: self._update_buttons())
        self.tabs.currentChanged.connect(lambda _i: self._update_buttons())
        self.refresh()
        for table in (self.open_table, self.completed_table):
            table.fit_columns()

    # --- rows -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        orders = self.context.portfolio.orders(self.context.account)
        self.open_table.show_rows([o for o in orders if o.is_open])
        self.completed_table.show_rows([o for o in orders if not o.is_open])
        self.tabs.setTabText(0, f"Open ({len(self.open_model)})")
        self.tabs.setTabText(1, f"Completed ({len(self.completed_model)})")
        for tag in [t for t, state in self._intents.items()
                    if state == "unknown" or self.context.portfolio.order_by_tag(t) is not None]:
            # The book shows the order, or (a check that could not reach the broker, already reported
            # in the log with what to do) the broker's book was read again: it is the truth now.
            del self._intents[tag]
        self._show_intents()
        self._update_buttons()

    def selected_order(self) -> Order | None:
        table = self.tabs.currentWidget()
        row = table.current_row()
        return table.model().item(row) if row >= 0 else None

    def selected_key(self) -> str | None:
        order = self.selected_order()
        return order.instrument_key if order else None

    def focus_primary(self) -> None:
        table = self.tabs.currentWidget()
        table.setFocus(Qt.ShortcutFocusReason)
        if table.current_row() < 0 and table.model().rowCount():
            table.select_row(0)

    def _update_buttons(self) -> None:
        order = self.selected_order()
        can_change = order is not None and order.is_open
        self.modify_button.setEnabled(can_change)
        self.cancel_button.setEnabled(can_change)
        self.cancel_all_button.setEnabled(len(self.open_model) > 0)

    # --- actions --------------------------------------------------------------------------------
    def modify_selected(self) -> None:
        order = self.selected_order()
        if order is not None and order.is_open:
            self.context.requests.modify_order_requested.emit(order)

    def cancel_selected(self) -> None:
        order = self.selected_order()
        if order is not None and order.is_open:
            self.last_task = spawn(self.context.orders.cancel(order))

    def cancel_all(self) -> None:
        orders = self.context.portfolio.open_orders(self.context.account)
        if not orders:
            self.context.messages.info("There are no open orders to cancel.")
            return
        if self.context.settings.get("confirm", {}).get("cancel_all", True) and not self.confirm(
                "Cancel all orders", f"Cancel all {len(orders)} open orders?"):
            return
        self.last_task = spawn(self.context.orders.cancel_all(orders))

    def confirm(self, title: str, text: str) -> bool:
        return ask_yes_no(self, title, text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.open_table and event.type() == QEvent.KeyPress and event.key() == Qt.Key_Delete:
            self.cancel_selected()
            return True
        return super().eventFilter(watched, event)

    # --- intents whose outcome is not settled yet ------------------------------------------------
    def _on_intent_state(self, tag: str, state: str) -> None:
        if state in SETTLED_INTENT_STATES:
            self._intents.pop(tag, None)
        else:
            self._intents[tag] = state
        self._show_intents()

    def _show_intents(self) -> None:
        if not self._intents:
            self.intent_label.setText("")
            return
        shown = ", ".join(f"{tag}: {state}" for tag, state in list(self._intents.items())[-3:])
        more = f" (+{len(self._intents) - 3} more)" if len(self._intents) > 3 else ""
        self.intent_label.setText(f"⚠ {shown}{more}")
        self.intent_label.setStyleSheet("color: #f0b429;")
        self.intent_label.setToolTip("Orders whose outcome is being checked at the broker by their tag; "
                                     "they will not be resent.")

    def pending_intents(self) -> dict[str, str]:
        return dict(self._intents)
