"""Test set-up shared by every test: no display, no real keyring, no files outside tmp."""

from __future__ import annotations

import asyncio
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Settings, journal and logs go to a fresh folder for every test."""
    monkeypatch.setenv("TRADING_TERMINAL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(autouse=True)
def no_feed_outlives_its_test():
    """A feed thread left running would deliver into the next test's deleted widgets."""
    yield
    from terminal.services.feed_worker import stop_all_workers

    stop_all_workers()


@pytest.fixture(autouse=True, scope="session")
def gui_thread_collection(qapp):
    """Cycles are collected on the GUI thread only, as in the terminal (terminal.app.main).

    Without this, a later test's feed, pool or sandbox thread collects an earlier test's dropped
    services; a Qt timer among them (a SessionLifecycle's countdown) stays registered with the GUI
    thread and the next tick crashes the run (SIGSEGV in QTimerInfoList::activateTimers).
    """
    from terminal.services.gui_thread_gc import collect_on_gui_thread

    yield collect_on_gui_thread()


@pytest.fixture(autouse=True)
def collect_after_each_test(gui_thread_collection):
    """A test that never spins Qt still has its cycles collected (on this, the GUI thread)."""
    yield
    gui_thread_collection.collect_due()


@pytest.fixture(autouse=True, scope="session")
def memory_keyring():
    """Secrets live in memory for the whole run: no test writes to the machine's keyring."""
    import keyring

    from terminal.storage.memory_keyring import MemoryKeyring

    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def event_loop_qt(qapp):
    """A qasync loop that counts as running while the test spins Qt (qtbot.wait, waitUntil)."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    qapp.processEvents()
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@pytest.fixture
def run_async(qtbot, event_loop_qt):
    """run_async(coro) runs a coroutine on the qasync loop while Qt spins, and returns its result."""

    def run(coro, timeout_ms: int = 10_000):
        task = asyncio.ensure_future(coro)
        qtbot.waitUntil(task.done, timeout=timeout_ms)
        return task.result()

    return run
