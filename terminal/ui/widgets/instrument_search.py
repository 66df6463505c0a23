"""Instant instrument search: a line edit with a popup of matches from the instrument master."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget

from terminal.domain import Instrument
from terminal.domain.catalog import InstrumentCatalog

RESULTS_SHOWN = 30
KEY_ROLE = Qt.UserRole + 1


def describe(instrument: Instrument) -> str:
    """One line of the popup: symbol, then the readable name and exchange."""
    name = instrument.name if instrument.name and instrument.name != instrument.trading_symbol else ""
    parts = [instrument.trading_symbol]
    if name:
        parts.append(f"— {name}")
    parts.append(f"({instrument.exchange.value})")
    return "  ".join(parts)


class InstrumentSearch(QLineEdit):
    """Type words ("nifty 24500 ce"), pick with arrows + Enter or a click.

    ``instrument_chosen(key)`` fires with the instrument key; the field then clears itself.
    Enter with no popup selection chooses the best match. Esc clears the field.
    """

    instrument_chosen = Signal(str)

    def __init__(self, catalog: Callable[[], InstrumentCatalog], parent: QWidget | None = None):
        super().__init__(parent)
        self._catalog = catalog
        self._results: list[Instrument] = []
        self.setPlaceholderText("Search: nifty 24500 ce, reliance, banknifty fut…")
        self.setClearButtonEnabled(True)
        self._items = QStandardItemModel(self)
        self.completer_ = QCompleter(self._items, self)
        self.completer_.setCompletionMode(QCompleter.UnfilteredPopupCompletion)
        self.completer_.setCaseSensitivity(Qt.CaseInsensitive)
        self.completer_.setMaxVisibleItems(12)
        self.completer_.setWidget(self)  # not setCompleter: the completer must not rewrite the text
        self.completer_.activated[QModelIndex].connect(self._choose_index)
        self.textEdited.connect(self.update_results)
        self.returnPressed.connect(self.choose_current)

    def results(self) -> list[Instrument]:
        return list(self._results)

    def update_results(self, text: str) -> None:
        self._results = self._catalog().search(text, limit=RESULTS_SHOWN) if text.strip() else []
        self._items.clear()
        for instrument in self._results:
            item = QStandardItem(describe(instrument))
            item.setData(instrument.key, KEY_ROLE)
            self._items.appendRow(item)
        popup = self.completer_.popup()
        if self._results:
            self.completer_.complete(self.rect())
            popup.setCurrentIndex(self._items.index(0, 0))
            popup.setMinimumWidth(max(self.width(), 380))
        else:
            popup.hide()

    def choose_current(self) -> None:
        """Choose the highlighted match, else the best one."""
        popup = self.completer_.popup()
        index = popup.currentIndex() if popup.isVisible() else QModelIndex()
        if index.isValid():
            self._choose_index(index)
        elif self._results:
            self._choose(self._results[0].key)
        elif self.text().strip():
            self.update_results(self.text())
            if self._results:
                self._choose(self._results[0].key)

    def _choose_index(self, index: QModelIndex) -> None:
        key = index.data(KEY_ROLE)
        if key:
            self._choose(key)

    def _choose(self, key: str) -> None:
        self.completer_.popup().hide()
        self._results = []
        # The completer may write the item's text back after this signal; clear after it.
        QTimer.singleShot(0, self.clear)
        self.clear()
        self.instrument_chosen.emit(key)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key_Escape and self.text():
            self.clear()
            self.completer_.popup().hide()
            event.accept()
            return
        if event.key() in (Qt.Key_Down, Qt.Key_Up) and self._results and not self.completer_.popup().isVisible():
            self.update_results(self.text())
            return
        super().keyPressEvent(event)
