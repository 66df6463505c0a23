"""Order entry: the buy/sell window, keyboard first. Enter sends, Esc closes.

Quantity is entered in LOTS (the unit quantity is shown beside it); prices in rupees, stepping
by the instrument's tick. Problems are shown inline as the trader types, and an order with a
problem is not sent. The order itself goes through OrderService (validation, freeze slicing,
journal) off the UI thread.

What the broker adds is shown when it offers it: the charges the order would cost (asked for off
the UI thread, once the form has rested for a moment), a notice when the broker sends market
orders as protected limit orders, and a GTT button that hands the form to the GTT panel.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox, QButtonGroup, QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
    QVBoxLayout, QWidget,
)

from terminal.domain import (
    Instrument, InstrumentKey, Order, OrderModification, OrderRequest, OrderType, Problem, Product, Side, Validity,
    check_order, round_to_tick,
)
from terminal.domain.money import format_percent, format_price, format_quantity
from terminal.domain.validation import check_modification
from terminal.services.background import spawn
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.widgets.instrument_search import InstrumentSearch
from terminal.ui.widgets.price_spin import TickPriceSpinBox
from terminal.ui.widgets.table_view import tabular_font

MAX_LOTS = 100_000
CHARGES_DEBOUNCE_MS = 400  # ask the broker for charges once the form has rested this long
BROKER_LABELS = {"flattrade": "Flattrade", "angelone": "Angel One", "paper": "Paper"}

log = logging.getLogger(__name__)


def request_terms(request: OrderRequest) -> tuple:
    """What a charge estimate depends on (not the client tag, which is new on every build)."""
    return (request.instrument_key, request.side, request.quantity, request.order_type, request.product,
            request.price, request.trigger_price)


def market_protection_percent(broker: object) -> float | None:
    """How far through the LTP the broker prices a market order it sends as a limit order, or None."""
    percent = getattr(getattr(broker, "config", None), "market_protection_percent", None)
    return float(percent) if isinstance(percent, (int, float)) and percent > 0 else None


def allowed_products(instrument: Instrument | None) -> list[Product]:
    """Derivatives: MIS or NRML. Cash equity: MIS or CNC."""
    if instrument is not None and instrument.is_derivative:
        return [Product.MIS, Product.NRML]
    return [Product.MIS, Product.CNC]


class OrderEntryPanel(QWidget):
    panel_id = "order_entry"
    title = "Order Entry"

    close_requested = Signal()
    order_submitted = Signal(object)  # the OrderRequest, or (Order, OrderModification) for a modify
    gtt_requested = Signal(object)  # the form's OrderRequest, to become a GTT rule (brokers with GTT)

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.side = Side.BUY
        self.instrument: Instrument | None = None
        self.modifying: Order | None = None
        self.last_task: asyncio.Task | None = None
        self.charges_task: asyncio.Task | None = None
        self._charges_wanted: OrderRequest | None = None  # the request the next estimate is for
        self._charges_shown: tuple | None = None  # request_terms of the estimate on screen
        self._charges_timer = QTimer(self)
        self._charges_timer.setSingleShot(True)
        self._charges_timer.setInterval(CHARGES_DEBOUNCE_MS)
        self._charges_timer.timeout.connect(self._estimate_charges)
        self._build()
        self._set_side(Side.BUY)
        self._on_type_changed()
        context.market.ticks_updated.connect(self._on_ticks)

    # --- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.header = QFrame(self)
        self.header.setObjectName("order_entry_header")
        self.header.setAutoFillBackground(True)
        self.buy_button = QPushButton("Buy (F1)", self.header, checkable=True)
        self.sell_button = QPushButton("Sell (F2)", self.header, checkable=True)
        sides = QButtonGroup(self)
        sides.setExclusive(True)
        for button, side in ((self.buy_button, Side.BUY), (self.sell_button, Side.SELL)):
            sides.addButton(button)
            button.setFocusPolicy(Qt.NoFocus)
            button.clicked.connect(lambda _checked=False, s=side: self._set_side(s))
        self.mode_label = QLabel("BUY", self.header)
        self.mode_label.setObjectName("order_entry_mode")
        font = self.mode_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.mode_label.setFont(font)  # a font, not a style sheet: the label sizes itself to it
        top = QHBoxLayout(self.header)
        top.setContentsMargins(8, 4, 8, 4)
        top.addWidget(self.mode_label)
        top.addStretch(1)
        top.addWidget(self.buy_button)
        top.addWidget(self.sell_button)

        self.symbol_label = QLabel("No instrument", self)
        self.symbol_label.setObjectName("order_entry_symbol")
        self.symbol_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.search = InstrumentSearch(lambda: self.context.market.catalog, self)
        self.search.setPlaceholderText("Symbol: type to search…")
        self.search.instrument_chosen.connect(self._choose_instrument)

        self.lots = QSpinBox(self)
        self.lots.setRange(1, MAX_LOTS)
        self.lots.setAccelerated(True)
        self.units_label = QLabel(self)
        self.order_type = QComboBox(self)
        self.order_type.addItems([t.value for t in OrderType])
        self.price = TickPriceSpinBox(self)
        self.trigger = TickPriceSpinBox(self)
        self.product = QComboBox(self)
        self.validity = QComboBox(self)
        self.validity.addItems([v.value for v in Validity])
        self.ltp_label = QLabel(self)
        self.value_label = QLabel(self)
        for label in (self.units_label, self.ltp_label, self.value_label):
            label.setFont(tabular_font(label.font()))
        self.charges_label = QLabel("—", self)
        self.charges_label.setObjectName("order_entry_charges")
        self.charges_label.setFont(tabular_font(self.charges_label.font()))
        self.protection_label = QLabel(self)
        self.protection_label.setObjectName("order_entry_market_protection")
        self.protection_label.setWordWrap(True)
        self.gtt_button = QPushButton("GTT…", self)
        self.gtt_button.setToolTip("Make this order a GTT rule: it waits at the broker for its trigger")
        self.gtt_button.clicked.connect(self.request_gtt)
        self.problems_label = QLabel(self)
        self.problems_label.setWordWrap(True)
        self.problems_label.setObjectName("order_entry_problems")
        self.submit_button = QPushButton("Buy", self)
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self.submit)
        self.cancel_button = QPushButton("Close (Esc)", self)
        self.cancel_button.clicked.connect(self.close_requested)

        form = QGridLayout()
        form.setContentsMargins(8, 6, 8, 6)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        form.addWidget(QLabel("Symbol"), 0, 0)
        form.addWidget(self.symbol_label, 0, 1, 1, 3)
        form.addWidget(self.search, 1, 1, 1, 3)
        form.addWidget(QLabel("Qty (lots)"), 2, 0)
        form.addWidget(self.lots, 2, 1)
        form.addWidget(self.units_label, 2, 2, 1, 2)
        form.addWidget(QLabel("Type"), 3, 0)
        form.addWidget(self.order_type, 3, 1)
        form.addWidget(QLabel("Product"), 3, 2)
        form.addWidget(self.product, 3, 3)
        form.addWidget(QLabel("Price ₹"), 4, 0)
        form.addWidget(self.price, 4, 1)
        form.addWidget(QLabel("Trigger ₹"), 4, 2)
        form.addWidget(self.trigger, 4, 3)
        form.addWidget(QLabel("Validity"), 5, 0)
        form.addWidget(self.validity, 5, 1)
        form.addWidget(QLabel("LTP"), 5, 2)
        form.addWidget(self.ltp_label, 5, 3)
        form.addWidget(QLabel("Value ₹"), 6, 0)
        form.addWidget(self.value_label, 6, 1, 1, 3)
        self.charges_caption = QLabel("Charges ₹", self)
        form.addWidget(self.charges_caption, 7, 0)
        form.addWidget(self.charges_label, 7, 1, 1, 3)
        form.addWidget(self.protection_label, 8, 0, 1, 4)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(8, 0, 8, 6)
        buttons.addWidget(self.problems_label, 1)
        buttons.addWidget(self.gtt_button)
        buttons.addWidget(self.submit_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.setTabOrder(self.search, self.lots)
        self.setTabOrder(self.lots, self.order_type)
        self.setTabOrder(self.order_type, self.product)
        self.setTabOrder(self.product, self.price)
        self.setTabOrder(self.price, self.trigger)
        self.setTabOrder(self.trigger, self.validity)
        self.setTabOrder(self.validity, self.submit_button)

        for widget in self._inputs():
            widget.installEventFilter(self)
        self.lots.valueChanged.connect(self._refresh)
        self.price.valueChanged.connect(self._refresh)
        self.trigger.valueChanged.connect(self._refresh)
        self.order_type.currentTextChanged.connect(self._on_type_changed)
        self.product.currentTextChanged.connect(self._refresh)
        self.validity.currentTextChanged.connect(self._refresh)
        defaults = self.context.settings.get("order_defaults", {}) or {}
        self._select(self.order_type, defaults.get("order_type", OrderType.LIMIT.value))
        self._select(self.validity, defaults.get("validity", Validity.DAY.value))
        self._fill_products()
        broker = self.context.session.broker
        offers_charges = self.offers_charges()
        self.charges_caption.setVisible(offers_charges)
        self.charges_label.setVisible(offers_charges)
        self.gtt_button.setVisible(callable(getattr(broker, "gtt_create", None)))
        self.protection_label.setVisible(False)

    def offers_charges(self) -> bool:
        return callable(getattr(self.context.session.broker, "estimate_charges", None))

    def _inputs(self) -> list[QWidget]:
        return [self.lots, self.order_type, self.price, self.trigger, self.product, self.validity,
                self.submit_button, self.search]

    @staticmethod
    def _select(combo: QComboBox, text: str) -> None:
        at = combo.findText(text)
        if at >= 0:
            combo.setCurrentIndex(at)

    # --- opening --------------------------------------------------------------------------------
    def open_order(self, side: Side, key: InstrumentKey | None, quantity: int | None = None,
                   price: int | None = None) -> None:
        """Prefill a new order. ``quantity`` is units (rounded down to whole lots, at least one),
        ``price`` paise; without a price a buy starts at the best ask, a sell at the best bid."""
        self.modifying = None
        self._lock_for_modify(False)
        self._set_side(side)
        instrument = self.context.market.instrument(key) if key else None
        self._set_instrument(instrument)
        lot = instrument.lot_size if instrument else 1
        self.lots.setValue(max(1, (quantity or lot) // lot))
        defaults = self.context.settings.get("order_defaults", {}) or {}
        self._select(self.order_type, defaults.get("order_type", OrderType.LIMIT.value))
        self._select(self.validity, defaults.get("validity", Validity.DAY.value))
        self.price.set_paise(price if price is not None else self._suggested_price())
        self.trigger.set_paise(0)
        self._on_type_changed()
        if instrument is None:
            self.search.setFocus(Qt.OtherFocusReason)
        else:
            self.focus_primary()

    def open_modify(self, order: Order) -> None:
        """Prefill from an open order; side, symbol, product and validity are locked."""
        instrument = self.context.market.instrument(order.instrument_key)
        if instrument is None:
            self.context.messages.error(f"Cannot modify order {order.order_id}: unknown instrument "
                                        f"{order.instrument_key}.", "Refresh the instrument master.")
            return
        self.modifying = order
        self._set_side(order.side)
        self._set_instrument(instrument)
        self._lock_for_modify(True)
        self.lots.setValue(max(1, order.quantity // instrument.lot_size))
        self._select(self.order_type, order.order_type.value)
        self._select(self.product, order.product.value)
        self._select(self.validity, order.validity.value)
        self.price.set_paise(order.price)
        self.trigger.set_paise(order.trigger_price)
        self._on_type_changed()
        self.focus_primary()

    def _lock_for_modify(self, locked: bool) -> None:
        self.search.setVisible(not locked)
        for widget in (self.buy_button, self.sell_button, self.product, self.validity):
            widget.setEnabled(not locked)
        self._update_header()

    def selected_key(self) -> InstrumentKey | None:
        """The instrument in the form: F1/F2 while here stay on it."""
        return self.instrument.key if self.instrument else None

    def focus_primary(self) -> None:
        if self.instrument is None and not self.modifying:
            self.search.setFocus(Qt.OtherFocusReason)
            return
        self.lots.setFocus(Qt.OtherFocusReason)
        self.lots.selectAll()

    def _suggested_price(self) -> int:
        if self.instrument is None:
            return 0
        tick = self.context.market.tick(self.instrument.key)
        if tick is None:
            return 0
        best = tick.best_ask if self.side is Side.BUY else tick.best_bid
        return round_to_tick(best or tick.ltp, self.instrument.tick_size)

    def _choose_instrument(self, key: InstrumentKey) -> None:
        instrument = self.context.market.instrument(key)
        if instrument is None:
            return
        self._set_instrument(instrument)
        self.price.set_paise(self._suggested_price())
        self.lots.setFocus(Qt.OtherFocusReason)
        self.lots.selectAll()

    def _set_instrument(self, instrument: Instrument | None) -> None:
        # The form quotes its instrument live (LTP, best bid/ask, stale-quote check): hold a
        # subscription for as long as it shows it.
        old = self.instrument.key if self.instrument is not None else None
        new = instrument.key if instrument is not None else None
        if old != new:
            if old is not None:
                self.context.session.unsubscribe([old])
            if new is not None:
                self.context.session.subscribe([new])
        self.instrument = instrument
        if instrument is None:
            self.symbol_label.setText("No instrument: search below")
        else:
            name = instrument.display_name
            extra = f"  ·  {name}" if name != instrument.trading_symbol else ""
            self.symbol_label.setText(f"<b>{instrument.trading_symbol}</b>{extra}  ({instrument.exchange.value})")
        tick = instrument.tick_size if instrument else 5
        self.price.set_tick(tick)
        self.trigger.set_tick(tick)
        self._fill_products()
        self._refresh()

    def _fill_products(self) -> None:
        current = self.product.currentText()
        products = allowed_products(self.instrument)
        self.product.blockSignals(True)
        self.product.clear()
        self.product.addItems([p.value for p in products])
        preferred = (self.context.settings.get("order_defaults", {}) or {}).get("product", Product.MIS.value)
        wanted = current if current in [p.value for p in products] else preferred
        self._select(self.product, wanted)
        self.product.blockSignals(False)

    # --- side and type --------------------------------------------------------------------------
    def _set_side(self, side: Side) -> None:
        if self.modifying is not None and side is not self.modifying.side:
            return
        changed = side is not self.side
        self.side = side
        self.buy_button.setChecked(side is Side.BUY)
        self.sell_button.setChecked(side is Side.SELL)
        if changed and self.modifying is None and self.instrument is not None and not self.price.hasFocus():
            self.price.set_paise(self._suggested_price())
        self._update_header()
        self._refresh()

    def toggle_side(self) -> None:
        self._set_side(self.side.opposite)

    def _update_header(self) -> None:
        colours = theme.current()
        colour = colours.buy if self.side is Side.BUY else colours.sell
        verb = "Modify" if self.modifying is not None else self.side.value.capitalize()
        self.mode_label.setText(f"MODIFY {self.side.value}" if self.modifying is not None else self.side.value)
        self.header.setStyleSheet(
            f"QFrame#order_entry_header {{ background: {colour}; }}"
            f"QLabel#order_entry_mode {{ color: white; }}"
            f"QFrame#order_entry_header QPushButton {{ color: white; background: transparent;"
            f" border: 1px solid rgba(255,255,255,90); padding: 2px 8px; }}"
            f"QFrame#order_entry_header QPushButton:checked {{ background: rgba(255,255,255,70);"
            f" }}")
        self.submit_button.setText(verb)
        self.submit_button.setStyleSheet(
            f"QPushButton {{ background: {colour}; color: white; font-weight: 600; padding: 4px 18px; }}")

    def _on_type_changed(self, *_args) -> None:
        order_type = self.current_order_type()
        self.price.setEnabled(order_type.needs_price)
        self.trigger.setEnabled(order_type.needs_trigger)
        if order_type.needs_trigger and self.trigger.paise() == 0 and self.price.paise():
            self.trigger.set_paise(self.price.paise())
        self._refresh()

    def current_order_type(self) -> OrderType:
        return OrderType(self.order_type.currentText())

    # --- the order --------------------------------------------------------------------------------
    def quantity_units(self) -> int:
        return self.lots.value() * (self.instrument.lot_size if self.instrument else 1)

    def build_request(self) -> OrderRequest | None:
        if self.instrument is None:
            return None
        order_type = self.current_order_type()
        return OrderRequest(
            account=self.context.account, instrument_key=self.instrument.key, side=self.side,
            quantity=self.quantity_units(), order_type=order_type, product=Product(self.product.currentText()),
            validity=Validity(self.validity.currentText()),
            price=self.price.paise() if order_type.needs_price else 0,
            trigger_price=self.trigger.paise() if order_type.needs_trigger else 0,
        )

    def build_modification(self) -> OrderModification:
        order_type = self.current_order_type()
        return OrderModification(
            quantity=self.quantity_units(), order_type=order_type,
            price=self.price.paise() if order_type.needs_price else 0,
            trigger_price=self.trigger.paise() if order_type.needs_trigger else 0,
        )

    def problems(self) -> list[Problem]:
        """What stops this order going out, checked the same way the order service checks."""
        if self.instrument is None:
            return [Problem("instrument", "Choose an instrument.")]
        if self.modifying is not None:
            return check_modification(self.build_modification(), self.modifying.order_type, self.instrument,
                                      self.modifying.price, self.modifying.trigger_price, self.side)
        return check_order(self.build_request(), self.instrument,
                           allow_freeze_slicing=self.context.orders.allow_freeze_slicing)

    def submit(self) -> bool:
        """Send the order (or the modification) if it has no problem; True when sent."""
        problems = self.problems()
        self._show_problems(problems)
        if problems:
            self._focus_field(problems[0].field)
            return False
        if self.modifying is not None:
            order, modification = self.modifying, self.build_modification()
            self.last_task = spawn(self.context.orders.modify(order, modification))
            self.order_submitted.emit((order, modification))
            self.modifying = None
            self._lock_for_modify(False)
        else:
            request = self.build_request()
            self.last_task = spawn(self.context.orders.place(request))
            self.order_submitted.emit(request)
        self.close_requested.emit()
        return True

    def _focus_field(self, field: str) -> None:
        widget = {"quantity": self.lots, "price": self.price, "trigger_price": self.trigger,
                  "product": self.product, "instrument": self.search}.get(field)
        if widget is not None and widget.isEnabled() and widget.isVisible():
            widget.setFocus(Qt.OtherFocusReason)

    # --- live values ----------------------------------------------------------------------------
    def _on_ticks(self, keys: frozenset) -> None:
        if self.instrument is not None and self.instrument.key in keys:
            self._refresh_market()

    def _refresh(self, *_args) -> None:
        lot = self.instrument.lot_size if self.instrument else 1
        units = self.quantity_units()
        self.units_label.setText(f"× {format_quantity(lot)} = {format_quantity(units)} unit{'' if units == 1 else 's'}")
        self._refresh_market()
        problems = self.problems() if self.instrument is not None else []
        self._show_problems(problems)
        self._show_market_protection()
        self._schedule_charges(problems)

    def _refresh_market(self) -> None:
        tick = self.context.market.tick(self.instrument.key) if self.instrument else None
        if tick is None:
            self.ltp_label.setText("—")
        else:
            colour = theme.current().positive if tick.change >= 0 else theme.current().negative
            self.ltp_label.setText(f"{format_price(tick.ltp)} <span style='color:{colour}'>"
                                   f"{format_percent(tick.change_percent)}</span>")
        order_type = self.current_order_type()
        price = self.price.paise() if order_type.needs_price else (tick.ltp if tick else 0)
        value = price * self.quantity_units()
        approx = "≈ " if not order_type.needs_price else ""
        self.value_label.setText(f"{approx}{format_price(value)}" if value else "—")

    def _show_market_protection(self) -> None:
        """Say so when this broker sends a market order as a limit order through the LTP."""
        broker = self.context.session.broker
        percent = market_protection_percent(broker)
        show = percent is not None and not self.current_order_type().needs_price
        if show:
            label = BROKER_LABELS.get(getattr(broker, "name", ""), str(getattr(broker, "name", "broker")).title())
            self.protection_label.setText(f"Market orders go out as limit orders {percent:g}% through the LTP "
                                          f"({label} API)")
            self.protection_label.setStyleSheet(f"color: {theme.current().muted};")
        self.protection_label.setVisible(show)

    # --- charges (the broker's estimate, asked for off the UI thread) ----------------------------
    def _schedule_charges(self, problems: list[Problem]) -> None:
        """Ask for the charges of the form's order once it rests; '—' while it cannot be sent."""
        if not self.offers_charges():
            return
        request = self.build_request() if self.modifying is None and not problems else None
        if request is None:
            self._charges_wanted = self._charges_shown = None
            self._charges_timer.stop()
            self.charges_label.setText("—")
            self.charges_label.setToolTip("")
            return
        if self._charges_shown == request_terms(request):
            return  # the estimate on screen is for this very order
        self._charges_wanted = request
        self.charges_label.setText("…")
        self._charges_timer.start()  # restarts: typing 2, 0, 0 asks once, for 200

    def _estimate_charges(self) -> None:
        if self._charges_wanted is not None:
            self.charges_task = spawn(self._load_charges(self._charges_wanted))

    async def _load_charges(self, request: OrderRequest) -> bool:
        """The broker's estimate for ``request`` (pool thread), shown if the form still holds it."""
        broker: Any = self.context.session.broker
        try:
            estimate = await self.context.runner.run(broker.estimate_charges, [request])
        except Exception as exc:  # a refusal or an odd reply: said beside the order, which may still go
            if self._charges_wanted is request:
                self.charges_label.setText("not available")
                self.charges_label.setToolTip(str(exc))
            log.info("charge estimate failed: %s", exc)
            return False
        if self._charges_wanted is not request:
            return False  # the form changed while the broker answered
        self._charges_shown = request_terms(request)
        self.charges_label.setText(f"≈ {format_price(estimate.total)}")
        parts = "\n".join(f"{name}: ₹{format_price(paise)}" for name, paise in estimate.parts.items())
        self.charges_label.setToolTip(f"{broker.name} estimate for a fill at ₹{format_price(request.price)}"
                                      f"\n{parts}" if request.price else parts)
        return True

    def request_gtt(self) -> None:
        """Hand the form's order to the GTT panel (gtt_requested); problems first, as for Enter."""
        problems = self.problems()
        request = self.build_request()
        if request is None or problems:
            self._show_problems(problems)
            return
        self.gtt_requested.emit(request)

    def _show_problems(self, problems: list[Problem]) -> None:
        text = "\n".join(str(p) for p in problems)
        self.problems_label.setText(text)
        self.problems_label.setStyleSheet(f"color: {theme.current().negative};")

    # --- keys -----------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.KeyPress and self._handle_key(watched, event):
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._handle_key(self, event):
            super().keyPressEvent(event)

    def _handle_key(self, watched: QObject, event: QKeyEvent) -> bool:
        key = event.key()
        if key == Qt.Key_Escape:
            if watched is self.search and self.search.text():
                return False  # Esc first clears the search
            self.close_requested.emit()
            return True
        if key in (Qt.Key_Return, Qt.Key_Enter):
            if watched is self.search and self.search.text():
                self.search.choose_current()  # Enter picks the instrument; it does not send
                return True
            if isinstance(watched, QAbstractSpinBox):
                watched.interpretText()  # a typed value counts even before the field loses focus
            self.submit()
            return True
        if key in (Qt.Key_F1, Qt.Key_F2) and not event.modifiers() and self.modifying is None:
            self._set_side(Side.BUY if key == Qt.Key_F1 else Side.SELL)
            return True
        return False
