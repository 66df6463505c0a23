"""A table model driven by column specs, with rows found by key.

Every trading table (market watch, order book, positions, ...) is a list of rows, each with a
stable key (instrument key, order id). The model keeps ``key -> row index`` in a dict so that a
tick batch touching ten instruments costs ten dict lookups and a handful of ``dataChanged``
signals (one per contiguous run of rows, and only rows on screen once the model is told its view
with ``show_in``), never a reset or a search through the table.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from terminal.domain.money import format_percent, format_price, format_quantity, format_rupees  # noqa: F401
from terminal.ui import theme

# Roles and flags as plain ints, looked up once: in PySide6 6.11 an attribute such as
# Qt.DisplayRole costs ~6 µs, and data() runs thousands of times per repaint.
DISPLAY_ROLE = int(Qt.ItemDataRole.DisplayRole)
ALIGNMENT_ROLE = int(Qt.ItemDataRole.TextAlignmentRole)
FOREGROUND_ROLE = int(Qt.ItemDataRole.ForegroundRole)
BACKGROUND_ROLE = int(Qt.ItemDataRole.BackgroundRole)
TOOLTIP_ROLE = int(Qt.ItemDataRole.ToolTipRole)
USER_ROLE = int(Qt.ItemDataRole.UserRole)
HORIZONTAL = Qt.Orientation.Horizontal
# No flags() override: QAbstractTableModel's answer (enabled, selectable, no children) is the one
# wanted, and a Python override is called back per column whenever Qt checks a row's selection.
CACHED_ROLES = frozenset((DISPLAY_ROLE, ALIGNMENT_ROLE, FOREGROUND_ROLE, BACKGROUND_ROLE))
LOOK = object()  # "look at the viewport now" (no caller looked already)

LEFT = Qt.AlignLeft | Qt.AlignVCenter
RIGHT = Qt.AlignRight | Qt.AlignVCenter
CENTER = Qt.AlignHCenter | Qt.AlignVCenter


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Column:
    """One column: how to read a value from a row, and how to show it.

    ``value`` reads the raw value (paise, units, text) from the row; ``format`` turns it into
    display text; ``colour`` optionally maps the raw value to a foreground colour (a "#rrggbb"
    text or None); ``tooltip`` reads a tooltip from the row.
    """

    header: str
    value: Callable[[Any], Any]
    format: Callable[[Any], str] = _text
    align: Qt.AlignmentFlag = LEFT
    colour: Callable[[Any], str | None] | None = None
    tooltip: Callable[[Any], str] | None = None
    width: int = 0  # preferred width in pixels; 0 lets the view size it
    background: Callable[[Any], str | None] | None = None  # this cell's background from the row


def _remembered(format_number: Callable[[int], str], limit: int = 100_000) -> Callable[[int | None], str]:
    """``format_number`` with its answers kept: ticks repeat the same prices and quantities, and a
    dict lookup is a tenth of formatting with Indian grouping. None and 0 show as ''."""
    texts: dict[int, str] = {}

    def text(value: int | None) -> str:
        if not value:
            return ""
        known = texts.get(value)
        if known is None:
            if len(texts) >= limit:
                texts.clear()
            known = texts[value] = format_number(value)
        return known
    return text


price_text = _remembered(format_price)
_quantity_text = _remembered(format_quantity)


def quantity_text(units: int | None) -> str:
    """Units with Indian grouping; 0 is '0' (an empty book side), None is ''."""
    return "0" if units == 0 else _quantity_text(units)


def price_column(header: str, value: Callable[[Any], int | None], **kwargs) -> Column:
    """Paise shown as rupees with two decimals and Indian grouping, right-aligned."""
    return Column(header, value, price_text, RIGHT, **kwargs)


def quantity_column(header: str, value: Callable[[Any], int | None], **kwargs) -> Column:
    return Column(header, value, quantity_text, RIGHT, **kwargs)


def signed_price_column(header: str, value: Callable[[Any], int | None], **kwargs) -> Column:
    """Paise with a sign and green/red by sign (change, P&L)."""
    return Column(header, value, format_signed_price, RIGHT, colour=sign_colour, **kwargs)


def percent_column(header: str, value: Callable[[Any], float | None], **kwargs) -> Column:
    return Column(header, value, format_percent, RIGHT, colour=sign_colour, **kwargs)


IST = ZoneInfo("Asia/Kolkata")
BUY_TEXT_ON_DARK = "#5b9cf5"  # the theme's buy blue is a background colour, too dark for text


def format_time_ist(epoch_seconds: float | None) -> str:
    """Epoch seconds as the exchange's clock time, HH:MM:SS IST ('' when unknown)."""
    if not epoch_seconds:
        return ""
    return datetime.fromtimestamp(epoch_seconds, IST).strftime("%H:%M:%S")


def side_colour(side: Any) -> str | None:
    """Buy in the buy colour, sell in the sell colour (Indian terminal convention: blue / red)."""
    value = getattr(side, "value", side)
    if value == "BUY":
        return BUY_TEXT_ON_DARK if theme.current().name == "dark" else theme.current().buy
    if value == "SELL":
        return theme.current().negative
    return None


def format_signed_price(paise: int | None) -> str:
    if paise is None:
        return ""
    return ("+" if paise > 0 else "") + format_price(paise)


def sign_colour(value: Any) -> str | None:
    """Positive green, negative red, zero and empty in the normal text colour."""
    if not value:
        return None
    return theme.current().positive if value > 0 else theme.current().negative


class Cell(NamedTuple):
    """One cell as shown: display text and its brushes (None: the view's own colours)."""

    text: str
    foreground: QBrush | None
    background: QBrush | None
    colour: QColor | None  # the foreground brush's colour, for painting text


class KeyedTableModel(QAbstractTableModel):
    """Rows by key; updates signal only the rows they touch.

    ``key_of`` gives a row's key. ``background_of`` (optional) gives a row's background colour
    ("#rrggbb" or None), read on every paint: used for the short flash on a price change.
    """

    def __init__(self, columns: list[Column], key_of: Callable[[Any], Hashable],
                 background_of: Callable[[Any], str | None] | None = None, parent=None,
                 cache_cells: bool = False):
        super().__init__(parent)
        self.columns = list(columns)
        self.key_of = key_of
        self.background_of = background_of
        self._rows: list[Any] = []
        self._index: dict[Hashable, int] = {}
        self._brushes: dict[str, QBrush] = {}
        self._colours: dict[str, QColor] = {}
        self.alignments = [int(c.align) for c in self.columns]
        # Row number -> that row's Cells, formatted once per change instead of once per role per
        # paint. Only for models whose every change goes through refresh_*/sync/upsert/set_rows
        # (a cell that reads live state must be refreshed by key when that state moves).
        self.cache_cells = cache_cells
        self._cells: dict[int, tuple[Cell, ...]] = {}
        self._view = None  # the view whose viewport limits which rows are signalled (show_in)
        self._data_changed = self.dataChanged.emit  # bound once: emitted for every run of rows

    # --- Qt model interface ---------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = DISPLAY_ROLE) -> Any:
        if orientation != HORIZONTAL or not 0 <= section < len(self.columns):
            return None
        if role == DISPLAY_ROLE:
            return self.columns[section].header
        if role == ALIGNMENT_ROLE:
            return self.alignments[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY_ROLE) -> Any:
        if not index.isValid():
            return None
        if self.cache_cells and role in CACHED_ROLES:
            cell = self.cells(index.row())[index.column()]
            if role == DISPLAY_ROLE:
                return cell.text
            if role == FOREGROUND_ROLE:
                return cell.foreground
            if role == BACKGROUND_ROLE:
                return cell.background
            return self.alignments[index.column()]
        row = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == DISPLAY_ROLE:
            return column.format(column.value(row))
        if role == ALIGNMENT_ROLE:
            return self.alignments[index.column()]
        if role == FOREGROUND_ROLE:
            if column.colour is None:
                return None
            colour = column.colour(column.value(row))
            return self._brush(colour) if colour else None
        if role == BACKGROUND_ROLE:
            if column.background is not None:
                colour = column.background(row)
            elif self.background_of is not None:
                colour = self.background_of(row)
            else:
                return None
            return self._brush(colour) if colour else None
        if role == TOOLTIP_ROLE and column.tooltip is not None:
            return column.tooltip(row) or None
        if role == USER_ROLE:
            return column.value(row)  # the raw value (paise, units), for sorting and tests
        return None

    def cells(self, row: int) -> tuple[Cell, ...]:
        """Row ``row`` as shown: one Cell per column (text, foreground, background).

        With ``cache_cells`` the row is formatted once and kept until it is refreshed; the fast
        delegate paints from here with no call back into ``data()``.
        """
        cells = self._cells.get(row) if self.cache_cells else None
        if cells is None:
            cells = self._format_row(row)
            if self.cache_cells:
                self._cells[row] = cells
        return cells

    def forget_cells(self) -> None:
        """Drop every formatted row (the theme changed, or state every row reads moved)."""
        self._cells.clear()

    def _format_row(self, at: int) -> tuple[Cell, ...]:
        row = self._rows[at]
        row_colour = self.background_of(row) if self.background_of is not None else None
        return tuple([self._format_cell(row, column, row_colour) for column in self.columns])

    def _format_cell(self, row: Any, column: Column, row_colour: str | None) -> Cell:
        value = column.value(row)
        text = column.format(value)
        foreground = column.colour(value) if column.colour is not None else None
        background = column.background(row) if column.background is not None else row_colour
        brush = self._brush
        if foreground:
            return Cell(text, brush(foreground), brush(background) if background else None,
                        self._colours[foreground])
        return Cell(text, None, brush(background) if background else None, None)

    def _reformat_cell(self, at: int, column: int) -> None:
        """Format one cell of a cached row again (a flash ending changes the price cell only)."""
        cells = self._cells.get(at)
        if cells is not None:
            row = self._rows[at]
            row_colour = self.background_of(row) if self.background_of is not None else None
            cell = self._format_cell(row, self.columns[column], row_colour)
            self._cells[at] = (*cells[:column], cell, *cells[column + 1:])

    def _brush(self, colour: str) -> QBrush:
        brush = self._brushes.get(colour)
        if brush is None:
            brush = self._brushes[colour] = QBrush(QColor(colour))
            self._colours[colour] = QColor(colour)
        return brush

    # --- rows -----------------------------------------------------------------------------------
    def set_rows(self, rows: Iterable[Any]) -> None:
        """Replace every row (a reset): for a refreshed book, never for a tick."""
        self.beginResetModel()
        self._rows = list(rows)
        self._cells.clear()
        self._reindex()
        self.endResetModel()

    def sync(self, rows: Iterable[Any]) -> bool:
        """Show ``rows``: when the keys and their order are unchanged only the rows that differ
        are signalled; otherwise the model resets. Returns True when it reset."""
        rows = list(rows)
        if [self.key_of(r) for r in rows] != [self.key_of(r) for r in self._rows]:
            self.set_rows(rows)
            return True
        changed = [at for at, (old, new) in enumerate(zip(self._rows, rows)) if old != new]
        self._rows = rows
        self._emit_runs(changed)
        return False

    def upsert(self, row: Any) -> int:
        """Replace the row with the same key, or append it. Returns its row number."""
        key = self.key_of(row)
        at = self._index.get(key)
        if at is not None:
            self._rows[at] = row
            self._emit_rows(at, at)
            return at
        at = len(self._rows)
        self.beginInsertRows(QModelIndex(), at, at)
        self._rows.append(row)
        self._cells.pop(at, None)
        self._index[key] = at
        self.endInsertRows()
        return at

    def remove(self, key: Hashable) -> bool:
        at = self._index.get(key)
        if at is None:
            return False
        self.beginRemoveRows(QModelIndex(), at, at)
        del self._rows[at]
        self._cells.clear()
        self._reindex()
        self.endRemoveRows()
        return True

    def move(self, key: Hashable, to: int) -> bool:
        """Move a row to position ``to`` (0-based, in the table before the move)."""
        at = self._index.get(key)
        to = max(0, min(to, len(self._rows) - 1))
        if at is None or at == to:
            return False
        destination = to + 1 if to > at else to  # Qt counts the destination before removal
        self.beginMoveRows(QModelIndex(), at, at, QModelIndex(), destination)
        row = self._rows.pop(at)
        self._rows.insert(to, row)
        self._cells.clear()
        self._reindex()
        self.endMoveRows()
        return True

    def refresh_keys(self, keys: Iterable[Hashable], cell_keys: Iterable[Hashable] = (),
                     column: int | None = None) -> int:
        """Signal the rows of ``keys`` (unknown keys are ignored) as changed, and ``column`` alone
        of the rows of ``cell_keys`` (a flash ending), with one look at the viewport for both.

        Emits one ``dataChanged`` per contiguous run of rows (of those on screen, after
        ``show_in``); returns how many were emitted.
        """
        index = self._index.get
        rows = sorted(at for at in map(index, keys) if at is not None)
        on_screen = self._rows_on_screen()
        emitted = self._emit_runs(rows, None, on_screen)
        if column is not None:
            cells = sorted(at for at in map(index, cell_keys) if at is not None)
            emitted += self._emit_runs(cells, column, on_screen)
        return emitted

    def refresh_cells(self, keys: Iterable[Hashable], column: int) -> int:
        """Signal one ``column`` of the rows of ``keys`` as changed (a flash ending repaints the
        price cell, not the whole row). Returns how many ``dataChanged`` were emitted."""
        return self.refresh_keys((), keys, column)

    def refresh_rows(self, rows: Iterable[int]) -> int:
        return self._emit_runs(sorted(set(rows)))

    def refresh_all(self) -> None:
        """Repaint every cell without a reset (selection and scroll stay)."""
        if not self._rows:
            return
        on_screen = self._rows_on_screen()
        if on_screen is None:
            self._emit_rows(0, len(self._rows) - 1)
            return
        self._cells.clear()
        first, last = on_screen
        if first <= last:
            self._signal_rows(first, last)

    # --- signalling only what is on screen ------------------------------------------------------
    def show_in(self, view) -> None:
        """Signal changes only for the rows ``view`` (a QTableView of this model) shows.

        A row outside the viewport needs no ``dataChanged``: when it scrolls in, or the hidden or
        tabbed-away dock it sits in is shown again, Qt paints it afresh (and a cached row was forgotten, so
        it is formatted from the live state then). On a 200-row market watch that shows 25 rows,
        a tick batch then costs a handful of signals instead of one per touched run. Rows are
        taken to be in model order on screen (no sorting or moved rows in the vertical header).
        """
        self._view = view

    def _rows_on_screen(self) -> tuple[int, int] | None:
        """(first, last) row in sight (first > last: none), or None when every row is to be
        signalled (no view given, or its window is not shown: nothing is known of the layout)."""
        view = self._view
        if view is None or not view.window().isVisible():
            return None
        # The part of the viewport not clipped away: empty for a hidden view and for a dock
        # tabbed behind another (Qt keeps those "visible" but moves them out of the window).
        area = view.viewport().visibleRegion()
        if area.isEmpty():
            return 0, -1
        box = area.boundingRect()
        first = view.rowAt(box.top())
        if first < 0:
            return 0, -1  # the rows end above the visible part
        last = view.rowAt(box.bottom())
        return first, (len(self._rows) - 1 if last < 0 else last)

    def _emit_runs(self, rows: list[int], column: int | None = None, on_screen=LOOK) -> int:
        """Signal sorted ``rows`` as changed, one ``dataChanged`` per contiguous run of rows on
        screen; rows off screen are only forgotten (cached cells). Returns the signals sent.
        ``on_screen`` is what ``_rows_on_screen`` said, when the caller already asked."""
        if not rows:
            return 0
        if on_screen is LOOK:
            on_screen = self._rows_on_screen()
        if on_screen is not None:
            first, last = on_screen
            low, high = bisect_left(rows, first), bisect_right(rows, last)
            if self._cells and (low or high < len(rows)):
                cells = self._cells
                for at in rows[:low]:
                    cells.pop(at, None)
                for at in rows[high:]:
                    cells.pop(at, None)
            rows = rows[low:high]
        emitted = 0
        start = previous = None
        for at in rows:
            if start is None:
                start = previous = at
            elif at == previous + 1:
                previous = at
            elif at != previous:
                self._emit_rows(start, previous, column)
                emitted += 1
                start = previous = at
        if start is not None:
            self._emit_rows(start, previous, column)
            emitted += 1
        return emitted

    def _emit_rows(self, first: int, last: int, column: int | None = None) -> None:
        """Forget the formatted rows ``first..last`` (or format their ``column`` again) and signal
        them (all columns or ``column``)."""
        cells = self._cells
        if cells and column is not None:
            for at in range(first, last + 1):
                self._reformat_cell(at, column)
        elif cells:
            if last - first < 16:
                for at in range(first, last + 1):
                    cells.pop(at, None)
            else:
                for at in [at for at in cells if first <= at <= last]:
                    del cells[at]
        self._signal_rows(first, last, column)

    def _signal_rows(self, first: int, last: int, column: int | None = None) -> None:
        # createIndex, not index(): index() asks the Python rowCount and columnCount first.
        left, right = (0, len(self.columns) - 1) if column is None else (column, column)
        self._data_changed(self.createIndex(first, left), self.createIndex(last, right))

    def _reindex(self) -> None:
        self._index = {self.key_of(row): at for at, row in enumerate(self._rows)}

    # --- lookup ---------------------------------------------------------------------------------
    def row_for_key(self, key: Hashable) -> int | None:
        return self._index.get(key)

    def item(self, row: int) -> Any:
        return self._rows[row]

    def get(self, key: Hashable) -> Any | None:
        at = self._index.get(key)
        return None if at is None else self._rows[at]

    def present(self, keys: Iterable[Hashable]) -> set[Hashable]:
        """Which of ``keys`` have a row (cost follows the smaller of the two sets)."""
        return self._index.keys() & keys

    def keys(self) -> list[Hashable]:
        return [self.key_of(row) for row in self._rows]

    def rows(self) -> list[Any]:
        return list(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._rows)
