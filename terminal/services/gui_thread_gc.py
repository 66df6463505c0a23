"""Python's cycle collector, run on the GUI thread only.

CPython collects reference cycles on whichever thread happens to cross the allocation threshold;
in this terminal that is mostly a feed, broker-call or socket thread. A Qt object freed there is
destroyed off its own thread: Qt refuses to stop its timers ("Timers cannot be stopped from
another thread"), they stay registered with the GUI thread's event dispatcher, and the next one
that falls due is delivered to freed memory (SIGSEGV in QTimerInfoList::activateTimers).
So automatic collection is switched off and a GUI-thread timer collects instead, as often as
Python's own thresholds would have (pyqtgraph's GarbageCollector does the same for this reason).

A full collection walks every tracked object: ~55 ms on the GUI thread once the main window and a
session are up (about 100,000 objects here), a stall a trader would feel. So once the session is
ready, :meth:`GuiThreadCollector.settle` collects once and freezes what exists (``gc.freeze``:
the long-lived heap is never walked again; a full collection drops to about half a millisecond),
and full collections run at most once every FULL_COLLECTION_MIN_S.
"""

from __future__ import annotations

import gc
import logging
import time

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 1000
FULL_COLLECTION_MIN_S = 30.0  # Python may ask for one every second under a heavy feed

_installed: GuiThreadCollector | None = None


class GuiThreadCollector(QObject):
    """Collects cycles from a timer on the thread it lives in (the GUI thread); see the module doc."""

    def __init__(self, interval_ms: int = CHECK_INTERVAL_MS, parent: QObject | None = None):
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._young = 0  # generation-0 collections Python would have run since the last older one
        self._middle = 0  # generation-1 collections likewise, since the last full one
        self._last_full = time.monotonic()
        gc.disable()
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def collect_due(self) -> int | None:
        """Collect the oldest generation Python would have reached by now; its number, or None."""
        if QThread.currentThread() is not self.thread():
            return None  # called from elsewhere: never collect off the GUI thread
        if gc.isenabled():  # something (timeit, a library) switched automatic collection back on
            gc.disable()
        allocated = gc.get_count()[0]
        first, second, third = self._thresholds
        if first <= 0 or allocated <= first:
            return None
        self._young += allocated // first
        if self._young <= second:
            generation = 0
        else:
            self._middle += self._young // (second + 1)
            self._young = 0
            generation = 1 if self._middle <= third else 2
            if generation == 2 and time.monotonic() - self._last_full < FULL_COLLECTION_MIN_S:
                generation = 1  # not yet: the middle count keeps growing and asks again later
            if generation == 2:
                self._middle = 0
                self._last_full = time.monotonic()
        gc.collect(generation)
        return generation

    def settle(self) -> None:
        """Once the long-lived heap is built (session ready): collect once, then freeze it, so later
        full collections walk only what came after. Call on the GUI thread."""
        if QThread.currentThread() is not self.thread():
            return
        gc.collect()
        gc.freeze()
        self._middle = 0
        self._last_full = time.monotonic()
        log.debug("long-lived heap frozen: %d objects", gc.get_freeze_count())

    def stop(self) -> None:
        """Back to Python's automatic collection (any thread)."""
        global _installed
        self._timer.stop()
        gc.enable()
        if _installed is self:
            _installed = None


def collect_on_gui_thread() -> GuiThreadCollector:
    """Switch the process to GUI-thread collection (once; later calls return the same collector).

    Call on the GUI thread after the QApplication exists; the collector is the application's child.
    """
    global _installed
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("collect_on_gui_thread needs a QApplication")
    if _installed is None:
        _installed = GuiThreadCollector(parent=app)
        log.debug("cycle collection moved to the GUI thread (thresholds %s)", gc.get_threshold())
    return _installed
