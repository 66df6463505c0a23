"""A compact, keyboard-driven table view for trading tables."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import QAbstractItemModel, QEvent, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QTableView, QWidget,
)

ROW_HEIGHT_PADDING = 6  # pixels above the font height: dense, still readable
TEXT_MARGIN = 3  # pixels left and right of a cell's text, as the Fusion style leaves them
# Flag values as plain ints: a PySide6 enum operation costs about a microsecond, per cell.
SELECTED = QStyle.StateFlag.State_Selected.value
ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate.value
ELIDE_RIGHT = Qt.TextElideMode.ElideRight
ALIGN_RIGHT = Qt.AlignmentFlag.AlignRight.value
ALIGN_HCENTER = Qt.AlignmentFlag.AlignHCenter.value
THEME_EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.StyleChange, QEvent.Type.FontChange)


class CachedCellDelegate(QStyledItemDelegate):
    """Paints cells of a ``cache_cells`` model straight from its formatted rows.

    A cell costs at most two fills and one ``drawText``: no style-option set-up, no style sheet,
    no call back into ``data()``. The default delegate asks the model for about seven roles per
    cell and draws through the style; on a busy market watch that was most of the UI thread.
    The look is the same: alternating rows, the selected row in the highlight colour with the
    highlighted text colour, the model's foreground and background brushes, text elided on the
    right when the column is too narrow. ``TradingTableView.paintEvent`` calls ``paint_row``
    once per dirty row; ``paint`` serves Qt's own per-cell calls (a drag pixmap, a subclass).
    """

    def __init__(self, view: QTableView, model):
        super().__init__(view)
        self.view = view
        self.model = model
        self.take_colours()

    def take_colours(self) -> None:
        """Read the view's palette and font (again after a theme change)."""
        palette = self.view.palette()
        self.text = palette.color(QPalette.Text)
        self.base = palette.color(QPalette.Base)
        self.alternate = palette.color(QPalette.AlternateBase)
        self.highlight = palette.color(QPalette.Highlight)
        self.highlighted_text = palette.color(QPalette.HighlightedText)
        self.metrics = QFontMetrics(self.view.font())
        self._widths: dict[str, int] = {}  # text -> advance in pixels; prices repeat a lot

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        rect = option.rect
        column = index.column()
        self.paint_row(painter, index.row(), [(column, rect.x(), rect.width())], rect.y(), rect.height(),
                       bool(option.state.value & SELECTED), bool(option.features.value & ALTERNATE))

    def paint_row(self, painter: QPainter, row: int, columns: list[tuple[int, int, int]], y: int, height: int,
                  selected: bool, alternate: bool, with_text: bool = True) -> None:
        """Paint ``columns`` (model column, viewport x, width in pixels, left to right) of ``row``;
        without ``with_text`` only the backgrounds (the dirty part of the row holds no text)."""
        cells = self.model.cells(row)
        if selected or alternate:
            left = columns[0][1]
            painter.fillRect(left, y, columns[-1][1] + columns[-1][2] - left, height,
                             self.highlight if selected else self.alternate)
        if not with_text:
            if not selected:
                for column, x, width in columns:
                    background = cells[column].background
                    if background is not None:
                        painter.fillRect(x, y, width, height, background)
            return
        alignments = self.model.alignments
        widths, metrics = self._widths, self.metrics
        ascent = metrics.ascent()
        baseline = y + (height - ascent - metrics.descent()) // 2 + ascent
        pen = self.highlighted_text if selected else self.text
        painter.setPen(pen)
        for column, x, width in columns:
            cell = cells[column]
            if not selected:
                if cell.background is not None:
                    painter.fillRect(x, y, width, height, cell.background)
                colour = self.text if cell.colour is None else cell.colour
                if colour is not pen:
                    painter.setPen(colour)
                    pen = colour
            text = cell.text
            if not text:
                continue
            room = width - 2 * TEXT_MARGIN
            advance = widths.get(text)
            if advance is None:
                if len(widths) > 50_000:
                    widths.clear()
                advance = widths[text] = metrics.horizontalAdvance(text)
            if advance > room:
                text = metrics.elidedText(text, ELIDE_RIGHT, room)
                advance = metrics.horizontalAdvance(text)
            align = alignments[column]
            if align & ALIGN_RIGHT:
                x += width - TEXT_MARGIN - advance
            elif align & ALIGN_HCENTER:
                x += (width - advance) // 2
            else:
                x += TEXT_MARGIN
            painter.drawText(x, baseline, text)  # at a point: a third cheaper than in a rectangle


def tabular_font(base: QFont) -> QFont:
    """``base`` with tabular (equal-width) digits, so prices line up in columns."""
    font = QFont(base)
    try:
        font.setFeature(QFont.Tag("tnum"), 1)
    except (AttributeError, TypeError):  # Qt before 6.7: proportional digits, still readable
        pass
    return font


class TradingTableView(QTableView):
    """Row selection, one row at a time, no editing, arrows and Home/End to move.

    ``current_row_changed(int)`` fires when the selected row changes (-1 when none);
    ``row_activated(int)`` on Enter or double-click.
    """

    current_row_changed = Signal(int)
    row_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setCornerButtonEnabled(False)
        self.setTabKeyNavigation(False)  # Tab leaves the table, as in a form
        self.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.setFont(tabular_font(self.font()))
        header = self.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setSectionsMovable(True)
        header.setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        header.setMinimumSectionSize(36)
        rows = self.verticalHeader()
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + ROW_HEIGHT_PADDING)
        self.doubleClicked.connect(lambda index: self.row_activated.emit(index.row()))

    def setModel(self, model: QAbstractItemModel) -> None:
        super().setModel(model)
        if getattr(model, "cache_cells", False):
            self.setItemDelegate(CachedCellDelegate(self, model))
            # The cached painter fills every dirty pixel itself, so Qt need not paint the dock and
            # the window beneath each dirty row first (with the style sheet, that cost as much).
            self.viewport().setAttribute(Qt.WA_OpaquePaintEvent, True)
        self.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.current_row_changed.emit(current.row() if current.isValid() else -1))
        columns = getattr(model, "columns", None)
        if columns:
            for section, column in enumerate(columns):
                if column.width:
                    self.setColumnWidth(section, column.width)

    def paintEvent(self, event: QPaintEvent) -> None:
        delegate = self.itemDelegate()
        if not isinstance(delegate, CachedCellDelegate) or self.showGrid():
            super().paintEvent(event)
            return
        self._paint_cached_rows(event, delegate)

    def _paint_cached_rows(self, event: QPaintEvent, delegate: CachedCellDelegate) -> None:
        """QTableView's paint loop for the cached-cell delegate, one Python call per row, not
        three per cell (paint, rowCount, columnCount). Rows and columns are found through the
        headers, so moved and hidden columns and scrolling behave as in QTableView."""
        painter = QPainter(self.viewport())
        base = delegate.base
        for dirty in event.region():
            painter.fillRect(dirty, base)
        rows = self.model().rowCount()
        if not rows:
            painter.end()
            return
        header = self.horizontalHeader()
        columns = []
        for visual in range(header.count()):
            column = header.logicalIndex(visual)
            if not header.isSectionHidden(column):
                columns.append((column, header.sectionViewportPosition(column), header.sectionSize(column)))
        # Selected rows from the selection's ranges: isRowSelected() asks the model for every
        # column's flags, a Python call each, and cost ~90 µs a row on the market watch.
        selected = set()
        for part in self.selectionModel().selection():
            selected.update(range(part.top(), part.bottom() + 1))
        alternating = self.alternatingRowColors()
        row_at, row_y, row_height = self.rowAt, self.rowViewportPosition, self.rowHeight
        glyphs = delegate.metrics.ascent() + delegate.metrics.descent()
        for dirty in event.region():
            left, right, top, bottom = dirty.left(), dirty.right(), dirty.top(), dirty.bottom()
            shown = [c for c in columns if c[1] <= right and c[1] + c[2] > left]
            if not shown:
                continue
            first = row_at(top)
            if first < 0:
                continue
            last = row_at(bottom)
            for row in range(first, (rows - 1 if last < 0 else last) + 1):
                y, height = row_y(row), row_height(row)
                # Qt's rect for changed rows reaches one pixel into the next row: that row's
                # strip above its text needs its background again, not its text.
                text_top = y + (height - glyphs) // 2
                delegate.paint_row(painter, row, shown, y, height, row in selected, alternating and bool(row & 1),
                                   bottom >= text_top and top < text_top + glyphs)
        painter.end()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in THEME_EVENTS:
            # A theme change recolours the cells: formatted rows hold the old theme's brushes.
            delegate = self.itemDelegate()
            if isinstance(delegate, CachedCellDelegate):
                delegate.take_colours()
            forget = getattr(self.model(), "forget_cells", None)
            if forget is not None:
                forget()
            self.viewport().update()

    def current_row(self) -> int:
        index = self.currentIndex()
        if index.isValid() and self.selectionModel().isRowSelected(index.row(), QModelIndex()):
            return index.row()
        return -1

    def select_row(self, row: int) -> None:
        model = self.model()
        if model is None or not 0 <= row < model.rowCount():
            return
        index = model.index(row, 0)
        self.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        self.scrollTo(index)

    def fit_columns(self) -> None:
        """Size columns to header and contents once (not per tick: that is costly)."""
        self.resizeColumnsToContents()
        model = self.model()
        for section, column in enumerate(getattr(model, "columns", []) or []):
            if column.width:
                self.setColumnWidth(section, column.width)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and event.modifiers() in (Qt.NoModifier, Qt.KeypadModifier):
            row = self.current_row()
            if row >= 0:
                self.row_activated.emit(row)
                event.accept()
                return
        if event.key() == Qt.Key_Home and not event.modifiers():
            self.select_row(0)
            return
        if event.key() == Qt.Key_End and not event.modifiers():
            self.select_row((self.model().rowCount() if self.model() else 0) - 1)
            return
        super().keyPressEvent(event)

    def show_rows(self, rows: list) -> None:
        """Give the (keyed) model new rows; the selected row stays selected by key."""
        model = self.model()
        row = self.current_row()
        key = model.key_of(model.item(row)) if row >= 0 else None
        if model.sync(rows) and key is not None:
            at = model.row_for_key(key)
            if at is not None:
                self.select_row(at)

    def export_csv(self, path: str | Path) -> int:
        """Write the table as shown (headers and display text) to ``path``; returns the row count."""
        model = self.model()
        columns = range(model.columnCount())
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([model.headerData(c, Qt.Horizontal, Qt.DisplayRole) for c in columns])
            for row in range(model.rowCount()):
                writer.writerow([model.data(model.index(row, c), Qt.DisplayRole) for c in columns])
        return model.rowCount()
