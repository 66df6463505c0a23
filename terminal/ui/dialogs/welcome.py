"""First run: practise on the simulated exchange, or connect Flattrade or Angel One.

Shown once, before the main window, when settings has no "welcome_done". Either choice sets
settings["broker"] and "welcome_done"; closing the dialog starts the simulated exchange and the
welcome comes back next time.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from terminal import __version__, resources
from terminal.ui import theme
from terminal.ui.dialogs.broker_setup import BrokerSetupDialog, TestConnection

SIMULATED = "paper"


def should_show_welcome(settings) -> bool:
    return settings.get("welcome_done") is not True


class WelcomeDialog(QDialog):
    """``exec()`` then ``choice()``: "paper", "flattrade" or "angelone" (None if closed)."""

    def __init__(self, settings, test_connection: TestConnection | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.test_connection = test_connection
        self._choice: str | None = None
        self.setWindowTitle("Welcome to Trading Terminal")
        self.setWindowIcon(resources.app_icon())
        self.setMinimumWidth(640)

        logo = QLabel(self)
        logo.setPixmap(resources.app_icon().pixmap(72, 72))
        title = QLabel(f"<h2 style='margin:0'>Trading Terminal</h2>"
                       f"<span style='color:{theme.current().muted}'>version {__version__} · NSE/BSE cash and "
                       f"F&amp;O</span>", self)
        head = QHBoxLayout()
        head.addWidget(logo)
        head.addWidget(title, 1)

        intro = QLabel("How do you want to start? You can change this any time in Tools › Settings › Brokers.", self)
        intro.setWordWrap(True)
        self.simulated_button = self._choice_button(
            "simulator", "Practise on the simulated exchange",
            "Live-looking prices, real order book and positions, no account and no money. Recommended to learn "
            "the keys (F1 buy, F2 sell, F3 orders).")
        self.broker_button = self._choice_button(
            "broker", "Connect my broker account",
            "Flattrade or Angel One: you will need your client id and the API key of your broker's developer "
            "page. Secrets are kept in your system's keyring.")
        self.simulated_button.clicked.connect(self.choose_simulated)
        self.broker_button.clicked.connect(self.choose_broker)
        choices = QHBoxLayout()
        choices.addWidget(self.simulated_button)
        choices.addWidget(self.broker_button)

        note = QLabel("Trading in derivatives carries risk. Check every order before you send it.", self)
        note.setStyleSheet(f"color: {theme.current().muted};")
        later = QPushButton("Decide later", self)
        later.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(note, 1)
        bottom.addWidget(later)

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addSpacing(8)
        layout.addWidget(intro)
        layout.addLayout(choices)
        layout.addSpacing(4)
        layout.addLayout(bottom)
        self.simulated_button.setFocus()

    def _choice_button(self, icon_name: str, title: str, text: str) -> QToolButton:
        button = QToolButton(self)
        button.setObjectName(f"choice_{icon_name}")
        button.setToolButtonStyle(Qt.ToolButtonTextUnderIcon)
        button.setIcon(resources.icon(icon_name, theme.current().text))
        button.setIconSize(QSize(40, 40))
        button.setText(f"{title}\n\n{_wrap(text, 38)}")
        button.setMinimumSize(290, 190)
        button.setAutoRaise(False)
        button.setStyleSheet(f"QToolButton {{ border: 1px solid {theme.current().border}; border-radius: 6px; "
                             f"padding: 10px; }} QToolButton:hover, QToolButton:focus {{ border-color: "
                             f"{theme.current().highlight}; }}")
        return button

    def choose_simulated(self) -> None:
        self._finish(SIMULATED)

    def choose_broker(self) -> None:
        dialog = BrokerSetupDialog(self.settings, self.settings.get("broker") if self.settings.get("broker")
                                   != SIMULATED else "flattrade", self.test_connection, self)
        if dialog.exec():
            self._finish(dialog.broker())

    def _finish(self, broker: str) -> None:
        self._choice = broker
        self.settings.set("broker", broker)
        self.settings.set("welcome_done", True)
        self.settings.save()
        self.accept()

    def choice(self) -> str | None:
        return self._choice


def _wrap(text: str, width: int) -> str:
    """Break ``text`` into lines of at most ``width`` characters (QToolButton does not wrap)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return "\n".join(lines)
