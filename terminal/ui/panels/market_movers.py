"""Market movers: F&O gainers and losers, open-interest build-up, and put-call ratios.

Only brokers that publish these lists feed this panel (Angel One's market-data routes); the main
window docks it when :func:`supports_market_movers` says so. The panel relies on the broker
methods ``gainers_losers(datatype, expirytype)``, ``oi_buildup(datatype, expirytype)`` and
``put_call_ratio()`` alone, and calls them through ``context.runner.run`` on a pool thread.
The list shown is reloaded when the view or expiry changes, on Refresh (F5), and every minute
while the panel is visible (the broker allows a few such calls a second).

Prices are paise (shown in rupees), open interest in units.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from terminal.brokers.base import BrokerError
from terminal.domain import Exchange, instrument_key
from terminal.services.background import spawn
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.models.table_model import (
    RIGHT, Column, KeyedTableModel, percent_column, price_column, quantity_column, signed_price_column,
)
from terminal.ui.widgets.table_view import TradingTableView

log = logging.getLogger(__name__)

MOVER_METHODS = ("gainers_losers", "oi_buildup", "put_call_ratio")
EXPIRIES = ("NEAR", "NEXT", "FAR")
REFRESH_MS = 60_000


@dataclass(frozen=True)
class MoversView:
    """One list the panel can show: its title, the broker method and the method's datatype."""

    title: str
    method: str
    datatype: str = ""

    @property
    def takes_expiry(self) -> bool:
        return self.method != "put_call_ratio"


VIEWS = (
    MoversView("Top gainers (price %)", "gainers_losers", "PercPriceGainers"),
    MoversView("Top losers (price %)", "gainers_losers", "PercPriceLosers"),
    MoversView("OI gainers (%)", "gainers_losers", "PercOIGainers"),
    MoversView("OI losers (%)", "gainers_losers", "PercOILosers"),
    MoversView("Long build-up", "oi_buildup", "Long Built Up"),
    MoversView("Short build-up", "oi_buildup", "Short Built Up"),
    MoversView("Short covering", "oi_buildup", "Short Covering"),
    MoversView("Long unwinding", "oi_buildup", "Long Unwinding"),
    MoversView("Put-call ratio", "put_call_ratio"),
)


def supports_market_movers(broker: object) -> bool:
    """True when ``broker`` publishes gainers/losers, OI build-up and put-call ratios."""
    return all(callable(getattr(broker, name, None)) for name in MOVER_METHODS)


def _columns(view: MoversView) -> list[Column]:
    symbol = Column("Symbol", lambda r: r.trading_symbol, width=170)
    if view.method == "put_call_ratio":
        return [symbol, Column("PCR", lambda r: r.pcr, lambda v: f"{v:.2f}", RIGHT, width=70)]
    columns = [symbol]
    if view.method == "oi_buildup":
        columns += [price_column("LTP", lambda r: r.ltp, width=84),
                    signed_price_column("Change", lambda r: r.net_change, width=80)]
    columns += [percent_column("Change %", lambda r: r.percent_change, width=74),
                quantity_column("OI", lambda r: r.open_interest, width=100),
                Column("OI change", lambda r: r.oi_change, _signed_units, RIGHT, width=90)]
    return columns


def _signed_units(value: int | None) -> str:
    if value is None:
        return ""
    return f"{value:+,}" if value else "0"


class MarketMoversPanel(QWidget):
    """One mover list at a time, chosen in a combo box; Enter on a row selects that contract."""

    panel_id = "market_movers"
    title = "Market Movers"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.rows: list[Any] = []
        self.last_task: asyncio.Task | None = None
        self._build()
        self._use_view(self.view)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._refresh_if_visible)
        if self.available:
            self.timer.start()
            context.session.ready.connect(self.refresh)
            self.refresh()  # nothing before login: docked at start-up, the first load waits for ready
        else:
            self._say(f"{getattr(self.broker, 'name', 'This broker')} does not publish market movers.", error=True)
            for widget in (self.view_box, self.expiry_box, self.refresh_button):
                widget.setEnabled(False)

    @property
    def broker(self) -> Any:
        return self.context.session.broker

    @property
    def available(self) -> bool:
        return supports_market_movers(self.broker)

    @property
    def view(self) -> MoversView:
        return VIEWS[max(0, self.view_box.currentIndex())]

    @property
    def expiry(self) -> str:
        return self.expiry_box.currentText()

    def _build(self) -> None:
        self.view_box = QComboBox(self)
        self.view_box.addItems([v.title for v in VIEWS])
        self.expiry_box = QComboBox(self)
        self.expiry_box.addItems(list(EXPIRIES))
        self.expiry_box.setToolTip("Futures expiry: near, next or far month")
        self.refresh_button = QPushButton("Refresh (F5)", self)
        self.refresh_button.clicked.connect(self.refresh)
        QShortcut(QKeySequence(Qt.Key_F5), self, self.refresh, context=Qt.WidgetWithChildrenShortcut)
        self.view_box.currentIndexChanged.connect(self._on_choice)
        self.expiry_box.currentIndexChanged.connect(self._on_choice)
        self.model = KeyedTableModel(_columns(VIEWS[0]), key_of=lambda r: r.trading_symbol, parent=self)
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.table.row_activated.connect(self._activate)
        self.status_label = QLabel(self)
        self.status_label.setContentsMargins(4, 2, 4, 2)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 4)
        bar.addWidget(self.view_box, 1)
        bar.addWidget(self.expiry_box)
        bar.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status_label)

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
        if self.table.current_row() < 0 and len(self.model):
            self.table.select_row(0)

    def show_view(self, title: str, expiry: str = "NEAR") -> None:
        """Switch to the list called ``title`` (one of VIEWS) for ``expiry`` and reload it."""
        titles = [v.title for v in VIEWS]
        if title not in titles or expiry not in EXPIRIES:
            raise ValueError(f"unknown market movers view {title!r} / expiry {expiry!r}")
        self.view_box.blockSignals(True)
        self.view_box.setCurrentIndex(titles.index(title))
        self.view_box.blockSignals(False)
        self.expiry_box.setCurrentText(expiry)  # reloads when it changes
        self._on_choice()

    def _on_choice(self, *_args) -> None:
        self._use_view(self.view)
        self.refresh()

    def _use_view(self, view: MoversView) -> None:
        self.expiry_box.setEnabled(view.takes_expiry and self.available)
        if [c.header for c in self.model.columns] != [c.header for c in _columns(view)]:
            self.model = KeyedTableModel(_columns(view), key_of=lambda r: r.trading_symbol, parent=self)
            self.table.setModel(self.model)
            self.table.fit_columns()
        self.rows = []
        self.table.show_rows([])

    # --- loading (pool thread for the call; the table is filled here, on the UI thread) ----------
    def refresh(self) -> asyncio.Task | None:
        if not self.available or not self.context.session.logged_in:
            return None
        self.last_task = spawn(self._load(self.view, self.expiry))
        return self.last_task

    def _refresh_if_visible(self) -> None:
        # A dock tabbed behind another stays isVisible(); only an exposed panel is worth a broker call.
        if not self.visibleRegion().isEmpty():
            self.refresh()

    async def _load(self, view: MoversView, expiry: str) -> bool:
        method = getattr(self.broker, view.method)
        args = () if not view.takes_expiry else (view.datatype, expiry)
        self._say(f"Loading {view.title.lower()}…")
        try:
            rows = await self.context.runner.run(method, *args)
        except Exception as exc:  # BrokerError, or an odd reply: the reason is shown, the panel lives on
            if not isinstance(exc, BrokerError):
                log.exception("market movers %s failed", view.method)
            self._say(f"Could not load {view.title.lower()}: {exc}", error=True)
            return False
        if view != self.view or (view.takes_expiry and expiry != self.expiry):
            return False  # the trader moved on while this was loading
        self.rows = list(rows)
        self.table.show_rows(self.rows)
        where = f", {expiry.lower()} expiry" if view.takes_expiry else ""
        self._say(f"{view.title}{where}: {len(self.rows)} contract{'' if len(self.rows) == 1 else 's'}.")
        return True

    def key_of_row(self, row: int) -> str | None:
        """The instrument key of a mover row (F&O lists: NFO token), if the catalog knows it."""
        item = self.model.item(row) if 0 <= row < len(self.model) else None
        token = getattr(item, "token", "")
        if not token:
            instrument = self.context.market.catalog.by_symbol(getattr(item, "trading_symbol", "")) if item else None
            return instrument.key if instrument else None
        key = instrument_key(Exchange.NFO, token)
        return key if self.context.market.instrument(key) is not None else None

    def _activate(self, row: int) -> None:
        key = self.key_of_row(row)
        if key is None:
            self._say("That contract is not in the instrument master.", error=True)
            return
        self.context.requests.instrument_selected.emit(key)

    def _say(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {theme.current().negative};" if error else "")
