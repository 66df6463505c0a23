"""Market watch: the trader's list of instruments with live quotes, search to add, keys to act."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QMenu, QVBoxLayout, QWidget

from terminal.domain import InstrumentKey, Side, Tick
from terminal.domain.money import format_quantity
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.models.table_model import (
    LEFT, Column, KeyedTableModel, percent_column, price_column, quantity_column, signed_price_column,
)
from terminal.ui.widgets.instrument_search import InstrumentSearch
from terminal.ui.widgets.table_view import TradingTableView

FLASH_SECONDS = 0.4  # how long a row stays tinted after its LTP moved
FLASH_CHECK_MS = 100  # how often expired flashes are cleared (one timer for the whole table)
STALE_MARK = "⏸"  # shown before the symbol of an instrument whose ticks have stopped
FLASH_ALPHA = "70"  # hex alpha of the flash tint over the LTP cell
FLASH_COLUMN = 1  # the LTP column, the only one a flash tints


@dataclass(slots=True)
class WatchRow:
    """One watched instrument. ``last_ltp`` (paise) detects the direction of the next move."""

    key: InstrumentKey
    last_ltp: int = 0
    flash_until: float = 0.0  # time.monotonic() seconds
    flash_up: bool = True
    stale: bool = False  # no ticks lately: the price may be old (FeedHealth says so)


class MarketWatchPanel(QWidget):
    panel_id = "market_watch"
    title = "Market Watch"

    watchlist_changed = Signal(list)  # instrument keys, in table order

    def __init__(self, context: TerminalContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.market = context.market
        self._flashing: set[InstrumentKey] = set()
        # (flash end, key) in the order the flashes began, so their ends come in order too (every
        # flash lasts FLASH_SECONDS): clearing pops the ended ones off the front instead of
        # looking at every flashing row each batch. A row that flashed again has a later entry.
        self._flash_ends: deque[tuple[float, InstrumentKey]] = deque()
        self._flash_timer = QTimer(self, interval=FLASH_CHECK_MS)
        self._flash_timer.timeout.connect(lambda: self._clear_expired_flashes())

        self.search = InstrumentSearch(lambda: self.market.catalog, self)
        self.search.instrument_chosen.connect(self.add_instrument)
        self.model = KeyedTableModel(self._columns(), key_of=lambda row: row.key, parent=self, cache_cells=True)
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.model.show_in(self.table)  # ticks of rows scrolled out of view cost no repaint signal
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._show_menu)
        self.table.current_row_changed.connect(self._on_row_changed)
        self.table.row_activated.connect(self._on_row_activated)
        self.table.installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.search)
        layout.addWidget(self.table)

        keys = [k for k in context.settings.get("watchlist", []) if isinstance(k, str)]
        keys = list(dict.fromkeys(keys))  # a hand-edited file may repeat a key
        self.model.set_rows([self._new_row(k) for k in keys])
        self.table.fit_columns()
        if keys:
            context.session.subscribe(keys)
        self.market.ticks_updated.connect(self._on_ticks)
        if context.feed_health is not None:
            context.feed_health.stale_changed.connect(self.set_stale_keys)
        self.market.catalog_changed.connect(self.model.refresh_all)

    # --- columns --------------------------------------------------------------------------------
    def _columns(self) -> list[Column]:
        tick = self.market.tick

        def field(name):
            return lambda row: getattr(tick(row.key), name, None)

        def depth(side: str, attr: str):
            def read(row):
                t = tick(row.key)
                levels = getattr(t, side, None) if t else None
                return getattr(levels[0], attr) if levels else None
            return read

        def change(row):
            t = tick(row.key)
            return t.change if t and t.close else None

        def change_percent(row):
            t = tick(row.key)
            return t.change_percent if t and t.close else None

        return [
            Column("Symbol", self._symbol, align=LEFT, tooltip=self._symbol_tooltip, width=170),
            price_column("LTP", field("ltp"), width=82, background=self._flash_colour),  # flashes on change
            signed_price_column("Chg", change, width=70),
            percent_column("Chg %", change_percent, width=64),
            price_column("Bid", depth("bids", "price"), width=82),
            price_column("Ask", depth("asks", "price"), width=82),
            quantity_column("Bid Qty", depth("bids", "quantity"), width=70),
            quantity_column("Ask Qty", depth("asks", "quantity"), width=70),
            quantity_column("Volume", field("volume"), width=96),
            quantity_column("OI", lambda row: getattr(tick(row.key), "open_interest", None) or None, width=90),
            price_column("High", field("high"), width=82),
            price_column("Low", field("low"), width=82),
            price_column("Open", field("open"), width=82),
            price_column("Close", field("close"), width=82),
        ]

    def _symbol(self, row: WatchRow) -> str:
        instrument = self.market.instrument(row.key)
        symbol = instrument.trading_symbol if instrument else row.key
        return f"{STALE_MARK} {symbol}" if row.stale else symbol

    def _symbol_tooltip(self, row: WatchRow) -> str:
        instrument = self.market.instrument(row.key)
        if instrument is None:
            return f"{row.key}: not in the instrument master"
        if row.stale:
            return (f"{instrument.display_name}: no ticks lately, the price may be old; "
                    "the terminal is resubscribing and polling quotes.")
        lot = f", lot {format_quantity(instrument.lot_size)}" if instrument.is_derivative else ""
        return f"{instrument.display_name} ({instrument.exchange.value}{lot})"

    def _new_row(self, key: InstrumentKey) -> WatchRow:
        tick = self.market.tick(key)
        return WatchRow(key, last_ltp=tick.ltp if tick else 0)

    # --- the watchlist --------------------------------------------------------------------------
    def keys(self) -> list[InstrumentKey]:
        return self.model.keys()

    def add_instrument(self, key: InstrumentKey) -> bool:
        """Add ``key`` at the end (or select it if already watched) and subscribe it."""
        if key in self.model:
            self.table.select_row(self.model.row_for_key(key))
            return False
        row = self.model.upsert(self._new_row(key))
        self.context.session.subscribe([key])
        self._save()
        self.table.select_row(row)
        self.table.setFocus()
        return True

    def remove_instrument(self, key: InstrumentKey) -> bool:
        row = self.model.row_for_key(key)
        if row is None:
            return False
        self.model.remove(key)
        self._flashing.discard(key)
        self.context.session.unsubscribe([key])
        self._save()
        if len(self.model):
            self.table.select_row(min(row, len(self.model) - 1))
        return True

    def remove_selected(self) -> None:
        key = self.selected_key()
        if key:
            self.remove_instrument(key)

    def _save(self) -> None:
        keys = self.model.keys()
        self.context.settings.set("watchlist", keys)
        self.context.settings.save()
        self.watchlist_changed.emit(keys)

    def selected_key(self) -> InstrumentKey | None:
        row = self.table.current_row()
        return self.model.item(row).key if row >= 0 else None

    def select_key(self, key: InstrumentKey) -> bool:
        row = self.model.row_for_key(key)
        if row is None:
            return False
        self.table.select_row(row)
        return True

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
        if self.table.current_row() < 0 and len(self.model):
            self.table.select_row(0)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.ShortcutFocusReason)
        self.search.selectAll()

    # --- live quotes ----------------------------------------------------------------------------
    def _on_ticks(self, keys: frozenset) -> None:
        watched = self.model.present(keys)
        if not watched:
            return
        now = time.monotonic()
        until = now + FLASH_SECONDS
        get, tick_of = self.model.get, self.market.tick
        flashing, flash_ends = self._flashing, self._flash_ends
        for key in watched:
            row = get(key)
            tick: Tick | None = tick_of(key)
            if tick is None:
                continue
            ltp = tick.ltp
            if row.last_ltp and ltp != row.last_ltp:
                row.flash_up = ltp > row.last_ltp
                row.flash_until = until
                flashing.add(key)
                flash_ends.append((until, key))
            row.last_ltp = ltp
        # Flashes that ended are cleared with the batch (one repaint, not a second one from the
        # timer; a row that ticked now is repainted whole anyway); the timer only runs them out
        # when the ticks stop.
        ended = [key for key in self._expired_flashes(now) if key not in watched]
        self.model.refresh_keys(watched, ended, FLASH_COLUMN)
        if self._flashing:
            self._flash_timer.start()
        else:
            self._flash_timer.stop()

    def set_stale_keys(self, keys: frozenset[InstrumentKey]) -> None:
        """Mark the rows whose feed has stalled (FeedHealth.stale_changed); unmark the others."""
        changed = []
        for row in self.model.rows():
            stale = row.key in keys
            if row.stale != stale:
                row.stale = stale
                changed.append(row.key)
        self.model.refresh_keys(changed)

    def _flash_colour(self, row: WatchRow) -> str | None:
        if row.stale:
            return f"#{FLASH_ALPHA}{theme.current().muted.lstrip('#')}"
        if row.flash_until <= time.monotonic():
            return None
        colour = theme.current().positive if row.flash_up else theme.current().negative
        return f"#{FLASH_ALPHA}{colour.lstrip('#')}"

    def _clear_expired_flashes(self, now: float | None = None) -> None:
        expired = self._expired_flashes(time.monotonic() if now is None else now)
        if expired:
            self.model.refresh_cells(expired, FLASH_COLUMN)  # only the LTP cell was tinted
        if not self._flashing:
            self._flash_timer.stop()

    def _expired_flashes(self, now: float) -> list[InstrumentKey]:
        """Keys whose flash has ended by ``now``, no longer flashing from here on."""
        flashing, ends, get = self._flashing, self._flash_ends, self.model.get
        expired = []
        while ends and ends[0][0] <= now:
            key = ends.popleft()[1]
            if key in flashing and ((row := get(key)) is None or row.flash_until <= now):
                flashing.discard(key)
                expired.append(key)
        if not flashing:
            ends.clear()
        return expired

    def is_flashing(self, key: InstrumentKey) -> bool:
        return key in self._flashing

    # --- actions --------------------------------------------------------------------------------
    def _on_row_changed(self, row: int) -> None:
        if row >= 0:
            self.context.requests.instrument_selected.emit(self.model.item(row).key)

    def _on_row_activated(self, row: int) -> None:
        self.context.requests.depth_requested.emit(self.model.item(row).key)

    def _show_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if index.isValid():
            self.table.select_row(index.row())
        menu = self.build_menu()
        if menu.actions():
            menu.exec(self.table.viewport().mapToGlobal(pos))

    def build_menu(self) -> QMenu:
        """The row's context menu (empty when no row is selected)."""
        menu = QMenu(self)
        key = self.selected_key()
        if key is None:
            return menu
        requests = self.context.requests

        def add(text: str, shortcut: str, slot) -> QAction:
            action = menu.addAction(text)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))  # shown as a reminder; the window owns the key
            action.triggered.connect(slot)
            return action

        add("Buy", "F1", lambda: self.context.request_order_entry(Side.BUY, key))
        add("Sell", "F2", lambda: self.context.request_order_entry(Side.SELL, key))
        menu.addSeparator()
        add("Market depth", "F6", lambda: requests.depth_requested.emit(key))
        add("Chart", "Ctrl+G", lambda: requests.chart_requested.emit(key))
        menu.addSeparator()
        add("Remove", "Del", lambda: self.remove_instrument(key))
        return menu

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.KeyPress:
            return self._table_key(event)
        return super().eventFilter(watched, event)

    def _table_key(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key_Delete and not event.modifiers():
            self.remove_selected()
            return True
        text = event.text()
        plain = event.modifiers() in (Qt.NoModifier, Qt.ShiftModifier)
        if plain and len(text) == 1 and text.isalnum():
            # Typing on the table starts a search, as in dealer terminals.
            self.search.setFocus(Qt.ShortcutFocusReason)
            self.search.setText(text)
            self.search.update_results(text)
            return True
        return False
