"""Keyboard shortcuts: see every action's key, rebind it, refuse a key that is already taken."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHBoxLayout, QKeySequenceEdit, QLabel, QPushButton, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from terminal.ui import theme
from terminal.ui.hotkeys import BY_ID


def _text(sequence: QKeySequence | str) -> str:
    """Portable key text ("Ctrl+Shift+X"), the form stored in settings."""
    if isinstance(sequence, str):
        sequence = QKeySequence(sequence)
    return sequence.toString(QKeySequence.PortableText)


class HotkeysDialog(QDialog):
    """``actions``: {action_id: QAction} or [(action_id, label, QAction)].

    The dialog does not change the actions; after ``exec()`` returns Accepted, ``bindings()``
    gives {action_id: "Ctrl+Shift+X"} for every action ("" for none).
    """

    def __init__(self, actions: Mapping[str, QAction] | Iterable[tuple[str, str, QAction]],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(560, 520)
        if isinstance(actions, Mapping):
            entries = [(aid, BY_ID[aid].label if aid in BY_ID else a.text().replace("&", ""), a)
                       for aid, a in actions.items()]
        else:
            entries = list(actions)
        self._ids = [aid for aid, _label, _action in entries]
        self._labels = {aid: label for aid, label, _action in entries}
        self._bindings = {aid: _text(action.shortcut()) for aid, _label, action in entries}

        self.table = QTableWidget(len(entries), 2, self)
        self.table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 300)
        self.table.currentCellChanged.connect(lambda row, *_: self._load_row(row))

        self.editor = QKeySequenceEdit(self)
        self.editor.setMaximumSequenceLength(1)
        self.editor.editingFinished.connect(self.apply_edit)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.clicked.connect(self.clear_current)
        self.reset_button = QPushButton("Reset to defaults", self)
        self.reset_button.clicked.connect(self.reset_to_defaults)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        edit_row = QHBoxLayout()
        edit_row.addWidget(QLabel("New shortcut:", self))
        edit_row.addWidget(self.editor, 1)
        edit_row.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(edit_row)
        layout.addWidget(self.message)
        bottom = QHBoxLayout()
        bottom.addWidget(self.reset_button)
        bottom.addStretch(1)
        bottom.addWidget(buttons)
        layout.addLayout(bottom)
        self._fill()
        if entries:
            self.table.setCurrentCell(0, 0)

    # --- table ----------------------------------------------------------------------------------
    def _fill(self) -> None:
        for row, aid in enumerate(self._ids):
            label = QTableWidgetItem(self._labels[aid])
            label.setData(Qt.UserRole, aid)
            keys = QTableWidgetItem(QKeySequence(self._bindings[aid]).toString(QKeySequence.NativeText))
            self.table.setItem(row, 0, label)
            self.table.setItem(row, 1, keys)

    def _load_row(self, row: int) -> None:
        if 0 <= row < len(self._ids):
            self.editor.setKeySequence(QKeySequence(self._bindings[self._ids[row]]))

    def current_action(self) -> str | None:
        row = self.table.currentRow()
        return self._ids[row] if 0 <= row < len(self._ids) else None

    # --- editing --------------------------------------------------------------------------------
    def apply_edit(self) -> bool:
        aid = self.current_action()
        return self.rebind(aid, _text(self.editor.keySequence())) if aid else False

    def clear_current(self) -> None:
        aid = self.current_action()
        if aid:
            self.editor.clear()
            self.rebind(aid, "")

    def rebind(self, action_id: str, keys: str) -> bool:
        """Bind ``keys`` to ``action_id``; refused (False, with a message) when another action has it."""
        keys = _text(keys) if keys else ""
        holder = next((a for a, k in self._bindings.items() if keys and k == keys and a != action_id), None)
        if holder is not None:
            shown = QKeySequence(keys).toString(QKeySequence.NativeText)
            self._say(f"{shown} is already used by “{self._labels[holder]}”. "
                      f"Clear it there first, or choose another key.", error=True)
            if action_id == self.current_action():
                self.editor.setKeySequence(QKeySequence(self._bindings[action_id]))
            return False
        self._bindings[action_id] = keys
        row = self._ids.index(action_id)
        self.table.item(row, 1).setText(QKeySequence(keys).toString(QKeySequence.NativeText))
        self._say(f"{self._labels[action_id]}: {QKeySequence(keys).toString(QKeySequence.NativeText) or 'no key'}.")
        return True

    def reset_to_defaults(self) -> None:
        for aid in self._ids:
            if aid in BY_ID:
                self._bindings[aid] = _text(BY_ID[aid].default) if BY_ID[aid].default else ""
        self._fill()
        self._load_row(self.table.currentRow())
        self._say("Default shortcuts restored (press OK to keep them).")

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.current().negative};" if error else "")

    def bindings(self) -> dict[str, str]:
        return dict(self._bindings)
