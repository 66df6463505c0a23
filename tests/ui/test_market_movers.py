"""Market movers panel over an AngelOneBroker logged in to the loopback SmartAPI sandbox.

The context is the terminal's own (create_context, start_session); the sandbox computes the
lists from its simulated market, so each test compares the panel's rows with what the broker
answers for the same question.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from terminal.app import create_broker, create_context, shutdown, start_session
from terminal.brokers.base import BrokerError
from terminal.brokers.paper.broker import PaperBroker
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings
from terminal.ui.panels.market_movers import MarketMoversPanel, supports_market_movers


@pytest.fixture
def angel_ctx(qtbot, run_async, tmp_path):
    from terminal.sim.servers.smartapi import SmartApiSandbox

    server = SmartApiSandbox(seed=5)
    info = server.start()
    broker = create_broker("angelone", Settings(tmp_path / "s.json"), sandbox=info)
    context = create_context(broker, Settings(tmp_path / "settings.json"), OrderJournal(tmp_path / "j.db"))
    try:
        assert run_async(start_session(context), timeout_ms=30_000)
        yield context
    finally:
        shutdown(context)
        server.stop()


@pytest.fixture
def panel(qtbot, angel_ctx, run_async):
    panel = MarketMoversPanel(angel_ctx)
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    assert run_async(panel.last_task, timeout_ms=15_000) is True
    return panel


def _rows(panel):
    return [panel.model.item(i) for i in range(len(panel.model))]


def test_opens_on_top_gainers_as_the_broker_ranks_them(panel, angel_ctx):
    assert panel.view.title == "Top gainers (price %)" and panel.expiry == "NEAR"
    expected = angel_ctx.session.broker.gainers_losers("PercPriceGainers", "NEAR")
    # the market moves between the panel's call and this one: the same contracts, best first
    assert expected and {r.trading_symbol for r in _rows(panel)} == {m.trading_symbol for m in expected}
    changes = [r.percent_change for r in _rows(panel)]
    assert changes == sorted(changes, reverse=True)
    assert [c.header for c in panel.model.columns] == ["Symbol", "Change %", "OI", "OI change"]
    assert f"{len(expected)} contract" in panel.status_label.text()


@pytest.mark.parametrize("title, method, datatype", [
    ("Top losers (price %)", "gainers_losers", "PercPriceLosers"),
    ("OI gainers (%)", "gainers_losers", "PercOIGainers"),
    ("Long build-up", "oi_buildup", "Long Built Up"),
    ("Short covering", "oi_buildup", "Short Covering"),
])
def test_each_list_and_expiry_asks_the_broker(panel, angel_ctx, run_async, title, method, datatype):
    panel.show_view(title, "NEXT")
    assert run_async(panel.last_task, timeout_ms=15_000) is True
    expected = getattr(angel_ctx.session.broker, method)(datatype, "NEXT")
    assert {r.trading_symbol for r in _rows(panel)} == {m.trading_symbol for m in expected}
    near = {m.trading_symbol for m in getattr(angel_ctx.session.broker, method)(datatype, "NEAR")}
    assert not (near and expected) or near.isdisjoint(r.trading_symbol for r in _rows(panel))  # next month's
    if method == "oi_buildup":
        assert [c.header for c in panel.model.columns][:3] == ["Symbol", "LTP", "Change"]


def test_put_call_ratio_has_no_expiry(panel, angel_ctx, run_async):
    panel.show_view("Put-call ratio")
    assert run_async(panel.last_task, timeout_ms=15_000) is True
    assert not panel.expiry_box.isEnabled()
    expected = {p.trading_symbol: p.pcr for p in angel_ctx.session.broker.put_call_ratio()}
    assert expected and {r.trading_symbol for r in _rows(panel)} == set(expected)
    assert [c.header for c in panel.model.columns] == ["Symbol", "PCR"]


def test_enter_on_a_row_selects_that_contract(panel, angel_ctx, qtbot):
    assert len(panel.model) > 0
    panel.table.select_row(0)
    with qtbot.waitSignal(angel_ctx.requests.instrument_selected, timeout=2000) as selected:
        qtbot.keyClick(panel.table, Qt.Key_Return)
    instrument = angel_ctx.market.instrument(selected.args[0])
    assert instrument is not None and instrument.trading_symbol == panel.model.item(0).trading_symbol


def test_a_refusal_is_shown_and_the_panel_lives_on(panel, angel_ctx, run_async, monkeypatch):
    def refuse(*_args):
        raise BrokerError("Access denied because of exceeding access rate")

    monkeypatch.setattr(angel_ctx.session.broker, "gainers_losers", refuse)
    assert run_async(panel.refresh(), timeout_ms=15_000) is False
    assert "exceeding access rate" in panel.status_label.text()
    monkeypatch.undo()
    assert run_async(panel.refresh(), timeout_ms=15_000) is True


def test_panel_contract_and_a_broker_without_movers(qtbot, ctx, panel):
    assert (MarketMoversPanel.panel_id, MarketMoversPanel.title) == ("market_movers", "Market Movers")
    panel.focus_primary()
    assert panel.table.hasFocus()
    assert not supports_market_movers(PaperBroker(SimulatedExchange(seed=1)))
    paper = MarketMoversPanel(ctx)
    qtbot.addWidget(paper)
    assert not paper.available and paper.refresh() is None and not paper.refresh_button.isEnabled()
    assert "does not publish market movers" in paper.status_label.text()
