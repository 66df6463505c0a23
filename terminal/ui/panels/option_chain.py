"""Option chain: strikes as rows, calls left and puts right, with live IV and greeks.

Quotes repaint only the rows that ticked; IV and greeks of the whole chain are recomputed in
one vectorised call at most four times a second (``ChainData``). Keyboard: Up/Down move through
strikes, Left/Right pick the call or the put side, F1/F2 open a prefilled buy/sell, digits set
the lots of the next order. Clicking a bid adds a SELL leg to the strategy builder, an ask a BUY
leg (``leg_requested``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QKeyEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QSpinBox, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QVBoxLayout,
    QWidget,
)

from terminal.domain import InstrumentKey, Side
from terminal.domain.money import format_price, group_indian
from terminal.services.greeks_engine import CALL, PUT, ChainData
from terminal.ui import theme
from terminal.ui.models.table_model import (
    BACKGROUND_ROLE, CENTER, DISPLAY_ROLE, RIGHT, Column, KeyedTableModel, sign_colour,
)
from terminal.ui.widgets.table_view import TradingTableView

LOTS_TYPING_WINDOW_S = 1.2  # digits typed within this of each other build one number ("1", "0" -> 10)
MAX_LOTS = 9999
BAR_ROLE = int(Qt.ItemDataRole.UserRole) + 1
FONT_ROLE = int(Qt.ItemDataRole.FontRole)
ALIGN_RIGHT = int(Qt.AlignRight | Qt.AlignVCenter)  # looked up once: Qt enum attributes are slow per paint
ALIGN_CENTER = int(Qt.AlignCenter)
STATE_SELECTED = QStyle.StateFlag.State_Selected
CE_ITEM_VIEW_ITEM = QStyle.ControlElement.CE_ItemViewItem
PALETTE_TEXT = QPalette.ColorRole.Text
  # a bar cell's length as a fraction of the column's largest value (-1..1)
ITM_CALL = "#2a2619"  # warm tint: in the money
ITM_PUT = "#2a2619"
STRIKE_BG = "#232a34"
ATM_BG = "#6b5314"
SPOT_LINE = "#f0b429"
SELECTED_BG = "#2d5b8a"
SELECTED_BRUSH = QBrush(QColor(SELECTED_BG))
WHITE = QColor("#ffffff")
CALL_BAR = "#ef5350"  # call OI is resistance (red), put OI support (green), as traders read them
PUT_BAR = "#26a69a"
FALLING_BAR = "#8a94a3"


# --- formatting ------------------------------------------------------------------------------------


def compact_count(value: float | None) -> str:
    """Units the Indian way, short: 1.23Cr, 45.6L, 12.3K; '' when unknown."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    magnitude = abs(value)
    if magnitude >= 1e7:
        return f"{value / 1e7:.2f}Cr"
    if magnitude >= 1e5:
        return f"{value / 1e5:.2f}L"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}K"
    return group_indian(int(value))


def _fixed(decimals: int, scale: float = 1.0, signed: bool = False) -> Callable[[float | None], str]:
    def fmt(value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return ""
        return f"{value * scale:{'+' if signed else ''}.{decimals}f}"
    return fmt


def _price(value: int | None) -> str:
    return format_price(value) if value else ""


def _strike(value: int) -> str:
    """Strikes are whole rupees: '25,550', not '25,550.00'."""
    return format_price(value).removesuffix(".00")


def _signed_price(value: int | None) -> str:
    if not value:
        return ""
    return ("+" if value > 0 else "") + format_price(value)


@dataclass(frozen=True, slots=True)
class ChainRow:
    at: int  # row number in the chain
    strike: int  # paise


@dataclass(frozen=True, slots=True)
class ChainColumn:
    """What a chain column shows: a quote field or an analytic, of the call or put side."""

    header: str
    side: int | None  # CALL, PUT, or None for the strike
    field: str
    bar: bool = False


QUOTE_FIELDS = ("oi_change", "oi", "volume", "change", "ltp", "bid", "ask")
CALL_FIELDS = (("OI Chg", "oi_change"), ("OI", "oi"), ("Volume", "volume"), ("Vega", "vega"), ("Theta", "theta"),
               ("Gamma", "gamma"), ("Delta", "delta"), ("IV", "iv"), ("Chg", "change"), ("LTP", "ltp"),
               ("Bid", "bid"), ("Ask", "ask"))


def chain_columns() -> list[ChainColumn]:
    calls = [ChainColumn(h, CALL, f, f in ("oi", "oi_change")) for h, f in CALL_FIELDS]
    puts = [ChainColumn(h, PUT, f, f in ("oi", "oi_change")) for h, f in reversed(CALL_FIELDS)]
    puts[0], puts[1] = puts[1], puts[0]  # bid before ask on both sides
    return calls + [ChainColumn("Strike", None, "strike")] + puts


# --- the model ------------------------------------------------------------------------------------------


class ChainModel(KeyedTableModel):
    """Rows by strike; every cell reads the live chain. Backgrounds show ITM and the ATM strike."""

    def __init__(self, chain: ChainData, parent=None):
        self.chain = chain
        self.chain_columns = chain_columns()
        super().__init__([self._column(c) for c in self.chain_columns], key_of=lambda r: r.strike, parent=parent)
        self._bold = QFont()
        self._bold.setBold(True)
        self._bar_max: dict[int, float] = {}
        self.strike_column = next(i for i, c in enumerate(self.chain_columns) if c.side is None)

    def _column(self, spec: ChainColumn) -> Column:
        read = self._reader(spec)
        fmt, colour, width = {
            "oi_change": (compact_count, None, 62), "oi": (compact_count, None, 62),
            "volume": (compact_count, None, 62), "iv": (_fixed(2, 100.0), None, 50),
            "delta": (_fixed(3), None, 52), "gamma": (_fixed(4), None, 56), "theta": (_fixed(2), None, 54),
            "vega": (_fixed(2), None, 50), "change": (_signed_price, sign_colour, 60), "ltp": (_price, None, 66),
            "bid": (_price, None, 64), "ask": (_price, None, 64), "strike": (_strike, None, 70),
        }[spec.field]
        align = CENTER if spec.side is None else RIGHT
        return Column(spec.header, read, fmt, align, colour=colour, width=width)

    def _reader(self, spec: ChainColumn) -> Callable[[ChainRow], object]:
        chain, side, name = self.chain, spec.side, spec.field
        if name == "strike":
            return lambda row: row.strike
        if name in QUOTE_FIELDS:
            def quote(row: ChainRow):
                t = chain.tick(row.at, side)
                if t is None:
                    return None
                return {"oi_change": t.open_interest_change, "oi": t.open_interest, "volume": t.volume,
                        "change": t.change, "ltp": t.ltp, "bid": t.best_bid, "ask": t.best_ask}[name]
            return quote
        return lambda row: chain.value(name, row.at, side)

    def reload(self) -> None:
        self.set_rows([ChainRow(at, strike) for at, strike in enumerate(self.chain.strikes)])
        self.update_bar_scale()

    def update_bar_scale(self) -> bool:
        """Largest |value| of each bar column, so bars compare within the column. Read from the
        chain's open-interest arrays of the last recompute, not cell by cell. True if it moved."""
        arrays = {"oi": self.chain.open_interest, "oi_change": self.chain.open_interest_change}
        before = dict(self._bar_max)
        for number, spec in enumerate(self.chain_columns):
            if spec.bar:
                values = arrays[spec.field]
                row = values[spec.side] if values.shape[-1] == len(self) else ()
                self._bar_max[number] = float(np.abs(row).max()) if len(row) else 0.0
        return self._bar_max != before

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY_ROLE):
        if role == BACKGROUND_ROLE and index.isValid():
            return self._background(index)
        if role == BAR_ROLE and index.isValid():
            top = self._bar_max.get(index.column())
            value = self.columns[index.column()].value(self.item(index.row())) if top else None
            return value / top if value else 0.0
        if role == FONT_ROLE and index.column() == self.strike_column:
            return self._bold
        return super().data(index, role)

    def _background(self, index) -> object:
        row = self.item(index.row())
        side = self.chain_columns[index.column()].side
        reference = self.chain.reference_price()
        if side is None:
            return self._brush(ATM_BG if index.row() == self.chain.atm_row() else STRIKE_BG)
        if not math.isfinite(reference):
            return None
        in_the_money = row.strike < reference if side == CALL else row.strike > reference
        return self._brush(ITM_CALL if side == CALL else ITM_PUT) if in_the_money else None


# --- painting -----------------------------------------------------------------------------------------------


class ChainDelegate(QStyledItemDelegate):
    """Paints OI bars under the numbers, and shows the selection on the chosen side only."""

    def __init__(self, panel: "OptionChainPanel"):
        super().__init__(panel)
        self.panel = panel

    def initStyleOption(self, option: QStyleOptionViewItem, index) -> None:
        super().initStyleOption(option, index)
        if not option.state & STATE_SELECTED:
            return
        # The view paints no selection (transparent); the chosen side and the strike get it here.
        option.state &= ~STATE_SELECTED
        side = self.panel.model.chain_columns[index.column()].side
        if side is None or side == self.panel.side:
            option.backgroundBrush = SELECTED_BRUSH
            option.palette.setColor(PALETTE_TEXT, WHITE)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        spec = self.panel.model.chain_columns[index.column()]
        if not spec.bar:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        widget = opt.widget
        style = widget.style() if widget else None
        if style:
            style.drawControl(CE_ITEM_VIEW_ITEM, opt, painter, widget)
        fraction = index.data(BAR_ROLE) or 0.0
        if fraction:
            rect = opt.rect.adjusted(2, 3, -2, -3)
            width = max(1, int(rect.width() * min(abs(fraction), 1.0)))
            colour = (CALL_BAR if spec.side == CALL else PUT_BAR) if fraction > 0 else FALLING_BAR
            bar = QColor(colour)
            bar.setAlpha(90)
            # Bars grow from the outer edge of each side towards the strike column.
            left = rect.left() if spec.side == CALL else rect.right() - width + 1
            painter.fillRect(QRect(left, rect.top(), width, rect.height()), bar)
        painter.setPen(opt.palette.color(PALETTE_TEXT))
        painter.drawText(opt.rect.adjusted(2, 0, -4, 0), ALIGN_RIGHT, text)


class ChainTableView(TradingTableView):
    """The trading table plus a line between the strikes where the spot is, labelled."""

    def __init__(self, panel: "OptionChainPanel"):
        super().__init__(panel)
        self.panel = panel
        self._spot_drawn_at: tuple[int | None, int | None] | None = None  # (line row, ATM row) last painted

    def spot_line_row(self) -> int | None:
        """The row the spot line is drawn above (the first strike above the spot), or None."""
        chain = self.panel.chain
        reference = chain.reference_price()
        if not chain.strikes or not math.isfinite(reference):
            return None
        return next((at for at, k in enumerate(chain.strikes) if k > reference), len(chain.strikes))

    def spot_line_y(self, row: int) -> int:
        """Viewport y of the spot line drawn above ``row`` (below the last row when past it)."""
        if row < self.model().rowCount():
            return self.rowViewportPosition(row)
        return self.rowViewportPosition(row - 1) + self.rowHeight(row - 1)

    def spot_label_rect(self, row: int, metrics: QFontMetrics) -> QRect:
        """Where the spot price is written on the line, in the strike column."""
        column = self.panel.model.strike_column
        x, width = self.columnViewportPosition(column), self.columnWidth(column)
        height = metrics.height()
        return QRect(x + 2, self.spot_line_y(row) - height // 2, width - 4, height)

    def label_font(self) -> QFont:
        font = QFont(self.viewport().font())
        font.setPointSizeF(font.pointSizeF() * 0.85)
        font.setBold(True)
        return font

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        row = self.spot_line_row()
        if row is None or self.model() is None or self.model().rowCount() == 0:
            return
        y = self.spot_line_y(row)
        painter = QPainter(self.viewport())
        painter.setPen(QPen(QColor(SPOT_LINE), 2))
        painter.drawLine(0, y, self.viewport().width(), y)
        label = self.panel.spot_text()
        if label:
            painter.setFont(self.label_font())
            box = self.spot_label_rect(row, painter.fontMetrics())
            painter.fillRect(box, QColor(SPOT_LINE))
            painter.setPen(QColor("#15191f"))
            painter.drawText(box, ALIGN_CENTER, label)
        painter.end()

    def spot_moved(self) -> None:
        """Repaint what follows the spot: the whole chain when the line or the ATM strike moved
        to another row (the ITM shading moves with them), else only the price on the line."""
        row = self.spot_line_row()
        where = (row, self.panel.chain.atm_row())
        if where != self._spot_drawn_at or row is None or not self.model() or self.model().rowCount() == 0:
            self._spot_drawn_at = where
            self.viewport().update()
            return
        box = self.spot_label_rect(row, QFontMetrics(self.label_font()))
        self.viewport().update(box.adjusted(-2, -2, 2, 2))


# --- the panel --------------------------------------------------------------------------------------------


class OptionChainPanel(QWidget):
    panel_id = "option_chain"
    title = "Option Chain"

    leg_requested = Signal(object, str)  # Side, instrument key: a click on an ask (BUY) or a bid (SELL)
    selection_changed = Signal(str)  # the selected option's key

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.side = CALL
        self.lots = 1
        self._last_digit_at = 0.0
        rate = context.settings.get("risk_free_rate", None)
        self.chain = ChainData(context.market, context.session, parent=self,
                               **({"rate": float(rate)} if isinstance(rate, (int, float)) else {}))
        self.model = ChainModel(self.chain, self)
        self.table = ChainTableView(self)
        self.table.setModel(self.model)
        self.model.show_in(self.table)  # strikes scrolled out of view (or a hidden dock) cost no signal
        self.table.setItemDelegate(ChainDelegate(self))
        self.table.setStyleSheet("QTableView { selection-background-color: transparent; }")
        self.table.setAlternatingRowColors(False)  # ITM shading carries the meaning; stripes would blur it
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setSectionsMovable(False)
        self.table.installEventFilter(self)
        self.table.clicked.connect(self._on_click)
        self.table.current_row_changed.connect(lambda _row: self._selection_moved())

        self.underlying_box = QComboBox(self)
        self.underlying_box.setObjectName("chain_underlying")
        self.expiry_box = QComboBox(self)
        self.expiry_box.setObjectName("chain_expiry")
        self.lots_box = QSpinBox(self, minimum=1, maximum=MAX_LOTS, value=1, prefix="Lots ")
        self.lots_box.valueChanged.connect(self._lots_edited)
        self.header_label = QLabel(self)
        self.header_label.setObjectName("chain_header")
        self.header_label.setTextFormat(Qt.RichText)
        self.side_label = QLabel(self)
        self.side_label.setTextFormat(Qt.RichText)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 3, 4, 3)
        bar.setSpacing(6)
        bar.addWidget(self.underlying_box)
        bar.addWidget(self.expiry_box)
        bar.addWidget(self.lots_box)
        bar.addWidget(self.side_label)
        bar.addStretch(1)
        bar.addWidget(self.header_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.table)

        self.chain.structure_changed.connect(self._reload)
        self.chain.quotes_changed.connect(self._quotes_changed)
        self.chain.greeks_changed.connect(self._greeks_changed)
        self.chain.header_changed.connect(self._header_changed)
        self.underlying_box.activated.connect(lambda _i: self.set_underlying(self.underlying_box.currentText()))
        self.expiry_box.activated.connect(lambda i: self.set_expiry(self.expiry_box.itemData(i)))
        context.market.catalog_changed.connect(self._fill_underlyings)
        self._fill_underlyings()

    # --- choosing -------------------------------------------------------------------------------------
    def _fill_underlyings(self) -> None:
        names = self.chain.underlyings()
        self.underlying_box.blockSignals(True)
        self.underlying_box.clear()
        self.underlying_box.addItems(names)
        self.underlying_box.blockSignals(False)
        if not names:
            return
        saved = self.context.settings.get("option_chain_underlying")
        wanted = self.chain.underlying if self.chain.underlying in names else None
        wanted = wanted or (saved if saved in names else ("NIFTY" if "NIFTY" in names else names[0]))
        self.set_underlying(wanted)

    def set_underlying(self, name: str) -> None:
        """Show ``name``'s chain at its nearest expiry. Raises ValueError if it has no options."""
        self.chain.set_underlying(name)
        self.underlying_box.setCurrentText(name)
        self._fill_expiries()
        self.context.settings.set("option_chain_underlying", name)

    def _fill_expiries(self) -> None:
        now = self.chain.clock()
        self.expiry_box.blockSignals(True)
        self.expiry_box.clear()
        for expiry in self.chain.expiries():
            days = (expiry - now).total_seconds() / 86400
            self.expiry_box.addItem(f"{expiry:%d %b %Y}  ({max(days, 0):.1f}d)", expiry)
        self.expiry_box.setCurrentIndex(max(self.expiry_box.findData(self.chain.expiry), 0))
        self.expiry_box.blockSignals(False)

    def set_expiry(self, expiry: datetime) -> None:
        """Show the chosen underlying's chain at ``expiry`` (the exact expiry moment)."""
        self.chain.set_expiry(expiry)
        self.expiry_box.setCurrentIndex(max(self.expiry_box.findData(expiry), 0))

    def _reload(self) -> None:
        self.model.reload()
        self.table.fit_columns()
        atm = self.chain.atm_row()
        if atm is not None:
            self.table.select_row(atm)
            self._centre_on(atm)
        self._header_changed()
        self._show_side()

    def _centre_on(self, row: int) -> None:
        self.table.scrollTo(self.model.index(row, self.model.strike_column), TradingTableView.PositionAtCenter)

    # --- live ---------------------------------------------------------------------------------------------
    def _quotes_changed(self, rows: list[int]) -> None:
        self.model.refresh_rows(rows)

    def _greeks_changed(self, rows: list[int]) -> None:
        self.model.refresh_rows(rows)
        if self.model.update_bar_scale():
            # Bars are relative to the column's largest value: repaint them all when it moves.
            self.table.viewport().update()

    def _header_changed(self) -> None:
        text = self.header_text()
        if text != self.header_label.text():  # rich text is parsed and laid out again on every set
            self.header_label.setText(text)
        atm = self.chain.atm_row()
        if self.table.current_row() < 0 and atm is not None:  # the first prices: start at the money
            self.table.select_row(atm)
            self._centre_on(atm)
        self.table.spot_moved()  # the spot line and the ATM/ITM shading follow the spot

    def header_text(self) -> str:
        chain = self.chain
        muted = theme.current().muted
        a = chain.analytics

        def item(caption: str, value: str) -> str:
            return f"<span style='color:{muted}'>{caption}</span> <b>{value or '–'}</b>"

        atm = chain.atm_row()
        atm_iv = ""
        if atm is not None:
            ivs = [v for side in (CALL, PUT) if math.isfinite(v := chain.value("iv", atm, side))]
            atm_iv = f"{100 * sum(ivs) / len(ivs):.2f}%" if ivs else ""
        forward = a.forward if a and math.isfinite(a.forward) else None
        parts = [
            item("Spot", _price(chain.spot())),
            item("Fut", _price(chain.future())),
            item("Fwd", format_price(round(forward)) if forward else ""),
            item("ATM IV", atm_iv),
            item("PCR", f"{chain.pcr:.2f}" if math.isfinite(chain.pcr) else ""),
            item("Max pain", format_price(chain.max_pain).removesuffix(".00") if chain.max_pain else ""),
        ]
        return "&nbsp;&nbsp;&nbsp;".join(parts)

    def spot_text(self) -> str:
        spot = self.chain.spot()
        return format_price(spot) if spot else ""

    # --- selection and keys ------------------------------------------------------------------------------
    def selected_key(self) -> InstrumentKey | None:
        """The option under the cursor: the selected strike on the chosen side."""
        row = self.table.current_row()
        return self.chain.key(row, self.side) if row >= 0 else None

    def select(self, strike: int, side: int) -> None:
        at = self.model.row_for_key(strike)
        if at is None:
            raise ValueError(f"no strike {strike / 100:g} in the chain")
        self.side = side
        self.table.select_row(at)
        self._show_side()

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
        if self.table.current_row() < 0 and len(self.model):
            self.table.select_row(self.chain.atm_row() or 0)

    def set_lots(self, lots: int) -> None:
        self.lots = max(1, min(int(lots), MAX_LOTS))
        self.lots_box.blockSignals(True)
        self.lots_box.setValue(self.lots)
        self.lots_box.blockSignals(False)
        self._show_side()

    def _lots_edited(self, value: int) -> None:
        self.lots = value
        self._show_side()

    def _show_side(self) -> None:
        key = self.selected_key()
        instrument = self.context.market.instrument(key) if key else None
        name = instrument.display_name if instrument else ""
        units = self.lots * self.chain.lot_size
        self.side_label.setText(f"<b>{'CALL' if self.side == CALL else 'PUT'}</b> {name}"
                                f" <span style='color:{theme.current().muted}'>· {group_indian(units)} units</span>")

    def _selection_moved(self) -> None:
        self._show_side()
        key = self.selected_key()
        if key:
            if self.table.hasFocus():  # the trader moved here; a chain (re)loading behind a tab did not
                self.context.requests.instrument_selected.emit(key)
            self.selection_changed.emit(key)

    def open_order(self, side: Side) -> bool:
        """Open the order entry for the selected option, ``lots`` lots, at the touch (ask to buy, bid to sell)."""
        key = self.selected_key()
        if key is None:
            return False
        price = self.chain.touch_price(key, side)
        self.context.request_order_entry(side, key, self.lots * self.chain.lot_size, price)
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table:
            if event.type() == QEvent.ShortcutOverride and self._handles(event):
                event.accept()  # our keys while the chain has focus, even if the window maps them too
                return True
            if event.type() == QEvent.KeyPress and self._handles(event):
                return self._key(event)
        return super().eventFilter(watched, event)

    @staticmethod
    def _handles(event: QKeyEvent) -> bool:
        if event.modifiers() not in (Qt.NoModifier, Qt.KeypadModifier):
            return False
        return event.key() in (Qt.Key_Left, Qt.Key_Right, Qt.Key_F1, Qt.Key_F2, Qt.Key_Backspace) or (
            Qt.Key_0 <= event.key() <= Qt.Key_9)

    def _key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key in (Qt.Key_Left, Qt.Key_Right):
            self.side = CALL if key == Qt.Key_Left else PUT
            self.table.viewport().update()
            self._selection_moved()
        elif key == Qt.Key_F1:
            self.open_order(Side.BUY)
        elif key == Qt.Key_F2:
            self.open_order(Side.SELL)
        elif key == Qt.Key_Backspace:
            self.set_lots(max(self.lots // 10, 1))
        else:
            self._digit(key - Qt.Key_0)
        return True

    def _digit(self, digit: int) -> None:
        now = time.monotonic()
        typing_on = now - self._last_digit_at < LOTS_TYPING_WINDOW_S
        self._last_digit_at = now
        lots = self.lots * 10 + digit if typing_on else digit
        self.set_lots(lots if lots > 0 else 1)

    def _on_click(self, index: QModelIndex) -> None:
        spec = self.model.chain_columns[index.column()]
        if spec.side is None:
            return
        if spec.side != self.side:
            self.side = spec.side
            self.table.viewport().update()
            self._selection_moved()
        key = self.chain.key(index.row(), spec.side)
        if key and spec.field in ("bid", "ask"):
            self.leg_requested.emit(Side.SELL if spec.field == "bid" else Side.BUY, key)

    def closeEvent(self, event) -> None:
        self.chain.close()
        super().closeEvent(event)

