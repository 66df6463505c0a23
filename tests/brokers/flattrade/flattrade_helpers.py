"""Helpers for the Flattrade tests: a recording FeedSink, polling, the test 'browser'."""

from __future__ import annotations

import socket
import threading
import time

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def follow_in_background(url: str) -> None:
    """The 'browser': GET the auto-approving login page and follow its redirect to the listener."""
    threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 5}, daemon=True).start()


class RecordingSink:
    """A FeedSink that keeps everything, for assertions from the test thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ticks, self.orders, self.trades, self.states = [], [], [], []

    def on_ticks(self, ticks):
        with self.lock:
            self.ticks.extend(ticks)

    def on_order_update(self, order):
        with self.lock:
            self.orders.append(order)

    def on_trade(self, trade):
        with self.lock:
            self.trades.append(trade)

    def on_feed_state(self, state, message=""):
        with self.lock:
            self.states.append((state, message))


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
