"""Toasts for fills and rejections, and the progress tracker driven from worker threads."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtWidgets import QApplication, QMainWindow

from terminal.domain import Order, OrderStatus, OrderType, Product, Side, Validity
from terminal.services.messages import MessageLog
from terminal.services.portfolio_store import PortfolioStore
from terminal.storage.settings import Settings
from terminal.ui.notifications import MAX_TOASTS, Notifier
from terminal.services.progress import ProgressTracker
from terminal.ui.widgets.progress import ProgressIndicator

ACCOUNT = "paper:T1"


def order(order_id="1", status=OrderStatus.OPEN, filled=0, at=None, message="", average=0) -> Order:
    return Order(ACCOUNT, order_id, "NFO:1", "NIFTY25NOV24000CE", Side.BUY, 75, OrderType.LIMIT, Product.NRML,
                 Validity.DAY, status, price=10_000, filled_quantity=filled, average_price=average,
                 status_message=message, updated_at=at if at is not None else time.time())


@pytest.fixture
def window(qtbot):
    main = QMainWindow()
    main.resize(900, 600)
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    return main


@pytest.fixture
def setup(window, tmp_path):
    portfolio, messages = PortfolioStore(), MessageLog()
    settings = Settings(tmp_path / "settings.json")
    notifier = Notifier(window, portfolio, messages, settings, ACCOUNT)
    seen = []
    notifier.notified.connect(seen.append)
    return notifier, portfolio, messages, settings, seen


def test_fill_and_rejection_become_toasts(qtbot, setup, window, shots, dark_theme):
    notifier, portfolio, _messages, _settings, seen = setup
    portfolio.apply_orders([order("1"), order("2")])
    assert seen == []  # an order being placed is no news
    portfolio.apply_orders([order("1", OrderStatus.COMPLETE, 75, average=10_050)])
    portfolio.apply_orders([order("2", OrderStatus.REJECTED, message="RMS: margin exceeds")])
    assert [n.kind for n in seen] == ["fill", "rejected"]
    assert "100.50" in seen[0].text and "75 NIFTY25NOV24000CE" in seen[0].text
    assert "margin exceeds" in seen[1].text
    assert len(notifier.toasts) == 2 and all(t.isVisible() for t in notifier.toasts)
    window.grab().save(str(shots / "toasts.png"))
    # The same update again is not news.
    portfolio.apply_orders([order("1", OrderStatus.COMPLETE, 75, average=10_050, at=time.time() + 1)])
    assert len(seen) == 2


def test_partial_fills_are_told_as_they_grow(setup):
    _notifier, portfolio, _m, _s, seen = setup
    portfolio.apply_orders([order("1")])
    portfolio.apply_orders([order("1", OrderStatus.PARTIALLY_FILLED, 25)])
    portfolio.apply_orders([order("1", OrderStatus.PARTIALLY_FILLED, 50, at=time.time() + 1)])
    assert [n.text.split(" of")[0] for n in seen] == ["25", "50"]


def test_orders_done_before_start_are_not_toasted(setup):
    _notifier, portfolio, _m, _s, seen = setup
    portfolio.replace_orders(ACCOUNT, [order("9", OrderStatus.COMPLETE, 75, at=time.time() - 3600)])
    assert seen == []


def test_error_messages_toast_and_a_repeat_rejection_is_told_once(setup):
    _notifier, portfolio, messages, _s, seen = setup
    messages.info("Sent: buy 75")
    messages.error("Rejected: BUY 75 NIFTY: insufficient funds", "Add funds")
    portfolio.apply_orders([order("5", OrderStatus.REJECTED, message="insufficient funds")])
    assert [n.kind for n in seen] == ["error"]
    assert seen[0].title == "Rejected" and "Add funds" in seen[0].text


def test_toasts_close_on_their_own_and_stack_at_most_a_few(qtbot, setup):
    notifier, portfolio, _m, settings, seen = setup
    settings.set("notifications", {"seconds": 0.1})
    for i in range(MAX_TOASTS + 2):
        portfolio.apply_orders([order(str(i), OrderStatus.REJECTED, message=f"r{i}")])
    assert len(seen) == MAX_TOASTS + 2
    assert len(notifier.toasts) == MAX_TOASTS
    qtbot.waitUntil(lambda: not notifier.toasts, timeout=3000)


def test_toasts_can_be_turned_off_and_sound_beeps(setup, monkeypatch):
    notifier, portfolio, _m, settings, seen = setup
    beeps = []
    monkeypatch.setattr(QApplication, "beep", staticmethod(lambda: beeps.append(1)))
    settings.set("notifications", {"toasts": False, "sound": True})
    portfolio.apply_orders([order("1", OrderStatus.REJECTED)])
    assert len(seen) == 1 and notifier.toasts == [] and beeps == [1]


# --- progress ---------------------------------------------------------------------------------
def test_progress_from_a_worker_thread(qtbot):
    tracker = ProgressTracker()
    indicator = ProgressIndicator(tracker)
    qtbot.addWidget(indicator)

    def download():
        with tracker.track("Instrument master", 1000) as job:
            for done in range(0, 1001, 250):
                job.advance(done)
        tracker.finish(tracker.start("History NIFTY"), "timed out")

    worker = threading.Thread(target=download)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(indicator.jobs) == 2 and all(j.finished for j in indicator.jobs.values()))
    master, history = indicator.jobs.values()
    assert (master.done, master.total, master.failed) == (1000, 1000, "")
    assert history.failed == "timed out" and history.total == 0
    assert "timed out" in indicator.label.text()
    qtbot.waitUntil(lambda: not indicator.jobs and indicator.isHidden(), timeout=5000)


def test_progress_shows_the_latest_running_job(qtbot):
    tracker = ProgressTracker()
    indicator = ProgressIndicator(tracker)
    qtbot.addWidget(indicator)
    first = tracker.start("Instrument master", 200)
    second = tracker.start("History RELIANCE", 0)
    tracker.advance(first, 100)
    qtbot.waitUntil(lambda: first in indicator.jobs and indicator.jobs[first].done == 100)
    assert indicator.isVisible() and "History RELIANCE" in indicator.label.text()
    assert "+1 more" in indicator.label.text() and indicator.bar.maximum() == 0  # unknown size: busy
    tracker.finish(second)
    qtbot.waitUntil(lambda: "Instrument master 50%" in indicator.label.text())
    with pytest.raises(ValueError):
        tracker.start("bad", -1)


def test_tracked_job_reports_the_exception(qtbot):
    tracker = ProgressTracker()
    indicator = ProgressIndicator(tracker)
    qtbot.addWidget(indicator)
    with pytest.raises(ConnectionError):
        with tracker.track("Instrument master", 10):
            raise ConnectionError("scrip master unreachable")
    qtbot.waitUntil(lambda: any(j.failed for j in indicator.jobs.values()))
    assert "unreachable" in indicator.label.text()
