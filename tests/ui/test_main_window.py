"""The terminal as a trader uses it: the whole app on the simulated exchange, driven by keys."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from terminal.app import create_context, shutdown, start_session
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderStatus
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings
from terminal.ui.main_window import MainWindow

RELIANCE = "NSE:2885"


@pytest.fixture
def settings_path(tmp_path):
    return tmp_path / "settings.json"


@pytest.fixture
def terminal_app(qtbot, run_async, settings_path, tmp_path):
    """Start the whole terminal; returns a function so a test can restart it on the same settings."""
    started = []

    def start():
        exchange = SimulatedExchange(seed=11, ticks_per_second=10)
        settings = Settings(settings_path)
        context = create_context(PaperBroker(exchange), settings, OrderJournal(tmp_path / f"j{len(started)}.db"))
        window = MainWindow(context)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        assert run_async(start_session(context))
        started.append((window, context))
        return window, context

    yield start
    for window, context in started:
        shutdown(context)


def select_in_watch(qtbot, window, key):
    watch = window.panels["market_watch"]
    qtbot.waitUntil(lambda: key in watch.keys(), timeout=5_000)
    watch.select_key(key)
    watch.table.setFocus()
    return watch


def test_f1_then_enter_buys_and_the_position_mtm_moves(qtbot, terminal_app):
    window, context = terminal_app()
    watch = select_in_watch(qtbot, window, RELIANCE)
    qtbot.waitUntil(lambda: context.market.tick(RELIANCE) is not None, timeout=5_000)

    qtbot.keyClick(watch.table, Qt.Key_F1)
    entry = window.panels["order_entry"]
    assert window.docks["order_entry"].isVisible()
    assert entry.instrument is not None and entry.instrument.key == RELIANCE
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Return)  # the price is the best ask: marketable

    qtbot.waitUntil(lambda: any(o.instrument_key == RELIANCE and o.status is OrderStatus.COMPLETE
                                for o in context.portfolio.orders()), timeout=10_000)
    book = window.panels["order_book"]
    qtbot.waitUntil(lambda: any(o.instrument_key == RELIANCE for o in book.completed_model.rows()), timeout=5_000)

    positions = window.panels["positions"]
    qtbot.waitUntil(lambda: any(p.instrument_key == RELIANCE and p.net_quantity == 1
                                for p in context.portfolio.positions()), timeout=10_000)
    position = next(p for p in context.portfolio.positions() if p.instrument_key == RELIANCE)
    seen = set()
    qtbot.waitUntil(lambda: seen.add(positions.mtm(position)) or len(seen) >= 3, timeout=15_000)
    # The status bar's MTM moves with the same batches: it never disagrees with the panel's total.
    from terminal.domain.money import format_rupees
    for _ in range(3):
        with qtbot.waitSignal(context.market.ticks_updated, timeout=5_000):
            pass
        assert format_rupees(positions.total_mtm(), signed=True) in window._mtm_label.text()


def test_a_rebound_hotkey_works_and_survives_a_restart(qtbot, terminal_app):
    window, context = terminal_app()
    bindings = window.current_bindings()
    bindings["buy"] = "Ctrl+B"
    window.apply_bindings(bindings)
    watch = select_in_watch(qtbot, window, RELIANCE)

    window.docks["order_entry"].hide()
    qtbot.keyClick(watch.table, Qt.Key_F1)
    assert not window.docks["order_entry"].isVisible()  # F1 no longer buys
    qtbot.keyClick(watch.table, Qt.Key_B, Qt.ControlModifier)
    assert window.docks["order_entry"].isVisible()

    context.settings.flush()
    window.close()
    again, _ = terminal_app()
    assert again.actions_by_id["buy"].shortcut().toString() == "Ctrl+B"


def test_the_layout_is_as_it_was_left_on_the_next_start(qtbot, terminal_app):
    window, context = terminal_app()
    window.docks["funds"].hide()
    window.docks["market_depth"].setFloating(True)
    window.close()  # saves the layout
    context.settings.flush()

    again, _ = terminal_app()
    assert not again.docks["funds"].isVisible()
    assert again.docks["market_depth"].isFloating()
    again.reset_layout()
    assert again.docks["funds"].isVisible() and not again.docks["market_depth"].isFloating()


def test_escape_closes_the_order_entry(qtbot, terminal_app):
    window, _ = terminal_app()
    watch = select_in_watch(qtbot, window, RELIANCE)
    qtbot.keyClick(watch.table, Qt.Key_F2)
    assert window.panels["order_entry"].side.value == "SELL"
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Escape)
    assert not window.docks["order_entry"].isVisible()


def test_the_ui_thread_gets_batches_not_ticks(qtbot, terminal_app):
    window, context = terminal_app()
    batches = []
    context.session.feed.batch_ready.connect(lambda batch: batches.append(batch.tick_count))
    qtbot.waitUntil(lambda: sum(batches) > 300, timeout=15_000)
    assert len(batches) < sum(batches) / 3


def test_a_stalled_instrument_is_marked_in_the_market_watch(qtbot, terminal_app):
    window, context = terminal_app()
    watch = select_in_watch(qtbot, window, RELIANCE)
    row = watch.model.row_for_key(RELIANCE)
    symbol = watch.model.index(row, 0)
    assert not watch.model.data(symbol).startswith("⏸")
    context.feed_health.stale_changed.emit(frozenset({RELIANCE}))
    assert watch.model.data(symbol).startswith("⏸")
    assert "no ticks lately" in watch.model.data(symbol, Qt.ToolTipRole)
    context.feed_health.stale_changed.emit(frozenset())
    assert not watch.model.data(symbol).startswith("⏸")


def test_the_kill_switch_hotkey_asks_then_locks_entries(qtbot, terminal_app, run_async):
    window, context = terminal_app()
    questions = []

    async def answer_yes(text):
        questions.append(text)
        return True

    context.orders.confirm = answer_yes
    window.actions_by_id["kill_switch"].trigger()
    qtbot.waitUntil(lambda: context.kill_switch.is_locked, timeout=10_000)
    assert questions
    qtbot.waitUntil(lambda: "LOCKED" in window._lock_label.text(), timeout=5_000)
