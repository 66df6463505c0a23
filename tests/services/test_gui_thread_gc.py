"""Qt objects dropped in a reference cycle are destroyed on the GUI thread, never by a worker's allocations.

CPython collects cycles on whichever thread crosses its allocation threshold. Before the GUI-thread
collector, a feed or pool thread freed dropped services there; their Qt timers stayed registered
with the GUI thread and the next tick crashed the process (SIGSEGV in QTimerInfoList::activateTimers).
"""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject, QTimer

from terminal.services.gui_thread_gc import collect_on_gui_thread


class CountdownLike(QObject):
    """Like a SessionLifecycle: a Qt object owning a timer, kept in a cycle by its own callbacks."""

    def __init__(self):
        super().__init__()
        self.timer = QTimer(self, interval=1000)
        self.listeners = [lambda: self]  # the cycle: only the cycle collector can free it


def churn_cycles(count: int = 50_000) -> None:
    """A busy worker thread: allocations far past Python's collection threshold."""
    kept = []
    for _ in range(count):
        node: list = []
        node.append(node)
        kept.append(node)


def test_a_busy_worker_thread_never_frees_qt_objects_the_gui_thread_does(qtbot):
    collector = collect_on_gui_thread()
    assert collect_on_gui_thread() is collector  # one per process
    freed_on: list[str] = []
    dropped = CountdownLike()
    weakref.finalize(dropped, lambda: freed_on.append(threading.current_thread().name))
    del dropped

    worker = threading.Thread(target=churn_cycles, name="feed-like")
    worker.start()
    worker.join()
    assert freed_on == []  # the worker crossed the threshold many times and collected nothing
    assert not gc.isenabled()

    qtbot.waitUntil(lambda: bool(freed_on), timeout=10_000)
    assert freed_on == [threading.main_thread().name]


def test_collection_switched_back_on_by_a_library_is_switched_off_again(qtbot):
    collector = collect_on_gui_thread()
    gc.enable()  # as timeit does after timing
    try:
        churn_cycles(2_000)  # past the first threshold: a check is due
        collector.collect_due()
        assert not gc.isenabled()
    finally:
        gc.disable()


def test_a_check_from_another_thread_collects_nothing(qtbot):
    collector = collect_on_gui_thread()
    churn_cycles(5_000)
    answers = []
    worker = threading.Thread(target=lambda: answers.append(collector.collect_due()))
    worker.start()
    worker.join()
    assert answers == [None]
    assert collector.collect_due() is not None  # the same check on the GUI thread collects


def test_settle_freezes_the_heap_and_full_collections_are_rationed(qtbot, monkeypatch):
    """A full collection walks every tracked object (~55 ms with the window up): after login the
    heap is frozen, and Python's one-a-second requests for a full one under load are rationed."""
    import time

    from terminal.services import gui_thread_gc

    collector = collect_on_gui_thread()
    try:
        collector.settle()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of the suite collects as before
    monkeypatch.setattr(collector, "_thresholds", (10, 1, 1))

    def due_with_pressure() -> int | None:
        collector._young, collector._middle = 5, 5  # Python would go for a full collection now
        kept = [[] for _ in range(200)]  # allocations past the first threshold
        generation = collector.collect_due()
        del kept
        return generation

    collector._last_full = time.monotonic()
    assert due_with_pressure() == 1  # a full one ran moments ago: the middle one instead
    collector._last_full = time.monotonic() - gui_thread_gc.FULL_COLLECTION_MIN_S - 1
    assert due_with_pressure() == 2
    assert due_with_pressure() == 1
