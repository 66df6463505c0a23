"""A chart as a trader opens it: from the market watch, live from the simulated feed."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from terminal.app import create_context, shutdown, start_session
from terminal.brokers.paper.broker import PaperBroker
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings
from terminal.ui.main_window import MainWindow

RELIANCE = "NSE:2885"


@pytest.fixture
def terminal(qtbot, run_async, tmp_path):
    context = create_context(PaperBroker(SimulatedExchange(seed=4, ticks_per_second=20)),
                             Settings(tmp_path / "settings.json"), OrderJournal(tmp_path / "j.db"))
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    assert run_async(start_session(context))
    yield window, context
    shutdown(context)


def test_ctrl_g_opens_a_chart_whose_forming_bar_moves_with_the_feed(qtbot, terminal):
    window, context = terminal
    watch = window.panels["market_watch"]
    qtbot.waitUntil(lambda: RELIANCE in watch.keys(), timeout=5_000)
    watch.select_key(RELIANCE)
    watch.table.setFocus()
    qtbot.keyClick(watch.table, Qt.Key_G, Qt.ControlModifier)

    chart = window.charts.charts.get(RELIANCE)
    assert chart is not None and window.charts.docks[RELIANCE].isVisible()
    qtbot.waitUntil(lambda: len(chart.bars) > 1000, timeout=15_000)  # a month of history arrived
    assert RELIANCE in context.session.feed.subscribed()

    chart.setFocus()
    qtbot.keyClick(chart, Qt.Key_1)  # 1-minute bars: the forming bar is the live minute
    assert chart.timeframe == 1
    first = chart.bars.last()
    qtbot.waitUntil(lambda: chart.bars.last() != first, timeout=20_000)
    last = chart.bars.last()
    assert last.start >= first.start
    tick = context.market.tick(RELIANCE)
    assert last.low <= tick.ltp <= last.high or last.start > first.start


def test_the_open_chart_comes_back_after_a_restart(qtbot, run_async, tmp_path):
    settings_path = tmp_path / "settings.json"
    contexts = []

    def start():
        context = create_context(PaperBroker(SimulatedExchange(seed=4)), Settings(settings_path),
                                 OrderJournal(tmp_path / f"j{len(contexts)}.db"))
        window = MainWindow(context)
        qtbot.addWidget(window)
        window.show()
        assert run_async(start_session(context))
        contexts.append(context)
        return window, context

    try:
        window, context = start()
        window.charts.open(RELIANCE)
        window.charts.charts[RELIANCE].set_timeframe(15)
        window.close()
        context.settings.flush()
        again, _ = start()
        qtbot.waitUntil(lambda: RELIANCE in again.charts.charts, timeout=10_000)
        assert again.charts.charts[RELIANCE].timeframe == 15
    finally:
        for context in contexts:
            shutdown(context)
