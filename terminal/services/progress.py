"""Progress of long work (instrument master download and indexing, history loads).

``ProgressTracker`` is a QObject that services drive from any thread through ``start``,
``advance`` and ``finish``: each call emits a signal, and Qt queues it to the UI thread, so a
worker never touches a widget. A ``total`` of 0 means "size unknown" (a busy bar), e.g. a
download without Content-Length. The status-bar widget is terminal.ui.widgets.progress.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal


@dataclass
class Job:
    job_id: int
    label: str
    total: int  # units of work (bytes, instruments, days); 0 = unknown
    done: int = 0
    finished: bool = False
    failed: str = ""


class ProgressTracker(QObject):
    """Thread-safe: call from any thread. Signals arrive in the UI thread."""

    started = Signal(int, str, int)  # job id, label, total
    advanced = Signal(int, int, str)  # job id, done so far, label ("" = unchanged)
    finished = Signal(int, str)  # job id, error text ("" = success)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, label: str, total: int = 0) -> int:
        """A new job of ``total`` units; returns its id for advance/finish."""
        if total < 0:
            raise ValueError("total must be 0 (unknown) or a positive number of units")
        with self._lock:
            job_id = next(self._ids)
        self.started.emit(job_id, label, int(total))
        return job_id

    def advance(self, job_id: int, done: int, label: str = "") -> None:
        """``done`` units finished so far (not a step): repeated calls are harmless."""
        self.advanced.emit(job_id, int(done), label)

    def finish(self, job_id: int, error: str = "") -> None:
        self.finished.emit(job_id, error)

    def track(self, label: str, total: int = 0) -> "_Tracked":
        """``with tracker.track("Instrument master", n) as job: job.advance(i)``; failures are reported."""
        return _Tracked(self, label, total)


class _Tracked:
    def __init__(self, tracker: ProgressTracker, label: str, total: int):
        self.tracker, self.label, self.total = tracker, label, total
        self.job_id = 0

    def __enter__(self) -> "_Tracked":
        self.job_id = self.tracker.start(self.label, self.total)
        return self

    def advance(self, done: int, label: str = "") -> None:
        self.tracker.advance(self.job_id, done, label)

    def __exit__(self, exc_type, exc, _tb) -> bool:
        self.tracker.finish(self.job_id, f"{exc}" if exc is not None else "")
        return False
