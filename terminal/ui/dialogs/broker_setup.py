"""Broker setup: the account details of Flattrade or Angel One, secrets into the OS keyring.

What is not secret (client id, API key, redirect port, registered IP) goes to
settings["brokers"][broker] in the shape the adapter's ``Config.from_dict`` takes; the API
secret, PIN and TOTP secret go to the keyring through ``terminal.storage.secrets.save_secret``
and never to the settings file or the log.

The connection test calls ``test_connection(broker, config, done)`` given by the caller (the
main window runs the adapter's login off the UI thread) after the values are saved;
``done(ok, message)`` may be called from any thread.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
    QStackedWidget, QVBoxLayout, QWidget,
)

from terminal.storage import secrets
from terminal.ui import theme

TestConnection = Callable[[str, dict, Callable[[bool, str], None]], None]


@dataclass(frozen=True)
class BrokerField:
    name: str  # key in the adapter's config, or the keyring field for a secret
    label: str
    help: str  # where the value comes from, in the trader's words
    secret: bool = False
    kind: str = "text"  # text, port, ip, totp, pin
    placeholder: str = ""
    required: bool = True


@dataclass(frozen=True)
class BrokerForm:
    broker: str  # the adapter's name: "flattrade", "angelone"
    title: str
    account_field: str  # which field names the account (keyring entries are filed under it)
    intro: str
    fields: tuple[BrokerField, ...]


FLATTRADE = BrokerForm(
    "flattrade", "Flattrade", "client_id",
    "Create an API key on the Flattrade wall (pi.flattrade.in → Pi → API key). Set its redirect URL to "
    "http://127.0.0.1:<redirect port>/ so the terminal can catch the login in your browser.",
    (
        BrokerField("client_id", "Client id", "Your Flattrade login id, e.g. FZ12345 (on the welcome e-mail "
                    "and the top right of pi.flattrade.in).", placeholder="FZ12345"),
        BrokerField("api_key", "API key", "On the API key page of the Flattrade wall (pi.flattrade.in), "
                    "the 'API Key' column of the key you created."),
        BrokerField("api_secret", "API secret", "Same page, the 'API Secret' column. Stored in the system "
                    "keyring only.", secret=True),
        BrokerField("redirect_port", "Redirect port", "The port in the redirect URL you gave Flattrade "
                    "(http://127.0.0.1:PORT/). 8765 unless you chose another.", kind="port",
                    placeholder="8765"),
    ),
)
ANGELONE = BrokerForm(
    "angelone", "Angel One", "client_code",
    "Create a SmartAPI app on smartapi.angelbroking.com (My apps → Create an app, type Trading APIs) "
    "with your static public IP, and enable TOTP at smartapi.angelbroking.com/enable-totp.",
    (
        BrokerField("client_code", "Client code", "Your Angel One client code (login id), e.g. A123456.",
                    placeholder="A123456"),
        BrokerField("api_key", "API key", "The API key of your app on the smartapi.angelbroking.com apps page."),
        BrokerField("pin", "PIN", "Your Angel One login PIN (4 digits). Stored in the system keyring only.",
                    secret=True, kind="pin"),
        BrokerField("totp_secret", "TOTP secret", "The text key shown under the QR code at "
                    "smartapi.angelbroking.com/enable-totp (not the 6-digit code). Stored in the keyring only.",
                    secret=True, kind="totp"),
        BrokerField("public_ip", "Registered public IP", "The static IP you registered for the app on the "
                    "apps page; orders from any other IP are refused by Angel One.", kind="ip",
                    placeholder="203.0.113.7"),
    ),
)
FORMS: dict[str, BrokerForm] = {f.broker: f for f in (FLATTRADE, ANGELONE)}
DEFAULT_REDIRECT_PORT = 8765
# Addresses a router hands out (RFC 1918, carrier-grade NAT, IPv6 unique local): never the registered IP.
LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                         "100.64.0.0/10", "fc00::/7"))


def validate(field: BrokerField, value: str) -> str | None:
    """Why ``value`` is not acceptable for ``field``, or None when it is."""
    value = value.strip()
    if not value:
        return f"{field.label} is needed." if field.required else None
    if field.kind == "port":
        if not value.isdigit() or not 1024 <= int(value) <= 65535:
            return "Redirect port must be a number from 1024 to 65535."
    elif field.kind == "ip":
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return f"“{value}” is not an IP address (four numbers like 203.0.113.7)."
        if address.is_loopback or address.is_unspecified or address.is_link_local or any(
                address in network for network in LOCAL_NETWORKS if network.version == address.version):
            return f"{value} is a home or office network address; Angel One needs the public IP you registered."
    elif field.kind == "pin":
        if not value.isdigit() or not 4 <= len(value) <= 6:
            return "PIN is the 4-digit number you log in with."
    elif field.kind == "totp":
        compact = value.replace(" ", "").upper()
        try:
            base64.b32decode(compact + "=" * (-len(compact) % 8))
        except (binascii.Error, ValueError):
            return "TOTP secret is the letters-and-digits key under the QR code (base32), not the 6-digit code."
        if len(compact) < 16:
            return "TOTP secret looks too short: copy the whole key under the QR code."
    return None


class _Relay(QObject):
    """Carries the test result into the UI thread whatever thread ``done`` is called from."""

    finished = Signal(bool, str)


class BrokerFields(QWidget):
    """The fields of one broker, with help text under each."""

    def __init__(self, form: BrokerForm, saved: dict, has_secret: Callable[[str], bool], parent=None):
        super().__init__(parent)
        self.form = form
        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.ExpandingFieldsGrow)
        intro = QLabel(form.intro, self)
        intro.setWordWrap(True)
        intro.setObjectName("intro")
        layout.addRow(intro)
        muted = theme.current().muted
        for field in form.fields:
            edit = QLineEdit(self)
            edit.setObjectName(f"{form.broker}_{field.name}")
            if field.secret:
                edit.setEchoMode(QLineEdit.Password)
                edit.setPlaceholderText("saved in the keyring: leave empty to keep" if has_secret(field.name)
                                        else field.placeholder)
            else:
                value = saved.get(field.name, "")
                if field.kind == "port" and not value:
                    value = DEFAULT_REDIRECT_PORT
                edit.setText(str(value))
                edit.setPlaceholderText(field.placeholder)
            if field.kind == "port":
                edit.setValidator(QIntValidator(1, 65535, edit))
            help_label = QLabel(field.help, self)
            help_label.setWordWrap(True)
            help_label.setStyleSheet(f"color: {muted};")
            error = QLabel(self)
            error.setStyleSheet(f"color: {theme.current().negative};")
            error.hide()
            column = QVBoxLayout()
            column.setSpacing(1)
            column.addWidget(edit)
            column.addWidget(help_label)
            column.addWidget(error)
            layout.addRow(field.label, column)
            self.edits[field.name] = edit
            self.errors[field.name] = error

    def value(self, name: str) -> str:
        return self.edits[name].text().strip()


class BrokerSetupDialog(QDialog):
    """Set up Flattrade or Angel One. After Accepted, settings and keyring hold the values."""

    tested = Signal(bool, str)  # the connection test's outcome, in the UI thread

    def __init__(self, settings, broker: str = "flattrade", test_connection: TestConnection | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.test_connection = test_connection
        self.setWindowTitle("Connect a broker")
        self.resize(620, 560)
        saved = settings.get("brokers", {}) or {}
        self.picker = QComboBox(self)
        self.stack = QStackedWidget(self)
        self.forms: dict[str, BrokerFields] = {}
        for form in FORMS.values():
            values = saved.get(form.broker, {}) if isinstance(saved.get(form.broker), dict) else {}
            account = values.get(form.account_field, "")
            widget = BrokerFields(form, values, lambda f, b=form.broker, a=account: _has_secret(b, a, f), self)
            self.forms[form.broker] = widget
            self.picker.addItem(form.title, form.broker)
            self.stack.addWidget(widget)
        self.picker.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self.set_broker(broker if broker in FORMS else "flattrade")

        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.test_button = QPushButton("Save and test connection", self)
        self.test_button.setEnabled(test_connection is not None)
        if test_connection is None:
            self.test_button.setToolTip("The connection can be tested once the terminal has started.")
        self.test_button.clicked.connect(self.run_test)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self._relay = _Relay(self)
        self._relay.finished.connect(self._show_test_result, Qt.QueuedConnection)

        top = QHBoxLayout()
        top.addWidget(QLabel("Broker:", self))
        top.addWidget(self.picker, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.status)
        bottom = QHBoxLayout()
        bottom.addWidget(self.test_button)
        bottom.addStretch(1)
        bottom.addWidget(buttons)
        layout.addLayout(bottom)

    # --- state ----------------------------------------------------------------------------------
    def set_broker(self, broker: str) -> None:
        self.picker.setCurrentIndex(list(FORMS).index(broker))

    def broker(self) -> str:
        return self.picker.currentData()

    def current_form(self) -> BrokerFields:
        return self.forms[self.broker()]

    def config(self) -> dict:
        """The adapter config of the current broker (no secrets), as stored in settings."""
        widget = self.current_form()
        config = {}
        for field in widget.form.fields:
            if field.secret:
                continue
            value = widget.value(field.name)
            if field.kind == "port":
                config[field.name] = int(value or DEFAULT_REDIRECT_PORT)
            elif value or field.required:
                config[field.name] = value.upper() if field.name == widget.form.account_field else value
        return config

    # --- checking and saving --------------------------------------------------------------------
    def check(self) -> list[str]:
        """Problems with what is typed (also shown under each field); empty when all is well."""
        widget = self.current_form()
        account = widget.value(widget.form.account_field).upper()
        problems = []
        for field in widget.form.fields:
            value = widget.value(field.name)
            problem = None
            if field.secret and not value and _has_secret(widget.form.broker, account, field.name):
                problem = None  # keep the one already in the keyring
            else:
                problem = validate(field, value)
            error = widget.errors[field.name]
            error.setText(problem or "")
            error.setVisible(bool(problem))
            if problem:
                problems.append(problem)
        return problems

    def save(self) -> bool:
        """Validate, then write secrets to the keyring and the rest to settings. False on a problem."""
        problems = self.check()
        if problems:
            self._say(problems[0], error=True)
            return False
        widget = self.current_form()
        form = widget.form
        config = self.config()
        account = config[form.account_field]
        try:
            for field in form.fields:
                value = widget.value(field.name)
                if field.secret and value:
                    secrets.save_secret(form.broker, account, field.name,
                                        value.replace(" ", "").upper() if field.kind == "totp" else value)
        except secrets.SecretStoreUnavailable as exc:
            self._say(str(exc), error=True)
            return False
        for field in form.fields:
            if field.secret:
                widget.edits[field.name].clear()
                widget.edits[field.name].setPlaceholderText("saved in the keyring: leave empty to keep")
        brokers = self.settings.get("brokers", {}) or {}
        brokers[form.broker] = config
        self.settings.set("brokers", brokers)
        self.settings.set("broker", form.broker)
        self.settings.save()
        self._say(f"{form.title} account {account} saved; secrets are in the system keyring.")
        return True

    def accept(self) -> None:
        if self.save():
            super().accept()

    # --- connection test ------------------------------------------------------------------------
    def run_test(self) -> None:
        if self.test_connection is None or not self.save():
            return
        self.test_button.setEnabled(False)
        self._say("Testing the connection… (Flattrade opens your browser to log in)")
        relay = self._relay
        try:
            self.test_connection(self.broker(), self.config(), lambda ok, message: relay.finished.emit(ok, message))
        except Exception as exc:  # the caller's wiring failed: say so instead of crashing the dialog
            self._show_test_result(False, f"The test could not start: {exc}")

    def _show_test_result(self, ok: bool, message: str) -> None:
        self.test_button.setEnabled(True)
        self._say(("Connected. " if ok else "Not connected. ") + message, error=not ok)
        self.tested.emit(ok, message)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.current().negative if error else theme.current().positive};")


def _has_secret(broker: str, account: str, field: str) -> bool:
    if not account:
        return False
    try:
        return bool(secrets.load_secret(broker, account.upper(), field))
    except secrets.SecretStoreUnavailable:
        return False
