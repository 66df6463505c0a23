"""First-run, broker setup, settings and about dialogs: what they store, where, and what they refuse."""

from __future__ import annotations

import json
import threading
from importlib import metadata

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from terminal.storage import secrets
from terminal.storage.settings import Settings
from terminal.ui.dialogs.about_dialog import BUNDLED, AboutDialog, installed_version
from terminal.ui.dialogs.broker_setup import ANGELONE, FLATTRADE, BrokerSetupDialog, validate
from terminal.ui.dialogs.settings_dialog import SettingsDialog
from terminal.ui.dialogs.welcome import WelcomeDialog, should_show_welcome

TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def settings(tmp_path):
    return Settings(tmp_path / "settings.json")


def saved_file(settings) -> dict:
    settings.flush()
    return json.loads(settings.path.read_text(encoding="utf-8"))


def fill(dialog, broker, **values):
    dialog.set_broker(broker)
    for name, value in values.items():
        edit = dialog.forms[broker].edits[name]
        edit.setText(value)


# --- welcome ----------------------------------------------------------------------------------
def test_welcome_simulated_choice_is_remembered(qtbot, settings, shots, dark_theme):
    assert should_show_welcome(settings)
    dialog = WelcomeDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.grab().save(str(shots / "welcome.png"))
    qtbot.mouseClick(dialog.simulated_button, Qt.LeftButton)
    assert dialog.result() == WelcomeDialog.Accepted
    assert dialog.choice() == "paper"
    stored = saved_file(settings)
    assert stored["broker"] == "paper" and stored["welcome_done"] is True
    assert not should_show_welcome(Settings(settings.path))


def test_welcome_closed_without_choice_comes_back(qtbot, settings):
    dialog = WelcomeDialog(settings)
    qtbot.addWidget(dialog)
    dialog.reject()
    assert dialog.choice() is None
    assert should_show_welcome(settings)


# --- broker setup -----------------------------------------------------------------------------
def test_flattrade_secret_goes_to_keyring_never_to_settings(qtbot, settings, memory_keyring, shots, dark_theme):
    dialog = BrokerSetupDialog(settings, "flattrade")
    qtbot.addWidget(dialog)
    fill(dialog, "flattrade", client_id="fz12345", api_key="key-abc", api_secret="s3cr3t-value",
         redirect_port="8800")
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.grab().save(str(shots / "broker_setup_flattrade.png"))
    dialog.accept()
    assert dialog.result() == BrokerSetupDialog.Accepted
    stored = saved_file(settings)
    assert stored["brokers"]["flattrade"] == {"client_id": "FZ12345", "api_key": "key-abc", "redirect_port": 8800}
    assert stored["broker"] == "flattrade"
    assert "s3cr3t-value" not in settings.path.read_text(encoding="utf-8")
    assert secrets.load_secret("flattrade", "FZ12345", "api_secret") == "s3cr3t-value"
    # The config is what the adapter takes.
    from terminal.brokers.flattrade.config import FlattradeConfig

    assert FlattradeConfig.from_dict(stored["brokers"]["flattrade"]).redirect_port == 8800


def test_angelone_fields_are_checked_before_anything_is_saved(qtbot, settings, memory_keyring, shots, dark_theme):
    dialog = BrokerSetupDialog(settings, "angelone")
    qtbot.addWidget(dialog)
    fill(dialog, "angelone", client_code="A123456", api_key="k", pin="12ab", totp_secret="123456",
         public_ip="192.168.1.5")
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.check()  # three problems
    dialog.grab().save(str(shots / "broker_setup_angelone_errors.png"))
    dialog.accept()
    assert dialog.result() != BrokerSetupDialog.Accepted
    assert not settings.path.exists()
    assert secrets.load_secret("angelone", "A123456", "pin") is None
    errors = dialog.forms["angelone"].errors
    assert "PIN" in errors["pin"].text() and "TOTP" in errors["totp_secret"].text()
    assert "public IP" in errors["public_ip"].text()

    fill(dialog, "angelone", pin="4321", totp_secret=TOTP.lower(), public_ip="203.0.113.7")
    dialog.accept()
    assert dialog.result() == BrokerSetupDialog.Accepted
    assert secrets.load_secret("angelone", "A123456", "pin") == "4321"
    assert secrets.load_secret("angelone", "A123456", "totp_secret") == TOTP
    config = saved_file(settings)["brokers"]["angelone"]
    assert config == {"client_code": "A123456", "api_key": "k", "public_ip": "203.0.113.7"}
    from terminal.brokers.angelone.config import AngelOneConfig

    assert AngelOneConfig.from_dict(config).public_ip == "203.0.113.7"


def test_secret_left_empty_keeps_the_one_in_the_keyring(qtbot, settings, memory_keyring):
    secrets.save_secret("flattrade", "FZ1", "api_secret", "old-secret")
    settings.set("brokers", {"flattrade": {"client_id": "FZ1", "api_key": "k", "redirect_port": 8765}})
    dialog = BrokerSetupDialog(settings, "flattrade")
    qtbot.addWidget(dialog)
    assert dialog.forms["flattrade"].value("client_id") == "FZ1"
    assert "keyring" in dialog.forms["flattrade"].edits["api_secret"].placeholderText()
    assert dialog.save()
    assert secrets.load_secret("flattrade", "FZ1", "api_secret") == "old-secret"


@pytest.mark.parametrize("field, value, ok", [
    (FLATTRADE.fields[3], "80", False), (FLATTRADE.fields[3], "8765", True), (FLATTRADE.fields[3], "x", False),
    (ANGELONE.fields[4], "10.0.0.1", False), (ANGELONE.fields[4], "100.72.1.1", False), (ANGELONE.fields[4], "203.0.113.9", True),
    (ANGELONE.fields[4], "1.2.3", False), (ANGELONE.fields[2], "1234", True), (ANGELONE.fields[2], "12", False),
    (ANGELONE.fields[3], TOTP, True), (ANGELONE.fields[3], "JBSW Y3DP EHPK 3PXP", True),
    (ANGELONE.fields[3], "18!", False), (ANGELONE.fields[0], "", False),
])
def test_field_validation(field, value, ok):
    assert (validate(field, value) is None) is ok


def test_connection_test_reports_from_a_worker_thread(qtbot, settings, memory_keyring):
    calls = []

    def test_connection(broker, config, done):
        calls.append((broker, config))
        threading.Thread(target=lambda: done(False, "Angel One says: Invalid totp")).start()

    dialog = BrokerSetupDialog(settings, "angelone", test_connection)
    qtbot.addWidget(dialog)
    fill(dialog, "angelone", client_code="A1", api_key="k", pin="1234", totp_secret=TOTP, public_ip="203.0.113.7")
    with qtbot.waitSignal(dialog.tested, timeout=5000) as result:
        qtbot.mouseClick(dialog.test_button, Qt.LeftButton)
    assert result.args == [False, "Angel One says: Invalid totp"]
    assert calls == [("angelone", {"client_code": "A1", "api_key": "k", "public_ip": "203.0.113.7"})]
    assert "Invalid totp" in dialog.status.text() and dialog.test_button.isEnabled()
    # The secrets were saved before the test ran: the adapter reads them from the keyring.
    assert secrets.load_secret("angelone", "A1", "pin") == "1234"


def test_keyring_missing_is_said_not_crashed(qtbot, settings, monkeypatch):
    def refuse(*_args):
        raise secrets.SecretStoreUnavailable("No system keyring is available")

    monkeypatch.setattr(secrets, "save_secret", refuse)
    dialog = BrokerSetupDialog(settings, "flattrade")
    qtbot.addWidget(dialog)
    fill(dialog, "flattrade", client_id="FZ9", api_key="k", api_secret="s")
    assert not dialog.save()
    assert "keyring" in dialog.status.text()
    assert not settings.path.exists()


# --- settings ---------------------------------------------------------------------------------
_OWNERS = []  # keeps the actions' parent alive for the test


def _actions(qtbot):
    from PySide6.QtWidgets import QWidget

    owner = QWidget()
    _OWNERS.append(owner)
    actions = {}
    for aid, keys in (("buy", "F1"), ("sell", "F2"), ("order_book", "F3")):
        action = QAction(aid, owner)
        action.setShortcut(QKeySequence(keys))
        actions[aid] = action
    return actions


def test_settings_dialog_stores_every_section(qtbot, settings, shots, dark_theme):
    dialog = SettingsDialog(settings, _actions(qtbot))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    for index, name in enumerate(("brokers", "orders_risk", "hotkeys", "general")):
        dialog.tabs.setCurrentIndex(index)
        dialog.grab().save(str(shots / f"settings_{name}.png"))
    dialog.product.setCurrentText("NRML")
    dialog.order_type.setCurrentText("MARKET")
    dialog.confirm_checks["cancel_all"].setChecked(False)
    dialog.risk_edits["max_order_lots"].setValue(12)
    dialog.risk_edits["daily_loss_limit_rupees"].setValue(25_000)
    dialog.risk_edits["block_on_stale_quote"].setChecked(True)
    dialog.theme_combo.setCurrentText("light")
    dialog.log_level.setCurrentText("DEBUG")
    dialog.master_time.setTime(dialog.master_time.time().fromString("08:05", "HH:mm"))
    with qtbot.waitSignal(dialog.theme_changed) as themed:
        dialog.accept()
    assert themed.args == ["light"]
    stored = saved_file(settings)
    assert stored["order_defaults"] == {"product": "NRML", "order_type": "MARKET", "validity": "DAY"}
    assert stored["confirm"]["cancel_all"] is False and stored["confirm"]["square_off"] is True
    assert stored["theme"] == "light" and stored["log_level"] == "DEBUG"
    assert stored["instrument_master"]["refresh_at"] == "08:05"
    from terminal.services.risk import RiskLimits

    limits = RiskLimits.from_settings(Settings(settings.path))
    assert (limits.max_order_lots, limits.daily_loss_limit_rupees, limits.block_on_stale_quote) == (12, 25_000, True)


def test_settings_cancel_changes_nothing(qtbot, settings):
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.theme_combo.setCurrentText("light")
    dialog.reject()
    assert not settings.path.exists()
    assert settings.get("theme") == "dark"


def test_settings_hotkeys_go_through_the_hotkeys_dialog(qtbot, settings, monkeypatch):
    from terminal.ui.dialogs import hotkeys_dialog

    def exec_with_rebind(self):
        self.rebind("buy", "F9")
        return True

    monkeypatch.setattr(hotkeys_dialog.HotkeysDialog, "exec", exec_with_rebind)
    dialog = SettingsDialog(settings, _actions(qtbot))
    qtbot.addWidget(dialog)
    dialog.edit_hotkeys()
    assert dialog.hotkey_table.item(0, 1).text() == QKeySequence("F9").toString(QKeySequence.NativeText)
    with qtbot.waitSignal(dialog.hotkeys_changed) as changed:
        dialog.accept()
    assert changed.args[0]["buy"] == "F9" and changed.args[0]["sell"] == "F2"
    assert saved_file(settings)["hotkeys"] == {"buy": "F9"}


def test_settings_shows_set_up_accounts_without_secrets(qtbot, settings, memory_keyring):
    settings.set("brokers", {"angelone": {"client_code": "A9", "api_key": "secret-ish-key", "public_ip": "203.0.113.7"}})
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    cells = [dialog.accounts.item(r, c).text() for r in range(dialog.accounts.rowCount()) for c in range(3)]
    assert "A9" in cells and not any("secret-ish-key" in cell for cell in cells)


# --- about ------------------------------------------------------------------------------------
def test_about_lists_components_with_their_metadata_licence(qtbot, shots, dark_theme):
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.grab().save(str(shots / "about.png"))
    assert dialog.table.rowCount() == len(BUNDLED)
    for row, component in enumerate(BUNDLED):
        assert dialog.table.item(row, 1).text() == installed_version(component)
        assert dialog.table.item(row, 1).text()


@pytest.mark.parametrize("component", [c for c in BUNDLED if c.distribution], ids=lambda c: c.distribution)
def test_licence_matches_the_distribution_metadata(component):
    meta = metadata.metadata(component.distribution)
    declared = " ".join(filter(None, [meta.get("License-Expression"), meta.get("License")]))
    assert component.licence in declared, f"{component.distribution} declares {declared!r}"
