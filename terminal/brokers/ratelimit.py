"""Client-side rate limits: sliding windows (per second and per minute) per endpoint group.

A call that would break a window waits for its turn instead of failing: a burst of orders is
queued and paced, never dropped. ``waiting`` tells the UI how many calls are queued.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_second: int | None = None, per_minute: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.windows = [(limit, span) for limit, span in ((per_second, 1.0), (per_minute, 60.0)) if limit]
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waiting = 0

    def _delay(self, now: float) -> float:
        """Seconds until one more call fits every window (0 if it fits now)."""
        longest = max((span for _, span in self.windows), default=0.0)
        while self._calls and self._calls[0] <= now - longest:
            self._calls.popleft()
        delay = 0.0
        for limit, span in self.windows:
            recent = [t for t in self._calls if t > now - span]
            if len(recent) >= limit:
                delay = max(delay, recent[-limit] + span - now)
        return delay

    def acquire(self) -> float:
        """Block until the call may go; returns how long it waited (seconds)."""
        waited = 0.0
        with self._lock:
            self.waiting += 1
        try:
            while True:
                with self._lock:
                    now = self._clock()
                    delay = self._delay(now)
                    if delay <= 0:
                        self._calls.append(now)
                        return waited
                self._sleep(delay)
                waited += delay
        finally:
            with self._lock:
                self.waiting -= 1


class RateLimits:
    """Named limiters for a broker's endpoint groups ("orders", "quotes", ...)."""

    def __init__(self, groups: dict[str, tuple[int | None, int | None]], **kwargs):
        self._limiters = {name: RateLimiter(ps, pm, **kwargs) for name, (ps, pm) in groups.items()}

    def acquire(self, group: str) -> float:
        limiter = self._limiters.get(group)
        return limiter.acquire() if limiter else 0.0

    def waiting(self) -> int:
        return sum(limiter.waiting for limiter in self._limiters.values())
