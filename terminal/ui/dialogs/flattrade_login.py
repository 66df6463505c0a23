"""Log in to Flattrade by pasting the redirect URL, when the terminal could not catch it itself.

The normal login opens Flattrade's page in the browser and listens on 127.0.0.1 for the redirect
that carries the one-time code. When that fails (the login timed out, another program holds the
port, the browser runs on another machine) this dialog takes over: it shows the login page's
address to open (copy it, or open it here), and a field for the address the browser ends on after
logging in (``http://127.0.0.1:<port>/?code=...``, even if the page says it cannot be reached).

The code exchange runs off the UI thread: ``run`` is an async runner such as
``context.runner.run`` (awaited through qasync), called as ``await run(login, url)`` where
``login`` is ``broker.login_with_redirect_url``. ``logged_in`` carries the SessionInfo.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout,
)

from terminal.brokers.base import AuthenticationError, BrokerError, SessionInfo
from terminal.brokers.flattrade.auth import auth_page_url, code_from_redirect_url
from terminal.services.background import spawn
from terminal.ui import theme

log = logging.getLogger(__name__)

Runner = Callable[..., Awaitable]
# The adapter's words for "the redirect could not be caught" (auth.LoopbackRedirect).
_NOT_CAUGHT = ("not completed in time", "Cannot listen for the login redirect")


def offers_paste_login(broker_name: str, error: Exception) -> bool:
    """True when ``error`` from a Flattrade login means the redirect was not caught, so pasting
    it by hand can still log in (a timeout or a busy port, not a refused key or secret)."""
    return (broker_name == "flattrade" and isinstance(error, AuthenticationError)
            and any(words in str(error) for words in _NOT_CAUGHT))


class FlattradeLoginDialog(QDialog):
    """The paste-the-redirect-URL login. ``login(url)`` runs on a worker through ``run``."""

    logged_in = Signal(object)  # SessionInfo

    def __init__(self, login_url: str, login: Callable[[str], SessionInfo], run: Runner, *, reason: str = "",
                 redirect_port: int | None = None, open_url: Callable[[QUrl], object] = QDesktopServices.openUrl,
                 parent=None):
        super().__init__(parent)
        self.setWindowTitle("Log in to Flattrade")
        self.setMinimumWidth(560)
        self._login, self._run, self._open_url = login, run, open_url
        self.session: SessionInfo | None = None
        where = f"http://127.0.0.1:{redirect_port}/" if redirect_port else "http://127.0.0.1:…/"

        intro = QLabel(
            (f"<b>{_escape(reason)}</b><br><br>" if reason else "")
            + "The terminal could not catch the Flattrade login by itself. You can finish it by hand:"
            "<ol><li>Open the login page below in your browser and log in.</li>"
            f"<li>The browser then goes to an address starting with <tt>{where}</tt> — it may say the "
            "page cannot be reached; that is fine.</li>"
            "<li>Copy that whole address from the browser's address bar and paste it below.</li></ol>"
            "The code in it works once and only for a few minutes.")
        intro.setWordWrap(True)

        self.login_url = QLineEdit(login_url)
        self.login_url.setReadOnly(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the login page's address")
        self.copy_button.clicked.connect(self._copy)
        self.open_button = QPushButton("Open in browser")
        self.open_button.clicked.connect(lambda: self._open_url(QUrl(self.login_url.text())))
        url_row = QHBoxLayout()
        url_row.addWidget(self.login_url, 1)
        url_row.addWidget(self.copy_button)
        url_row.addWidget(self.open_button)

        self.redirect = QLineEdit()
        self.redirect.setPlaceholderText(f"{where}?code=…")
        self.redirect.setClearButtonEnabled(True)
        self.redirect.textChanged.connect(self._edited)
        self.redirect.returnPressed.connect(self.submit)

        self.status = QLabel("")
        self.status.setWordWrap(True)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.login_button = self.buttons.addButton("Log in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.login_button.setEnabled(False)
        self.login_button.setDefault(True)
        self.login_button.clicked.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(QLabel("Login page:"))
        layout.addLayout(url_row)
        layout.addWidget(QLabel("Address the browser ended on:"))
        layout.addWidget(self.redirect)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._busy = False

    @classmethod
    def for_broker(cls, broker, run: Runner, *, reason: str = "", parent=None, **kwargs) -> "FlattradeLoginDialog":
        """The dialog for a FlattradeBroker: its login page, its ``login_with_redirect_url``."""
        config = broker.config
        return cls(auth_page_url(config.auth_url, config.api_key), broker.login_with_redirect_url, run,
                   reason=reason, redirect_port=config.redirect_port, parent=parent, **kwargs)

    # --- actions ---------------------------------------------------------------------------
    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.login_url.text())
        self._say("Login page address copied.", ok=True)

    def _edited(self, text: str) -> None:
        self.login_button.setEnabled(bool(text.strip()) and not self._busy)
        if self.status.text() and not self._busy:
            self._say("")

    def submit(self) -> None:
        """Check the pasted address here, then exchange its code on a worker thread."""
        if self._busy:
            return
        url = self.redirect.text().strip()
        try:
            code_from_redirect_url(url)  # no code: say so at once, nothing is sent
        except AuthenticationError as exc:
            self._say(f"{exc} {exc.hint}", ok=False)
            return
        spawn(self._log_in(url))

    async def _log_in(self, url: str) -> None:
        self._set_busy(True)
        self._say("Logging in…")
        try:
            session = await self._run(self._login, url)
        except BrokerError as exc:
            self._set_busy(False)
            self._say(f"Login failed: {exc}" + (f" {exc.hint}" if exc.hint else ""), ok=False)
            return
        except Exception as exc:  # an adapter bug must show, not vanish with the task
            log.exception("Flattrade paste login failed")
            self._set_busy(False)
            self._say(f"Login failed: {exc.__class__.__name__}: {exc}", ok=False)
            return
        self._set_busy(False)
        self.session = session
        self._say(f"Logged in as {session.user_name}.", ok=True)
        self.logged_in.emit(session)
        self.accept()

    # --- looks -----------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.redirect.setReadOnly(busy)
        self.login_button.setEnabled(not busy and bool(self.redirect.text().strip()))

    def _say(self, text: str, ok: bool | None = None) -> None:
        colour = "" if ok is None else theme.current().positive if ok else theme.current().negative
        self.status.setStyleSheet(f"color: {colour};" if colour else "")
        self.status.setText(text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
