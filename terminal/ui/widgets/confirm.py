"""The one confirmation question every panel asks before a risky action."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_yes_no(parent: QWidget, title: str, text: str) -> bool:
    """A modal Yes/No question with No as the default, so a stray Enter never confirms."""
    answer = QMessageBox.question(parent, title, text, QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
    return answer == QMessageBox.Yes
