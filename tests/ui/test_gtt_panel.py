"""GTT orders panel over an AngelOneBroker logged in to the loopback SmartAPI sandbox.

The whole terminal context is real (create_context, start_session); only the broker's servers
are the sandbox. Every broker call of the panel runs on the context's pool thread; the tests
wait for the panel's task on the qasync loop and read the result back from the sandbox.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from terminal.app import create_broker, create_context, shutdown, start_session
from terminal.brokers.angelone import AngelOneBroker
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderRequest, OrderType, Product, Side
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings
from terminal.ui.panels.gtt_orders import GttOrdersPanel, supports_gtt

RELIANCE = "NSE:2885"


@pytest.fixture
def smartapi_sandbox():
    from terminal.sim.servers.smartapi import SmartApiSandbox

    server = SmartApiSandbox(seed=5)
    yield server, server.start()
    server.stop()


@pytest.fixture
def angel_ctx(qtbot, run_async, tmp_path, smartapi_sandbox):
    _, info = smartapi_sandbox
    broker = create_broker("angelone", Settings(tmp_path / "s.json"), sandbox=info)
    context = create_context(broker, Settings(tmp_path / "settings.json"), OrderJournal(tmp_path / "j.db"))
    assert run_async(start_session(context), timeout_ms=30_000)
    yield context
    shutdown(context)


@pytest.fixture
def panel(qtbot, angel_ctx, run_async):
    panel = GttOrdersPanel(angel_ctx)
    qtbot.addWidget(panel)
    panel.resize(700, 360)
    panel.show()
    if panel.last_task is not None:
        run_async(panel.last_task)
    return panel


def _wait(run_async, task):
    assert task is not None
    return run_async(task, timeout_ms=15_000)


def _request(ctx, side=Side.BUY, price=None, trigger=0, quantity=3, product=Product.CNC):
    ltp = ctx.market.ltp(RELIANCE) or ctx.session.broker.quotes([RELIANCE])[0].ltp
    price = price if price is not None else ltp * 9 // 10 // 5 * 5
    order_type = OrderType.SL if trigger else OrderType.LIMIT
    return OrderRequest(ctx.account, RELIANCE, side, quantity, order_type, product, price=price,
                        trigger_price=trigger)


def test_only_brokers_with_gtt_methods_are_supported(angel_ctx):
    broker = angel_ctx.session.broker  # the session's guard around the AngelOneBroker: names pass through
    assert isinstance(getattr(broker, "inner", broker), AngelOneBroker) and supports_gtt(broker)
    assert not supports_gtt(PaperBroker(SimulatedExchange(seed=1)))


def test_create_from_the_order_entry_form_lists_the_rule(panel, angel_ctx, run_async, smartapi_sandbox):
    sandbox, _ = smartapi_sandbox
    request = _request(angel_ctx, trigger=0)
    panel.prefill(request)
    assert panel.trigger.paise() == panel.price.paise() == request.price  # no trigger: the limit price
    assert panel.quantity.value() == 3 and panel.side.currentText() == "BUY"
    panel.trigger.set_paise(request.price + 50)
    assert _wait(run_async, panel.save()) is True
    assert len(panel.model) == 1
    rule = panel.model.item(0)
    assert (rule.instrument_key, rule.quantity, rule.price, rule.trigger_price, rule.status) == (
        RELIANCE, 3, request.price, request.price + 50, "NEW")
    assert rule.rule_id in sandbox._gtt  # it is at the broker, not just in the table
    assert "1 open GTT rule" in panel.status_label.text()


def test_modify_then_cancel_the_selected_rule(panel, angel_ctx, run_async, qtbot):
    broker = angel_ctx.session.broker
    request = _request(angel_ctx)
    rule_id = broker.gtt_create(RELIANCE, Side.BUY, Product.CNC, 2, request.price, request.price + 100)
    _wait(run_async, panel.refresh())
    panel.table.select_row(0)
    qtbot.keyClick(panel.table, Qt.Key_Return)  # Enter on the row loads it into the form
    assert panel.editing.rule_id == rule_id and panel.save_button.text() == "Save changes"
    assert not panel.side.isEnabled()
    panel.quantity.setValue(5)
    panel.trigger.set_paise(request.price + 200)
    assert _wait(run_async, panel.save()) is True
    modified = broker.gtt_details(rule_id)
    assert (modified.quantity, modified.trigger_price, modified.price) == (5, request.price + 200, request.price)
    assert panel.editing is None and panel.save_button.text() == "Create GTT"

    panel.table.select_row(0)
    assert _wait(run_async, panel.cancel_selected()) is True
    assert broker.gtt_details(rule_id).status == "CANCELLED"
    assert panel.model.item(panel.model.row_for_key(rule_id)).status == "CANCELLED"
    panel.table.select_row(panel.model.row_for_key(rule_id))
    assert panel.cancel_selected() is None and "already CANCELLED" in panel.status_label.text()


def test_form_problems_are_shown_and_nothing_is_sent(panel, angel_ctx, run_async, smartapi_sandbox):
    sandbox, _ = smartapi_sandbox
    assert panel.save() is None  # no instrument yet
    assert "Choose an instrument" in panel.status_label.text()
    panel.prefill(_request(angel_ctx))
    panel.trigger.set_paise(0)
    assert panel.save() is None and "trigger price" in panel.status_label.text()
    assert sandbox._gtt == {}


def test_a_refusal_is_shown_not_swallowed(panel, angel_ctx, run_async):
    request = _request(angel_ctx)
    panel.prefill(request)
    panel.quantity.setValue(1)
    panel.price.set_paise(request.price)
    broker = angel_ctx.session.broker
    real = broker.gtt_create

    def refuse(*args, **kwargs):
        from terminal.brokers.base import BrokerError
        raise BrokerError("Invalid trigger price")

    broker.gtt_create = refuse
    try:
        assert _wait(run_async, panel.save()) is False
    finally:
        broker.gtt_create = real
    assert "Invalid trigger price" in panel.status_label.text()
    assert any("Invalid trigger price" in m.text for m in angel_ctx.messages.messages())


def test_selecting_an_instrument_in_the_market_watch_fills_a_new_rule(panel, angel_ctx, qtbot):
    angel_ctx.requests.instrument_selected.emit(RELIANCE)
    assert panel.instrument is not None and panel.instrument.key == RELIANCE
    assert "RELIANCE" in panel.symbol_label.text()


def test_panel_contract(panel):
    assert (GttOrdersPanel.panel_id, GttOrdersPanel.title) == ("gtt_orders", "GTT Orders")
    panel.focus_primary()
    assert panel.table.hasFocus() or panel.focusWidget() is panel.table


def test_a_broker_without_gtt_gets_a_clear_note(qtbot, ctx):
    panel = GttOrdersPanel(ctx)  # the paper broker keeps no GTT rules
    qtbot.addWidget(panel)
    assert not panel.available and panel.refresh() is None
    assert "does not keep GTT rules" in panel.status_label.text()
    assert not panel.save_button.isEnabled()
