"""GTT orders: good-till-triggered rules kept at the broker (list, create, modify, cancel).

A GTT rule waits at the broker, for up to a year, until the LTP reaches its trigger price, then
places a LIMIT order at its price. Only brokers that keep such rules feed this panel: the main
window docks it when :func:`supports_gtt` says so. The panel relies on the broker methods
``gtt_list``, ``gtt_details``, ``gtt_create``, ``gtt_modify`` and ``gtt_cancel`` alone (Angel One
has them; any other broker may add the same names), and calls them through
``context.runner.run`` on a pool thread, never on the UI thread.

Quantities are units, prices paise (shown in rupees). A new rule starts from the order entry's
form (:meth:`GttOrdersPanel.prefill`) or the instrument selected in the market watch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from terminal.brokers.base import BrokerError
from terminal.domain import Instrument, InstrumentKey, OrderRequest, Product, Side
from terminal.domain.money import format_price
from terminal.services.background import spawn
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.models.table_model import (
    CENTER, Column, KeyedTableModel, price_column, quantity_column, side_colour,
)
from terminal.ui.widgets.price_spin import TickPriceSpinBox
from terminal.ui.widgets.table_view import TradingTableView

log = logging.getLogger(__name__)

GTT_METHODS = ("gtt_list", "gtt_details", "gtt_create", "gtt_modify", "gtt_cancel")
GTT_PRODUCTS = (Product.CNC, Product.NRML)  # delivery, or margin (Angel One's MARGIN)
OPEN_STATUSES = frozenset({"NEW", "ACTIVE"})  # a rule that can still be modified or cancelled
MAX_UNITS = 10_000_000


def supports_gtt(broker: object) -> bool:
    """True when ``broker`` keeps GTT rules (it has every method this panel calls)."""
    return all(callable(getattr(broker, name, None)) for name in GTT_METHODS)


def gtt_columns() -> list[Column]:
    return [
        Column("Symbol", lambda r: r.trading_symbol, width=150),
        Column("Side", lambda r: r.side, lambda s: s.value, CENTER, colour=side_colour, width=44),
        quantity_column("Qty", lambda r: r.quantity, width=64),
        price_column("Trigger", lambda r: r.trigger_price, width=84),
        price_column("Limit price", lambda r: r.price, width=84),
        Column("Product", lambda r: r.product.value, width=60),
        Column("Status", lambda r: r.status, width=110),
        Column("Rule id", lambda r: r.rule_id, width=90),
    ]


class GttOrdersPanel(QWidget):
    """The broker's GTT rules in a table, and a form to create or modify one."""

    panel_id = "gtt_orders"
    title = "GTT Orders"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.instrument: Instrument | None = None
        self.editing: Any = None  # the rule being modified, or None for a new rule
        self.rules: list[Any] = []
        self.last_task: asyncio.Task | None = None
        self._build()
        context.requests.instrument_selected.connect(self._on_instrument_selected)
        self._show_form_state()
        context.session.ready.connect(self._on_session_ready)
        if self.available and context.session.logged_in:  # docked before login: wait for ready
            self.refresh()

    def _on_session_ready(self) -> None:
        if self.available:
            self.refresh()

    @property
    def broker(self) -> Any:
        return self.context.session.broker

    @property
    def available(self) -> bool:
        return supports_gtt(self.broker)

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.model = KeyedTableModel(gtt_columns(), key_of=lambda r: r.rule_id, parent=self)
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.table.row_activated.connect(lambda _row: self.edit_selected())

        self.symbol_label = QLabel("No instrument: select one in the market watch", self)
        self.side = QComboBox(self)
        self.side.addItems([Side.BUY.value, Side.SELL.value])
        self.product = QComboBox(self)
        self.product.addItems([p.value for p in GTT_PRODUCTS])
        self.quantity = QSpinBox(self)
        self.quantity.setRange(1, MAX_UNITS)
        self.trigger = TickPriceSpinBox(self)
        self.price = TickPriceSpinBox(self)
        self.save_button = QPushButton("Create GTT", self)
        self.save_button.clicked.connect(self.save)
        self.new_button = QPushButton("New", self)
        self.new_button.clicked.connect(self.start_new)
        self.modify_button = QPushButton("Modify", self)
        self.modify_button.clicked.connect(self.edit_selected)
        self.cancel_rule_button = QPushButton("Cancel rule", self)
        self.cancel_rule_button.clicked.connect(self.cancel_selected)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        self.status_label.setObjectName("gtt_status")

        form = QGridLayout()
        form.setContentsMargins(6, 4, 6, 4)
        form.addWidget(QLabel("Symbol"), 0, 0)
        form.addWidget(self.symbol_label, 0, 1, 1, 5)
        form.addWidget(QLabel("Side"), 1, 0)
        form.addWidget(self.side, 1, 1)
        form.addWidget(QLabel("Product"), 1, 2)
        form.addWidget(self.product, 1, 3)
        form.addWidget(QLabel("Qty (units)"), 1, 4)
        form.addWidget(self.quantity, 1, 5)
        form.addWidget(QLabel("Trigger ₹"), 2, 0)
        form.addWidget(self.trigger, 2, 1)
        form.addWidget(QLabel("Limit price ₹"), 2, 2)
        form.addWidget(self.price, 2, 3)
        form.addWidget(self.save_button, 2, 4)
        form.addWidget(self.new_button, 2, 5)

        actions = QHBoxLayout()
        actions.setContentsMargins(6, 0, 6, 4)
        actions.addWidget(self.status_label, 1)
        actions.addWidget(self.modify_button)
        actions.addWidget(self.cancel_rule_button)
        actions.addWidget(self.refresh_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        layout.addLayout(actions)
        self.table.fit_columns()

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
        if self.table.current_row() < 0 and len(self.model):
            self.table.select_row(0)

    # --- the form -------------------------------------------------------------------------------
    def prefill(self, request: OrderRequest) -> None:
        """Start a new rule from an order entry's form: instrument, side, product, quantity, price.

        The trigger is the form's trigger price when it has one, else its limit price.
        """
        instrument = self.context.market.instrument(request.instrument_key)
        if instrument is None:
            self._say(f"{request.instrument_key} is not in the instrument master.", error=True)
            return
        self.editing = None
        self._set_instrument(instrument)
        self.side.setCurrentText(request.side.value)
        if request.product in GTT_PRODUCTS:
            self.product.setCurrentText(request.product.value)
        self.quantity.setValue(max(1, request.quantity))
        price = request.price or self._ltp(instrument.key)
        self.price.set_paise(price)
        self.trigger.set_paise(request.trigger_price or price)
        self._show_form_state()
        self.trigger.setFocus(Qt.OtherFocusReason)

    def start_new(self) -> None:
        """Leave a modification: the form creates a new rule again."""
        self.editing = None
        self._show_form_state()

    def edit_selected(self) -> None:
        """Load the selected rule into the form to modify its quantity, trigger and price."""
        rule = self.selected_rule()
        if rule is None:
            return
        if rule.status not in OPEN_STATUSES:
            self._say(f"GTT {rule.rule_id} is {rule.status}: only a NEW or ACTIVE rule can be modified.",
                      error=True)
            return
        self.editing = rule
        instrument = self.context.market.instrument(rule.instrument_key)
        self._set_instrument(instrument)
        if instrument is None:
            self.symbol_label.setText(f"<b>{rule.trading_symbol}</b>")
        self.side.setCurrentText(rule.side.value)
        self.product.setCurrentText(rule.product.value)
        self.quantity.setValue(max(1, rule.quantity))
        self.trigger.set_paise(rule.trigger_price)
        self.price.set_paise(rule.price)
        self._show_form_state()
        self.trigger.setFocus(Qt.OtherFocusReason)

    def _on_instrument_selected(self, key: InstrumentKey) -> None:
        if self.editing is None:
            instrument = self.context.market.instrument(key)
            if instrument is not None and (self.instrument is None or instrument.key != self.instrument.key):
                self._set_instrument(instrument)
                ltp = self._ltp(key)
                if ltp:
                    self.price.set_paise(ltp)
                    self.trigger.set_paise(ltp)

    def _set_instrument(self, instrument: Instrument | None) -> None:
        self.instrument = instrument
        if instrument is not None:
            self.symbol_label.setText(f"<b>{instrument.trading_symbol}</b>  ({instrument.exchange.value})")
            for spin in (self.trigger, self.price):
                spin.set_tick(instrument.tick_size)
            self.quantity.setSingleStep(instrument.lot_size)

    def _ltp(self, key: InstrumentKey) -> int:
        return self.context.market.ltp(key) or 0

    def _show_form_state(self) -> None:
        modifying = self.editing is not None
        self.save_button.setText("Save changes" if modifying else "Create GTT")
        for widget in (self.side, self.product):
            widget.setEnabled(not modifying)  # a rule's side and product cannot change
        self.new_button.setEnabled(modifying)
        supported = self.available
        for widget in (self.save_button, self.modify_button, self.cancel_rule_button, self.refresh_button):
            widget.setEnabled(supported)
        if not supported:
            self._say(f"{getattr(self.broker, 'name', 'This broker')} does not keep GTT rules.", error=True)

    def problems(self) -> list[str]:
        """What stops the form's rule going out (quantity units, prices paise)."""
        found = []
        if self.editing is None and self.instrument is None:
            found.append("Choose an instrument (select it in the market watch, or start from the order entry).")
        if self.trigger.paise() <= 0:
            found.append("Enter a trigger price.")
        if self.price.paise() <= 0:
            found.append("Enter a limit price.")
        instrument = self.instrument
        if instrument is not None:
            tick = instrument.tick_size
            for label, spin in (("Trigger", self.trigger), ("Limit price", self.price)):
                if spin.paise() % tick:
                    found.append(f"{label} must be a multiple of the tick, ₹{format_price(tick)}.")
            if self.quantity.value() % instrument.lot_size:
                found.append(f"Quantity must be whole lots of {instrument.lot_size}.")
            ltp = self._ltp(instrument.key)
            if ltp and self.trigger.paise() == ltp:
                found.append(f"The trigger is the last price, ₹{format_price(ltp)}: a GTT waits for the price to "
                             "reach its trigger, so set it above or below.")
        return found

    # --- broker calls (pool thread; results applied here on the UI thread) ----------------------
    def refresh(self) -> asyncio.Task | None:
        """Reload every rule from the broker."""
        return self._start(self._load_rules())

    def save(self) -> asyncio.Task | None:
        """Create the form's rule, or save the changes to the rule being modified."""
        problems = self.problems()
        if problems:
            self._say(" ".join(problems), error=True)
            return None
        quantity, price, trigger = self.quantity.value(), self.price.paise(), self.trigger.paise()
        if self.editing is not None:
            rule = self.editing
            return self._start(self._call(
                f"GTT {rule.rule_id} modified: trigger ₹{format_price(trigger)}, limit ₹{format_price(price)}.",
                self.broker.gtt_modify, rule, quantity, price, trigger))
        instrument = self.instrument
        assert instrument is not None  # problems() said so
        side, product = Side(self.side.currentText()), Product(self.product.currentText())
        return self._start(self._call(
            f"GTT created: {side.value} {quantity} {instrument.trading_symbol} when the LTP reaches "
            f"₹{format_price(trigger)}, limit ₹{format_price(price)}.",
            self.broker.gtt_create, instrument.key, side, product, quantity, price, trigger))

    def cancel_selected(self) -> asyncio.Task | None:
        rule = self.selected_rule()
        if rule is None:
            self._say("Select a rule to cancel.", error=True)
            return None
        if rule.status not in OPEN_STATUSES:
            self._say(f"GTT {rule.rule_id} is already {rule.status}.", error=True)
            return None
        return self._start(self._call(f"GTT {rule.rule_id} cancelled.", self.broker.gtt_cancel, rule))

    def selected_rule(self) -> Any:
        row = self.table.current_row()
        return self.model.item(row) if row >= 0 else None

    def _start(self, coro) -> asyncio.Task | None:
        if not self.available:
            coro.close()
            return None
        self.last_task = spawn(coro)
        return self.last_task

    async def _call(self, done_text: str, fn: Callable[..., Any], *args: Any) -> bool:
        """One broker call off the UI thread, then the rules reloaded; False (and a message) if refused."""
        self.save_button.setEnabled(False)
        try:
            await self.context.runner.run(fn, *args)
        except BrokerError as exc:
            self._say(f"GTT refused by {self.broker.name}: {exc}", error=True)
            self.context.messages.error(f"GTT refused: {exc}", exc.hint)
            return False
        except Exception as exc:  # a bug or an odd reply: said, logged, never a silent drop
            log.exception("GTT call %s failed", getattr(fn, "__name__", fn))
            self._say(f"GTT call failed: {exc}", error=True)
            return False
        finally:
            self.save_button.setEnabled(True)
        self.context.messages.info(done_text)
        self._say(done_text)
        self.editing = None
        self._show_form_state()
        await self._load_rules()
        return True

    async def _load_rules(self) -> bool:
        try:
            rules = await self.context.runner.run(self.broker.gtt_list)
        except Exception as exc:  # BrokerError, or an odd reply: the old list stays, the reason is shown
            if not isinstance(exc, BrokerError):
                log.exception("GTT list failed")
            self._say(f"Could not load GTT rules: {exc}", error=True)
            return False
        self.rules = sorted(rules, key=lambda r: (r.status not in OPEN_STATUSES, r.trading_symbol, r.rule_id))
        self.table.show_rows(self.rules)
        live = sum(1 for r in self.rules if r.status in OPEN_STATUSES)
        self._say(f"{live} open GTT rule{'' if live == 1 else 's'}, {len(self.rules)} in all.")
        return True

    def _say(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {theme.current().negative};" if error else "")
