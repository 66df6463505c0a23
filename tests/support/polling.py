"""Waiting for something another thread does (a feed, a sandbox), by polling with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(predicate: Callable[[], T], timeout: float, interval: float,
         pause: Callable[[float], object] = time.sleep) -> T:
    """Call ``predicate`` until it returns something truthy, and return that; after ``timeout``
    seconds return its last (falsy) answer. ``pause(seconds)`` waits between calls, at most
    ``interval`` seconds (a sink passes one that also wakes when something arrives)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        left = deadline - time.monotonic()
        if value or left <= 0:
            return value
        pause(min(interval, left))


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.02) -> T:
    """``predicate``'s first truthy answer within ``timeout`` seconds; fail the test otherwise."""
    value = poll(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"condition not met within {timeout} s")
    return value
