"""Progress of long work (instrument master download and indexing, history loads).

``ProgressTracker`` is a QObject that services drive from any thread through ``start``,
``advance`` and ``finish``: each call emits a signal, and Qt queues it to the UI thread, so a
worker never touches a widget. ``ProgressIndicator`` is the status-bar widget that shows the
jobs: one bar for the most recent job, its label, and how many others are running.
A ``total`` of 0 means "size unknown" (a busy bar), e.g. a download without Content-Length.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

HIDE_AFTER_MS = 1500  # a finished job's "done" stays readable this long


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


class ProgressIndicator(QWidget):
    """Status-bar widget: the latest running job's label and bar; hidden when nothing runs."""

    def __init__(self, tracker: ProgressTracker, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs: dict[int, Job] = {}
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(160)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.hide()
        tracker.started.connect(self.on_started, Qt.QueuedConnection)
        tracker.advanced.connect(self.on_advanced, Qt.QueuedConnection)
        tracker.finished.connect(self.on_finished, Qt.QueuedConnection)

    @Slot(int, str, int)
    def on_started(self, job_id: int, label: str, total: int) -> None:
        self.jobs[job_id] = Job(job_id, label, total)
        self._show()

    @Slot(int, int, str)
    def on_advanced(self, job_id: int, done: int, label: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.finished:
            return
        job.done = max(0, done)
        if label:
            job.label = label
        self._show()

    @Slot(int, str)
    def on_finished(self, job_id: int, error: str) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        job.finished, job.failed = True, error
        if job.total:
            job.done = job.total if not error else job.done
        self._show()
        QTimer.singleShot(HIDE_AFTER_MS, self, lambda: self._drop(job_id))  # dies with the widget

    def _drop(self, job_id: int) -> None:
        self.jobs.pop(job_id, None)
        self._show()

    def running(self) -> list[Job]:
        return [job for job in self.jobs.values() if not job.finished]

    def _show(self) -> None:
        if not self.jobs:
            self.hide()
            return
        running = self.running()
        job = running[-1] if running else list(self.jobs.values())[-1]
        if job.total:
            self.bar.setRange(0, job.total)
            self.bar.setValue(min(job.done, job.total))
            percent = f" {100 * min(job.done, job.total) // job.total}%"
        else:
            self.bar.setRange(0, 0 if not job.finished else 1)  # busy bar while the size is unknown
            self.bar.setValue(1 if job.finished else 0)
            percent = ""
        state = f" failed: {job.failed}" if job.failed else (" done" if job.finished else percent)
        others = len(running) - (1 if job in running else 0)
        self.label.setText(f"{job.label}{state}" + (f" (+{others} more)" if others > 0 else ""))
        self.show()
