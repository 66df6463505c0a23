"""The paste-the-redirect-URL Flattrade login, driven with pytest-qt against the loopback Noren sandbox.

The sandbox's auth page auto-approves and answers with a redirect; reading it without following
it (``allow_redirects=False``) gives exactly the address a trader would copy from the browser."""

from __future__ import annotations

import socket

import pytest
import requests
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog
from support.network import free_port

from terminal.brokers.base import AuthenticationError
from terminal.brokers.flattrade import create_broker, sandbox_config, store_sandbox_secrets
from terminal.brokers.flattrade.auth import LoopbackRedirect, auth_page_url
from terminal.services.background import BackgroundRunner
from terminal.sim.servers.noren import NorenSandbox
from terminal.ui.dialogs.flattrade_login import FlattradeLoginDialog, offers_paste_login


@pytest.fixture
def sandbox():
    server = NorenSandbox(redirect_port=free_port(), step_interval=0.2, seed=3).start()
    yield server
    server.stop()


@pytest.fixture
def broker(sandbox, tmp_path):
    info = sandbox.info()
    store_sandbox_secrets(info)
    config = sandbox_config(info)
    config.update(login_timeout=0.3, http_timeout=5.0)
    return create_broker(config, opener=lambda url: None, cache_dir=tmp_path / "scrips")


@pytest.fixture
def runner():
    pool = BackgroundRunner(workers=1)
    yield pool
    pool.shutdown()


@pytest.fixture
def opened():
    return []


@pytest.fixture
def dialog(qtbot, broker, runner, opened, event_loop_qt):
    d = FlattradeLoginDialog.for_broker(broker, runner.run, reason="The Flattrade login was not completed in time.",
                                        open_url=opened.append)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    return d


def redirect_url(login_url: str) -> str:
    """What the browser ends on after logging in: the auth page's redirect, not followed."""
    reply = requests.get(login_url, allow_redirects=False, timeout=5)
    assert reply.status_code == 302
    return reply.headers["Location"]


def paste(qtbot, dialog, text: str) -> None:
    dialog.redirect.clear()
    qtbot.keyClicks(dialog.redirect, text)


def test_pasted_redirect_logs_in(qtbot, dialog, broker, sandbox):
    assert dialog.login_url.text() == auth_page_url(sandbox.info()["auth_url"], sandbox.api_key)
    assert not dialog.login_button.isEnabled()  # nothing pasted yet
    paste(qtbot, dialog, redirect_url(dialog.login_url.text()))
    assert dialog.login_button.isEnabled()
    with qtbot.waitSignal(dialog.logged_in, timeout=10_000) as signal:
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert signal.args[0].account == "flattrade:FZ00000"
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert broker.token == sandbox.token_for(sandbox.user_id)


def test_enter_in_the_field_logs_in(qtbot, dialog, broker, sandbox):
    paste(qtbot, dialog, redirect_url(dialog.login_url.text()))
    with qtbot.waitSignal(dialog.logged_in, timeout=10_000):
        qtbot.keyClick(dialog.redirect, Qt.Key.Key_Return)
    assert broker.token == sandbox.token_for(sandbox.user_id)


def test_an_address_without_a_code_is_refused_before_sending(qtbot, dialog, broker):
    paste(qtbot, dialog, f"http://127.0.0.1:{broker.config.redirect_port}/?client=FZ00000")
    with qtbot.assertNotEmitted(dialog.logged_in, wait=300):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert "no login code" in dialog.status.text()
    assert broker.token is None and dialog.isVisible()


def test_a_used_code_fails_clearly_and_a_fresh_one_works(qtbot, dialog, broker, sandbox):
    used = redirect_url(dialog.login_url.text())
    create_broker(sandbox_config(sandbox.info())).login_with_redirect_url(used)  # the code works once
    paste(qtbot, dialog, used)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Login failed"), timeout=10_000)
    assert "Invalid request code" in dialog.status.text()
    assert dialog.isVisible() and not dialog.redirect.isReadOnly() and dialog.login_button.isEnabled()

    paste(qtbot, dialog, redirect_url(dialog.login_url.text()))
    with qtbot.waitSignal(dialog.logged_in, timeout=10_000):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert broker.token == sandbox.token_for(sandbox.user_id)


def test_copy_and_open_the_login_page(qtbot, dialog, opened):
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == dialog.login_url.text()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert [url.toString() for url in opened] == [dialog.login_url.text()]


# --- when the terminal offers it ----------------------------------------------------------------
def test_a_login_timeout_offers_the_paste_login(broker):
    with pytest.raises(AuthenticationError) as caught:
        broker.login()  # the 'browser' never comes back within login_timeout
    assert offers_paste_login(broker.name, caught.value)


def test_a_busy_redirect_port_offers_the_paste_login():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(AuthenticationError) as caught:
            LoopbackRedirect(holder.getsockname()[1])
    assert offers_paste_login("flattrade", caught.value)


def test_other_login_failures_do_not_offer_it():
    refused = AuthenticationError("Flattrade refused the login code: Invalid API key")
    assert not offers_paste_login("flattrade", refused)
    assert not offers_paste_login("angelone", AuthenticationError("The Flattrade login was not completed in time."))
    assert not offers_paste_login("flattrade", ValueError("The Flattrade login was not completed in time."))
