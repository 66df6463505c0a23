"""The whole terminal on each real adapter, against that broker's loopback sandbox."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from support.network import free_port

from terminal.app import BrokerSetupError, create_broker, create_context, read_sandbox_info, shutdown, start_session
from terminal.domain import OrderStatus
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings
from terminal.ui.main_window import MainWindow


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


def test_broker_only_panels_are_docked_for_the_brokers_that_feed_them(qtbot, tmp_path):
    from terminal.brokers.paper.broker import PaperBroker
    from terminal.sim.exchange import SimulatedExchange

    context = create_context(PaperBroker(SimulatedExchange(seed=1)), Settings(tmp_path / "settings.json"),
                             OrderJournal(tmp_path / "j.db"))
    window = MainWindow(context)
    qtbot.addWidget(window)
    try:
        assert "gtt_orders" not in window.docks and "market_movers" not in window.docks
        assert "gtt_orders" not in window.actions_by_id  # no hotkey for a panel that is not there
        assert not window.panels["order_entry"].gtt_button.isVisibleTo(window.panels["order_entry"])
    finally:
        shutdown(context)


def test_angel_one_gtt_from_the_order_entry_and_market_movers_in_the_terminal(
        qtbot, run_async, tmp_path, smartapi_sandbox):
    broker = create_broker("angelone", Settings(tmp_path / "s.json"), sandbox=smartapi_sandbox)
    window, context = run_terminal(qtbot, run_async, tmp_path, broker)
    try:
        assert {"gtt_orders", "market_movers"} <= window.docks.keys()
        # Docked before login, neither panel called the broker early (that looked like an expired session).
        assert not [m.text for m in context.messages.messages() if "expired" in m.text or "Could not" in m.text]
        movers = window.panels["market_movers"]
        qtbot.keyClick(window.panels["market_watch"].table, Qt.Key_M, Qt.ControlModifier | Qt.ShiftModifier)
        assert window.docks["market_movers"] in window.tabifiedDockWidgets(window.docks["market_watch"])
        assert not movers.visibleRegion().isEmpty()  # the hotkey brought its tab to the front
        assert window.panels["market_watch"].visibleRegion().isEmpty()
        qtbot.waitUntil(lambda: len(movers.model) > 0, timeout=15_000)

        reliance = next(i for i in context.market.catalog.search("reliance") if i.is_tradeable)
        watch = window.show_panel("market_watch")
        assert watch.add_instrument(reliance.key) or reliance.key in watch.keys()
        watch.select_key(reliance.key)
        qtbot.waitUntil(lambda: context.market.tick(reliance.key) is not None, timeout=15_000)
        qtbot.keyClick(watch.table, Qt.Key_F1)
        entry = window.panels["order_entry"]
        assert entry.gtt_button.isVisibleTo(entry)
        entry.gtt_button.click()
        gtt = window.panels["gtt_orders"]
        assert not gtt.visibleRegion().isEmpty() and gtt.instrument.key == reliance.key
        assert gtt.side.currentText() == "BUY"
        # Prefilled from a limit order at the market, the trigger is the last price: refused in the form.
        ltp = context.market.ltp(reliance.key)
        gtt.trigger.set_paise(ltp)
        assert gtt.save() is None and "trigger is the last price" in gtt.status_label.text()
        # A buy on a dip: trigger and limit 5% under the market.
        dip = ltp * 95 // 100 // reliance.tick_size * reliance.tick_size
        gtt.trigger.set_paise(dip)
        gtt.price.set_paise(dip)
        task = gtt.save()
        assert task is not None
        qtbot.waitUntil(task.done, timeout=15_000)
        qtbot.waitUntil(lambda: any(r.instrument_key == reliance.key for r in gtt.model.rows()), timeout=15_000)
    finally:
        shutdown(context)
