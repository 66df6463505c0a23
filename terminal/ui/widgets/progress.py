"""The status-bar widget that shows long work: one bar for the most recent job, its label, and
how many others are running. The jobs come from terminal.services.progress.ProgressTracker.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from terminal.services.progress import Job, ProgressTracker

HIDE_AFTER_MS = 1500  # a finished job's "done" stays readable this long


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
