"""The message log: what the terminal tells the trader, each error with a next step."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from enum import Enum

from PySide6.QtCore import QObject, Signal


class Level(str, Enum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class LogMessage:
    level: Level
    text: str
    hint: str = ""
    at: float = field(default_factory=time.time)


class MessageLog(QObject):
    """Keeps the latest messages for the log panel and the status bar."""

    message_added = Signal(object)  # LogMessage

    def __init__(self, capacity: int = 5000, parent=None):
        super().__init__(parent)
        self.capacity = capacity
        self._messages: list[LogMessage] = []

    def add(self, level: Level, text: str, hint: str = "") -> LogMessage:
        message = LogMessage(level, text, hint)
        self._messages.append(message)
        if len(self._messages) > self.capacity:
            del self._messages[: len(self._messages) - self.capacity]
        logging.getLogger("terminal.messages").log(
            {Level.INFO: logging.INFO, Level.WARNING: logging.WARNING, Level.ERROR: logging.ERROR}[level],
            "%s%s", text, f" ({hint})" if hint else "")
        self.message_added.emit(message)
        return message

    def info(self, text: str, hint: str = "") -> LogMessage:
        return self.add(Level.INFO, text, hint)

    def warning(self, text: str, hint: str = "") -> LogMessage:
        return self.add(Level.WARNING, text, hint)

    def error(self, text: str, hint: str = "") -> LogMessage:
        return self.add(Level.ERROR, text, hint)

    def messages(self) -> list[LogMessage]:
        return list(self._messages)
