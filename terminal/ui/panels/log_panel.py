"""Message log: what the terminal told the trader, each problem with what to do about it."""

from __future__ import annotations

import itertools

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from terminal.services.messages import Level, LogMessage
from terminal.ui import theme
from terminal.ui.context import TerminalContext
from terminal.ui.models.table_model import CENTER, Column, KeyedTableModel, format_time_ist
from terminal.ui.widgets.table_view import TradingTableView

TRIM_SLACK = 500  # rows allowed above capacity before the oldest are dropped in one go


def level_colour(level: Level) -> str | None:
    colours = theme.current()
    return {Level.ERROR: colours.negative, Level.WARNING: "#f0b429"}.get(level)


class LogPanel(QWidget):
    panel_id = "log"
    title = "Messages"

    def __init__(self, context: TerminalContext, parent: QWidget | None = None, capacity: int = 5000):
        super().__init__(parent)
        self.setObjectName(self.panel_id)
        self.context = context
        self.capacity = capacity
        self._numbers = itertools.count()
        self.model = KeyedTableModel([
            Column("Time", lambda r: r[1].at, format_time_ist, width=66),
            Column("Level", lambda r: r[1].level, lambda lv: lv.value, CENTER, colour=level_colour, width=66),
            Column("Message", lambda r: r[1].text, tooltip=lambda r: r[1].text, width=480),
            Column("What to do", lambda r: r[1].hint, tooltip=lambda r: r[1].hint),
        ], key_of=lambda r: r[0], parent=self)
        self.table = TradingTableView(self)
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSectionsMovable(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.model.set_rows([(next(self._numbers), m) for m in context.messages.messages()[-capacity:]])
        self.table.fit_columns()
        self.table.setColumnWidth(2, 480)
        context.messages.message_added.connect(self.add_message)
        self.table.scrollToBottom()

    def add_message(self, message: LogMessage) -> None:
        bar = self.table.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        if len(self.model) >= self.capacity + TRIM_SLACK:
            self.model.set_rows(self.model.rows()[-self.capacity:])
            at_bottom = True
        self.model.upsert((next(self._numbers), message))
        if at_bottom:  # follow new messages unless the trader scrolled up to read
            self.table.scrollToBottom()

    def messages(self) -> list[LogMessage]:
        return [row[1] for row in self.model.rows()]

    def focus_primary(self) -> None:
        self.table.setFocus(Qt.ShortcutFocusReason)
