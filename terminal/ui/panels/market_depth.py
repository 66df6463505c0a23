"""Market depth: five bid and five ask levels of one instrument, side by side, with totals."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHeaderView, QLabel, QVBoxLayout, QWidget

from terminal.domain import InstrumentKey, Tick
from terminal.domain.money import format_percent, format_price, format_quantity
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.models.table_model import CENTER, RIGHT, Column, KeyedTableModel, format_signed_price, sign_colour
from terminal.ui.widgets.table_view import TradingTableView, tabular_font

LEVELS = 5
TOTAL_ROW = LEVELS  # the sixth row holds the totals


class MarketDepthPanel(QWidget):
    panel_id = "market_depth"
    title = "Market Depth"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.key: InstrumentKey | None = None
        self.header = QLabel("Select an instrument", self)
        self.header.setTextFormat(Qt.RichText)
        self.header.setContentsMargins(6, 4, 6, 2)
        self.stats = QLabel(self)
        self.stats.setFont(tabular_font(self.stats.font()))
        self.stats.setTextFormat(Qt.RichText)
        self.stats.setContentsMargins(6, 0, 6, 4)
        self.model = KeyedTableModel(self._columns(), key_of=lambda level: level, parent=self, cache_cells=True)
        self.model.set_rows(range(LEVELS + 1))
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.model.show_in(self.table)  # a closed or tabbed-away depth dock costs no repaint signal
        self.table.setAlternatingRowColors(False)
        self.table.horizontalHeader().setSectionsMovable(False)
        self.table.setSelectionMode(TradingTableView.NoSelection)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        top = QGridLayout()
        top.addWidget(self.header, 0, 0)
        top.addWidget(self.stats, 1, 0)
        layout.addLayout(top)
        layout.addWidget(self.table)
        context.market.ticks_updated.connect(self._on_ticks)
        context.market.catalog_changed.connect(self._show_header)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.setMinimumHeight(self.table.verticalHeader().defaultSectionSize() * (LEVELS + 2) + 4)

    def _columns(self) -> list[Column]:
        def level(side: str, attr: str):
            def read(row: int):
                tick = self.tick()
                if tick is None:
                    return None
                levels = getattr(tick, side)
                if row == TOTAL_ROW:
                    if attr == "quantity":
                        return tick.total_buy_quantity if side == "bids" else tick.total_sell_quantity
                    return None
                return getattr(levels[row], attr) if row < len(levels) else None
            return read

        def total_label(side: str):
            return lambda row: ("Total" if row == TOTAL_ROW and side == "bids" else None)

        colours = theme.current
        bid = lambda _v: colours().positive if colours().name == "dark" else colours().buy  # noqa: E731
        ask = lambda _v: colours().negative  # noqa: E731
        return [
            Column("Orders", level("bids", "orders"), lambda v: "" if v is None else format_quantity(v), CENTER,
                   width=52),
            Column("Qty", level("bids", "quantity"), lambda v: "" if v is None else format_quantity(v), RIGHT,
                   colour=bid, width=80),
            Column("Bid", lambda row: level("bids", "price")(row) or total_label("bids")(row),
                   lambda v: v if isinstance(v, str) else (format_price(v) if v else ""), RIGHT, colour=bid,
                   width=84),
            Column("Ask", lambda row: level("asks", "price")(row) or total_label("asks")(row),
                   lambda v: v if isinstance(v, str) else (format_price(v) if v else ""), RIGHT, colour=ask,
                   width=84),
            Column("Qty", level("asks", "quantity"), lambda v: "" if v is None else format_quantity(v), RIGHT,
                   colour=ask, width=80),
            Column("Orders", level("asks", "orders"), lambda v: "" if v is None else format_quantity(v), CENTER,
                   width=52),
        ]

    def tick(self) -> Tick | None:
        return self.context.market.tick(self.key) if self.key else None

    def set_instrument(self, key: InstrumentKey | None) -> None:
        """Show ``key`` (subscribing it, and releasing the previous one)."""
        if key == self.key:
            return
        if self.key:
            self.context.session.unsubscribe([self.key])
        self.key = key
        if key:
            self.context.session.subscribe([key])
        self._show_header()
        self.model.refresh_all()

    def _on_ticks(self, keys: frozenset) -> None:
        if self.key in keys:
            self.model.refresh_all()  # six rows: one signal
            self._show_stats()

    def _show_header(self) -> None:
        instrument = self.context.market.instrument(self.key) if self.key else None
        if self.key is None:
            self.header.setText("Select an instrument")
        else:
            name = instrument.display_name if instrument else self.key
            symbol = instrument.trading_symbol if instrument else self.key
            self.header.setText(f"<b>{symbol}</b>  <span style='color:{theme.current().muted}'>{name}</span>")
        self._show_stats()

    def _show_stats(self) -> None:
        tick = self.tick()
        if tick is None:
            self.stats.setText("No quote yet" if self.key else "")
            return
        colour = sign_colour(tick.change) or theme.current().text
        text = (
            f"LTP <b>{format_price(tick.ltp)}</b> <span style='color:{colour}'>{format_signed_price(tick.change)} "
            f"({format_percent(tick.change_percent)})</span>   Vol {format_quantity(tick.volume)}"
            + (f"   OI {format_quantity(tick.open_interest)}" if tick.open_interest else "")
            + f"<br>O {format_price(tick.open)}  H {format_price(tick.high)}  L {format_price(tick.low)}"
              f"  C {format_price(tick.close)}")
        if text != self.stats.text():  # rich text is parsed and laid out again on every set
            self.stats.setText(text)

    def selected_key(self) -> InstrumentKey | None:
        return self.key

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
