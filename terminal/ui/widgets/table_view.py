"""A compact, keyboard-driven table view for trading tables."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import QAbstractItemModel, QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

ROW_HEIGHT_PADDING = 6  # pixels above the font height: dense, still readable


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
        self.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.current_row_changed.emit(current.row() if current.isValid() else -1))
        columns = getattr(model, "columns", None)
        if columns:
            for section, column in enumerate(columns):
                if column.width:
                    self.setColumnWidth(section, column.width)

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
