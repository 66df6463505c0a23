"""The shortcuts dialog: rebinding, refusing a key another action holds, reset to defaults."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from terminal.ui.dialogs.hotkeys_dialog import HotkeysDialog
from terminal.ui.hotkeys import KEYMAP, effective_bindings


@pytest.fixture
def dialog(qtbot):
    owner = QWidget()
    qtbot.addWidget(owner)
    actions = {}
    for hotkey in KEYMAP:
        action = QAction(hotkey.label, owner)
        action.setShortcut(QKeySequence(hotkey.default))
        actions[hotkey.action_id] = action
    actions["buy"].setShortcut(QKeySequence("Ctrl+B"))  # the user's binding, not the default
    dialog = HotkeysDialog(actions, owner)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog  # the owner (and so the dialog) lives until the test ends
    del owner


def test_lists_every_action_with_its_current_key(dialog):
    assert dialog.table.rowCount() == len(KEYMAP)
    assert dialog.table.item(0, 0).text() == "Buy order"
    assert dialog.bindings()["buy"] == "Ctrl+B"
    assert dialog.bindings()["sell"] == "F2"


def test_rebinding_through_the_key_editor(dialog, qtbot):
    dialog.table.setCurrentCell([h.action_id for h in KEYMAP].index("chart"), 0)
    dialog.editor.setFocus()
    qtbot.keyClick(dialog.editor, Qt.Key_J, Qt.ControlModifier | Qt.ShiftModifier)
    assert dialog.apply_edit()
    assert dialog.bindings()["chart"] == "Ctrl+Shift+J"


def test_conflict_is_refused_with_a_message(dialog):
    assert not dialog.rebind("sell", "F3")  # F3 is the order book
    assert dialog.bindings()["sell"] == "F2"
    assert "Order book" in dialog.message.text()
    assert dialog.rebind("sell", "Shift+F2")
    assert dialog.bindings()["sell"] == "Shift+F2"


def test_cleared_key_can_be_reused(dialog):
    dialog.table.setCurrentCell(0, 0)  # buy
    dialog.clear_current()
    assert dialog.bindings()["buy"] == ""
    assert dialog.rebind("sell", "Ctrl+B")


def test_reset_to_defaults(dialog):
    dialog.rebind("chart", "Ctrl+Shift+J")
    dialog.reset_to_defaults()
    assert dialog.bindings() == effective_bindings({})


def test_accepts_a_list_of_entries(qtbot):
    owner = QWidget()
    qtbot.addWidget(owner)
    a, b = QAction("A", owner), QAction("B", owner)
    a.setShortcut(QKeySequence("Ctrl+1"))
    dialog = HotkeysDialog([("x", "Action X", a), ("y", "Action Y", b)], owner)
    assert dialog.bindings() == {"x": "Ctrl+1", "y": ""}
    assert not dialog.rebind("y", "Ctrl+1")


def test_screenshot(dialog, shots, dark_theme, qtbot):
    dialog.rebind("sell", "F3")
    qtbot.wait(20)
    dialog.grab().save(str(shots / "hotkeys_dialog.png"))
