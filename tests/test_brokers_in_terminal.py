"""The whole terminal on each real adapter, against that broker's loopback sandbox."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from terminal.app import BrokerSetupError, create_broker, create_context, read_sandbox_info, shutdown, start_session
from terminal.domain import OrderStatus
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings
from terminal.ui.main_window import MainWindow


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def noren_sandbox():
    from terminal.sim.servers.noren import NorenSandbox

    server = NorenSandbox(redirect_port=free_port(), step_interval=0.05, seed=5).start()
    yield server.info()
    server.stop()


@pytest.fixture
def smartapi_sandbox():
    from terminal.sim.servers.smartapi import SmartApiSandbox

    server = SmartApiSandbox(seed=5)
    yield server.start()  # start() answers with the sandbox's description
    server.stop()


def run_terminal(qtbot, run_async, tmp_path, broker):
    context = create_context(broker, Settings(tmp_path / "settings.json"), OrderJournal(tmp_path / "j.db"))
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    assert run_async(start_session(context), timeout_ms=30_000)
    return window, context


def buy_with_f1(qtbot, window, context, key):
    watch = window.panels["market_watch"]
    assert watch.add_instrument(key) or key in watch.keys()
    watch.select_key(key)
    watch.table.setFocus()
    qtbot.waitUntil(lambda: context.market.tick(key) is not None, timeout=15_000)
    qtbot.keyClick(watch.table, Qt.Key_F1)
    qtbot.keyClick(window.panels["order_entry"], Qt.Key_Return)
    qtbot.waitUntil(lambda: any(o.instrument_key == key and o.status is OrderStatus.COMPLETE
                                for o in context.portfolio.orders()), timeout=20_000)


@pytest.mark.parametrize("name", ["flattrade", "angelone"])
def test_the_terminal_trades_against_each_sandbox(name, qtbot, run_async, tmp_path, request):
    info = request.getfixturevalue("noren_sandbox" if name == "flattrade" else "smartapi_sandbox")
    broker = create_broker(name, Settings(tmp_path / "s.json"), sandbox=info)
    window, context = run_terminal(qtbot, run_async, tmp_path, broker)
    try:
        reliance = next(i.key for i in context.market.catalog.search("reliance") if i.is_tradeable)
        buy_with_f1(qtbot, window, context, reliance)
        qtbot.waitUntil(lambda: any(p.instrument_key == reliance and p.net_quantity > 0
                                    for p in context.portfolio.positions()), timeout=20_000)
    finally:
        shutdown(context)


def test_a_broker_without_set_up_says_what_to_do(tmp_path):
    with pytest.raises(BrokerSetupError, match="Settings > Brokers"):
        create_broker("flattrade", Settings(tmp_path / "s.json"))


def test_the_sandbox_line_is_read_from_text_or_a_file(tmp_path):
    line = json.dumps({"sandbox": "noren", "user_id": "FZ1"})
    (tmp_path / "sb.txt").write_text(line + "\nserving...\n")
    assert read_sandbox_info(line)["user_id"] == "FZ1"
    assert read_sandbox_info(str(tmp_path / "sb.txt"))["user_id"] == "FZ1"
    with pytest.raises(BrokerSetupError):
        read_sandbox_info(str(tmp_path / "missing.txt"))
    with pytest.raises(BrokerSetupError):
        read_sandbox_info("{not json")
