"""Settings: brokers and accounts, hotkeys, theme, confirmations and risk limits, order defaults,
instrument master refresh time and log level.

Nothing is written until OK. Then the settings are saved (atomically, off the UI thread) and
signals tell the main window what to apply now: ``theme_changed(name)``, ``hotkeys_changed(bindings)``
(give it to MainWindow.apply_bindings), ``broker_changed(name)`` (takes effect at the next start).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from PySide6.QtCore import QLocale, Qt, QTime, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QTabWidget, QTimeEdit, QVBoxLayout, QWidget,
)

from terminal.domain import OrderType, Product, Validity
from terminal.services.risk import RiskLimits
from terminal.ui import theme
from terminal.ui.dialogs.broker_setup import FORMS, BrokerSetupDialog, TestConnection
from terminal.ui.hotkeys import BY_ID, overrides_from

BROKER_TITLES = {"paper": "Simulated exchange (no account)", "flattrade": "Flattrade", "angelone": "Angel One"}
INDIA = QLocale(QLocale.English, QLocale.India)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_MASTER_REFRESH = "08:30"  # IST, before the pre-open session
CONFIRM_LABELS = {
    "square_off": "Ask before squaring off all positions",
    "cancel_all": "Ask before cancelling all open orders",
    "modify_from_chart": "Ask before moving an order by dragging it on a chart",
}
# Label, unit and spin range of each risk limit (names as in terminal/services/risk.py; 0 turns a check off).
RISK_FIELDS: dict[str, tuple[str, str, float]] = {
    "max_order_value_rupees": ("Largest order value", "₹", 100_00_00_000),
    "max_order_lots": ("Most lots in one order", "lots", 100_000),
    "price_band_percent": ("Price band around LTP (futures, equity)", "%", 100),
    "option_price_band_percent": ("Price band around LTP (options)", "%", 1000),
    "max_open_orders": ("Most open orders", "orders", 10_000),
    "daily_loss_limit_rupees": ("Daily loss limit (stops new entries)", "₹", 100_00_00_000),
    "confirm_above_value_rupees": ("Ask before orders above", "₹", 100_00_00_000),
    "stale_quote_seconds": ("Quote counts as stale after", "s", 3600),
    "block_on_stale_quote": ("Refuse orders on a stale quote (else ask)", "", 0),
}


class SettingsDialog(QDialog):
    theme_changed = Signal(str)
    hotkeys_changed = Signal(dict)  # {action_id: "Ctrl+X"} for every action
    broker_changed = Signal(str)

    def __init__(self, settings, actions: Mapping[str, QAction] | None = None,
                 test_connection: TestConnection | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.actions = dict(actions or {})
        self.test_connection = test_connection
        self._bindings = {aid: a.shortcut().toString(QKeySequence.PortableText) for aid, a in self.actions.items()}
        self._bindings_edited = False
        self.setWindowTitle("Settings")
        self.resize(680, 560)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._brokers_tab(), "Brokers")
        self.tabs.addTab(self._trading_tab(), "Orders and risk")
        self.tabs.addTab(self._hotkeys_tab(), "Hotkeys")
        self.tabs.addTab(self._general_tab(), "General")
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

    # --- brokers --------------------------------------------------------------------------------
    def _brokers_tab(self) -> QWidget:
        page = QWidget(self)
        self.broker_combo = QComboBox(page)
        for name, title in BROKER_TITLES.items():
            self.broker_combo.addItem(title, name)
        self.broker_combo.setCurrentIndex(max(0, self.broker_combo.findData(self.settings.get("broker", "paper"))))
        self.accounts = QTableWidget(0, 3, page)
        self.accounts.setHorizontalHeaderLabels(["Broker", "Account", "Details"])
        self.accounts.verticalHeader().setVisible(False)
        self.accounts.setEditTriggers(QTableWidget.NoEditTriggers)
        self.accounts.setSelectionBehavior(QTableWidget.SelectRows)
        self.accounts.horizontalHeader().setStretchLastSection(True)
        self._fill_accounts()
        setup = QPushButton("Set up Flattrade or Angel One…", page)
        setup.clicked.connect(self.open_broker_setup)
        sim = self.settings.get("sim", {}) or {}
        self.sim_rate = QDoubleSpinBox(page)
        self.sim_rate.setRange(0.5, 50.0)
        self.sim_rate.setSuffix(" ticks/s per instrument")
        self.sim_rate.setValue(float(sim.get("ticks_per_second") or 4.0))
        form = QFormLayout()
        form.addRow("Trade through", self.broker_combo)
        note = QLabel("A change of broker takes effect when the terminal starts again.", page)
        note.setStyleSheet(f"color: {theme.current().muted};")
        form.addRow("", note)
        form.addRow("Simulated market speed", self.sim_rate)
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(QLabel("Accounts set up on this computer:", page))
        layout.addWidget(self.accounts, 1)
        layout.addWidget(setup, 0, Qt.AlignLeft)
        return page

    def _fill_accounts(self) -> None:
        brokers = self.settings.get("brokers", {}) or {}
        rows = [("Simulated exchange", "paper", "built in, always available")]
        for name, form in FORMS.items():
            config = brokers.get(name)
            if isinstance(config, dict) and config.get(form.account_field):
                details = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in config.items()
                                    if k not in (form.account_field, "api_key"))
                rows.append((form.title, str(config[form.account_field]), details or "secrets in the keyring"))
        self.accounts.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                self.accounts.setItem(row, column, QTableWidgetItem(value))
        self.accounts.resizeColumnsToContents()

    def open_broker_setup(self) -> None:
        current = self.broker_combo.currentData()
        dialog = BrokerSetupDialog(self.settings, current if current in FORMS else "flattrade",
                                   self.test_connection, self)
        if dialog.exec():
            self._fill_accounts()
            self.broker_combo.setCurrentIndex(self.broker_combo.findData(dialog.broker()))

    # --- orders and risk ------------------------------------------------------------------------
    def _trading_tab(self) -> QWidget:
        page = QWidget(self)
        defaults = self.settings.get("order_defaults", {}) or {}
        self.product = self._combo(page, [p.value for p in Product], defaults.get("product", "MIS"))
        self.order_type = self._combo(page, [t.value for t in OrderType], defaults.get("order_type", "LIMIT"))
        self.validity = self._combo(page, [v.value for v in Validity], defaults.get("validity", "DAY"))
        order_box = QGroupBox("New orders start as", page)
        order_form = QFormLayout(order_box)
        order_form.addRow("Product", self.product)
        order_form.addRow("Order type", self.order_type)
        order_form.addRow("Validity", self.validity)

        confirm = self.settings.get("confirm", {}) or {}
        confirm_box = QGroupBox("Confirmations", page)
        confirm_layout = QVBoxLayout(confirm_box)
        self.confirm_checks: dict[str, QCheckBox] = {}
        for key in {**CONFIRM_LABELS, **{k: None for k in confirm}}:
            check = QCheckBox(CONFIRM_LABELS.get(key) or key.replace("_", " ").capitalize(), confirm_box)
            check.setChecked(bool(confirm.get(key, True)))
            confirm_layout.addWidget(check)
            self.confirm_checks[key] = check

        limits = RiskLimits.from_settings(self.settings).as_dict()
        risk_box = QGroupBox("Risk limits (0 turns a check off)", page)
        risk_form = QFormLayout(risk_box)
        self.risk_edits: dict[str, QWidget] = {}
        for name, value in limits.items():
            label, unit, top = RISK_FIELDS.get(name, (name.replace("_", " ").capitalize(), "", 1e9))
            if isinstance(value, bool):
                edit = QCheckBox(risk_box)
                edit.setChecked(value)
            elif isinstance(value, int):
                edit = QSpinBox(risk_box)
                edit.setRange(0, int(min(top, 2**31 - 1)))
                edit.setGroupSeparatorShown(True)
                edit.setValue(value)
            else:
                edit = QDoubleSpinBox(risk_box)
                edit.setDecimals(1)
                edit.setRange(0, top)
                edit.setValue(value)
            if unit == "₹":
                edit.setPrefix("₹ ")
                edit.setLocale(INDIA)  # 50,00,000: lakh grouping, as traders read rupees
            elif unit:
                edit.setSuffix(f" {unit}")
            edit.setObjectName(f"risk_{name}")
            risk_form.addRow(label, edit)
            self.risk_edits[name] = edit

        left = QVBoxLayout()
        left.addWidget(order_box)
        left.addWidget(confirm_box)
        left.addStretch(1)
        layout = QHBoxLayout(page)
        layout.addLayout(left)
        layout.addWidget(risk_box, 1)
        return page

    @staticmethod
    def _combo(parent: QWidget, values: list[str], current: str) -> QComboBox:
        combo = QComboBox(parent)
        combo.addItems(values)
        combo.setCurrentIndex(max(0, combo.findText(str(current))))
        return combo

    # --- hotkeys --------------------------------------------------------------------------------
    def _hotkeys_tab(self) -> QWidget:
        page = QWidget(self)
        self.hotkey_table = QTableWidget(0, 2, page)
        self.hotkey_table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        self.hotkey_table.verticalHeader().setVisible(False)
        self.hotkey_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.hotkey_table.horizontalHeader().setStretchLastSection(True)
        self.hotkey_table.setColumnWidth(0, 320)
        self._fill_hotkeys()
        edit = QPushButton("Change shortcuts…", page)
        edit.setEnabled(bool(self.actions))
        edit.clicked.connect(self.edit_hotkeys)
        layout = QVBoxLayout(page)
        layout.addWidget(self.hotkey_table, 1)
        layout.addWidget(edit, 0, Qt.AlignLeft)
        return page

    def _fill_hotkeys(self) -> None:
        self.hotkey_table.setRowCount(len(self._bindings))
        for row, (aid, keys) in enumerate(self._bindings.items()):
            label = BY_ID[aid].label if aid in BY_ID else self.actions[aid].text().replace("&", "")
            self.hotkey_table.setItem(row, 0, QTableWidgetItem(label))
            self.hotkey_table.setItem(row, 1, QTableWidgetItem(QKeySequence(keys).toString(QKeySequence.NativeText)))

    def edit_hotkeys(self) -> None:
        from terminal.ui.dialogs.hotkeys_dialog import HotkeysDialog

        dialog = HotkeysDialog(self.actions, self)
        # Start from what was already changed here (the actions keep their keys until OK).
        for aid, keys in self._bindings.items():
            if keys != dialog.bindings().get(aid):
                dialog.rebind(aid, keys)
        if dialog.exec():
            self._bindings = dialog.bindings()
            self._bindings_edited = True
            self._fill_hotkeys()

    # --- general --------------------------------------------------------------------------------
    def _general_tab(self) -> QWidget:
        page = QWidget(self)
        self.theme_combo = self._combo(page, list(theme.THEMES), self.settings.get("theme", "dark"))
        self.log_level = self._combo(page, list(LOG_LEVELS), str(self.settings.get("log_level", "INFO")).upper())
        master = self.settings.get("instrument_master", {}) or {}
        self.master_time = QTimeEdit(page)
        self.master_time.setDisplayFormat("HH:mm 'IST'")
        self.master_time.setTime(QTime.fromString(str(master.get("refresh_at", DEFAULT_MASTER_REFRESH)), "HH:mm")
                                 if QTime.fromString(str(master.get("refresh_at", "")), "HH:mm").isValid()
                                 else QTime.fromString(DEFAULT_MASTER_REFRESH, "HH:mm"))
        form = QFormLayout(page)
        form.addRow("Theme", self.theme_combo)
        form.addRow("Refresh the instrument master daily at", self.master_time)
        form.addRow("Log detail", self.log_level)
        try:
            from terminal.storage.paths import log_dir

            folder = log_dir()
            open_logs = QPushButton(f"Open log folder ({folder})", page)
            open_logs.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))
            form.addRow("Logs", open_logs)
        except OSError:
            pass
        return page

    # --- OK -------------------------------------------------------------------------------------
    def values(self) -> dict:
        """What OK will store, by settings key."""
        risk = {}
        for name, edit in self.risk_edits.items():
            risk[name] = edit.isChecked() if isinstance(edit, QCheckBox) else edit.value()
        sim = self.settings.get("sim", {}) or {}
        sim["ticks_per_second"] = round(self.sim_rate.value(), 2)
        return {
            "broker": self.broker_combo.currentData(),
            "sim": sim,
            "order_defaults": {"product": self.product.currentText(), "order_type": self.order_type.currentText(),
                               "validity": self.validity.currentText()},
            "confirm": {key: check.isChecked() for key, check in self.confirm_checks.items()},
            "risk": risk,
            "theme": self.theme_combo.currentText(),
            "instrument_master": {**(self.settings.get("instrument_master", {}) or {}),
                                  "refresh_at": self.master_time.time().toString("HH:mm")},
            "log_level": self.log_level.currentText(),
        }

    def accept(self) -> None:
        before = {key: self.settings.get(key) for key in ("broker", "theme", "log_level")}
        for key, value in self.values().items():
            self.settings.set(key, value)
        if self._bindings_edited:
            self.settings.set("hotkeys", overrides_from(self._bindings))
        self.settings.save()
        logging.getLogger().setLevel(getattr(logging, self.log_level.currentText(), logging.INFO))
        super().accept()
        if before["theme"] != self.theme_combo.currentText():
            self.theme_changed.emit(self.theme_combo.currentText())
        if self._bindings_edited:
            self.hotkeys_changed.emit(dict(self._bindings))
        if before["broker"] != self.broker_combo.currentData():
            self.broker_changed.emit(self.broker_combo.currentData())
