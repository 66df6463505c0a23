"""Named workspaces on the real main window (simulated exchange), and the layout autosave."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QMenu

from terminal.app import create_context, start_session
from terminal.brokers.paper.broker import PaperBroker
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings
from terminal.ui.main_window import MainWindow
from terminal.ui.workspaces import LayoutAutosave, Workspaces, WorkspaceError

RELIANCE, TCS = "NSE:2885", "NSE:11536"


@pytest.fixture
def open_terminal(qtbot, run_async, tmp_path):
    started = []

    def start():
        settings = Settings(tmp_path / "settings.json")
        context = create_context(PaperBroker(SimulatedExchange(seed=3, ticks_per_second=5)), settings,
                                 OrderJournal(tmp_path / f"j{len(started)}.db"))
        window = MainWindow(context)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        assert run_async(start_session(context))
        started.append(context)
        return window, context

    yield start
    for context in started:
        health = getattr(context, "feed_health", None)
        if health is not None:
            health.stop()  # its timer would spawn checks into later tests, which have no event loop
        context.session.stop()
        context.runner.shutdown()
        context.orders.journal.close()


def test_save_switch_delete_and_find_it_after_restart(qtbot, open_terminal):
    window, context = open_terminal()
    spaces = Workspaces(window, context.settings)
    watch = window.panels["market_watch"]
    assert spaces.save("Options") == "Options"
    # Arrange a second workspace: a chart, a shorter watchlist, the funds dock hidden.
    window.charts.open(RELIANCE)
    for key in [k for k in watch.keys() if k not in (RELIANCE, TCS)]:
        watch.remove_instrument(key)
    window.docks["funds"].hide()
    spaces.save("Cash")
    assert spaces.names() == ["Cash", "Options"] and spaces.current() == "Cash"

    spaces.switch("Options")
    assert spaces.current() == "Options"
    assert RELIANCE not in window.charts.charts
    assert len(watch.keys()) > 2
    qtbot.waitUntil(lambda: window.docks["funds"].isVisible())

    with qtbot.waitSignal(spaces.switched) as switched:
        spaces.switch("Cash")
    assert switched.args == ["Cash"]
    assert set(watch.keys()) == {RELIANCE, TCS}
    assert RELIANCE in window.charts.charts
    assert not window.docks["funds"].isVisible()

    with pytest.raises(WorkspaceError):
        spaces.delete("Cash")  # the one in use
    spaces.delete("Options")
    assert spaces.names() == ["Cash"]
    with pytest.raises(WorkspaceError):
        spaces.switch("Options")

    context.settings.flush()
    stored = json.loads(context.settings.path.read_text(encoding="utf-8"))
    assert stored["workspace"] == "Cash" and list(stored["workspaces"]) == ["Cash"]
    assert set(stored["workspaces"]["Cash"]["watchlist"]) == {RELIANCE, TCS}
    assert [c["instrument_key"] for c in stored["workspaces"]["Cash"]["charts"]] == [RELIANCE]


def test_switching_keeps_what_was_arranged_in_the_workspace_left(qtbot, open_terminal):
    window, context = open_terminal()
    spaces = Workspaces(window, context.settings)
    spaces.save("A")
    spaces.save("B")
    window.panels["market_watch"].remove_instrument(RELIANCE)  # changed in B, not saved by hand
    spaces.switch("A")
    assert RELIANCE in window.panels["market_watch"].keys()
    assert RELIANCE not in context.settings.get("workspaces")["B"]["watchlist"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 41])
def test_bad_names_are_refused(qtbot, open_terminal, name):
    window, context = open_terminal()
    with pytest.raises(WorkspaceError):
        Workspaces(window, context.settings).save(name)


def test_menu_lists_workspaces_and_switches(qtbot, open_terminal):
    window, context = open_terminal()
    spaces = Workspaces(window, context.settings)
    spaces.save("Intraday")
    spaces.save("Positional")
    menu = QMenu(window)
    spaces.fill_menu(menu)
    entries = {a.text(): a for a in menu.actions() if a.text()}
    assert {"Intraday", "Positional", "Save workspace", "Save workspace as…", "Delete workspace…"} <= set(entries)
    assert entries["Positional"].isChecked()
    entries["Intraday"].trigger()
    assert spaces.current() == "Intraday"


def test_autosave_writes_the_layout_periodically(qtbot, tmp_path):
    settings = Settings(tmp_path / "settings.json")
    calls = []

    def save_layout():
        calls.append(1)
        settings.set("layout", {"state": f"v{len(calls)}"})
        settings.save()

    autosave = LayoutAutosave(save_layout, seconds=0.05)
    with qtbot.waitSignal(autosave.saved, timeout=2000):
        pass
    qtbot.waitUntil(lambda: len(calls) >= 2, timeout=2000)
    autosave.stop()
    settings.flush()
    assert json.loads(settings.path.read_text())["layout"]["state"].startswith("v")


def test_autosave_survives_a_failing_save(qtbot):
    def broken():
        raise OSError("disk full")

    autosave = LayoutAutosave(broken, seconds=0.02)
    with qtbot.assertNotEmitted(autosave.saved, wait=100):
        pass
    assert autosave.timer.isActive()
    autosave.stop()
    with pytest.raises(ValueError):
        LayoutAutosave(broken, seconds=0)


def test_window_layout_autosave_with_the_main_window(qtbot, open_terminal):
    window, context = open_terminal()
    autosave = LayoutAutosave(window.save_layout, seconds=0.05, parent=window)
    window.docks["trade_book"].setFloating(False)
    with qtbot.waitSignal(autosave.saved, timeout=2000):
        pass
    autosave.stop()
    context.settings.flush()
    stored = json.loads(context.settings.path.read_text(encoding="utf-8"))
    assert stored["layout"]["state"]
