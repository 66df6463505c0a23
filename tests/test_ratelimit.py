from terminal.brokers.ratelimit import RateLimiter, RateLimits


class FakeClock:
    """Virtual time: sleeping advances the clock, so the test is exact and instant."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_per_second_window_paces_a_burst():
    clock = FakeClock()
    limiter = RateLimiter(per_second=10, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(25):
        limiter.acquire()
        times.append(clock.now)
    assert times[9] == 1000.0 and times[10] == 1001.0 and times[20] == 1002.0
    for i in range(len(times)):
        assert sum(1 for t in times if times[i] <= t < times[i] + 1.0) <= 10


def test_both_windows_hold():
    clock = FakeClock()
    limiter = RateLimiter(per_second=10, per_minute=40, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(100):
        limiter.acquire()
        times.append(clock.now)
    for i in range(len(times)):
        assert sum(1 for t in times if times[i] <= t < times[i] + 1.0) <= 10
        assert sum(1 for t in times if times[i] <= t < times[i] + 60.0) <= 40
    assert len(times) == 100  # paced, none dropped
    assert times[40] >= 1060.0


def test_unknown_groups_are_not_limited():
    limits = RateLimits({"orders": (10, 40)})
    assert limits.acquire("other") == 0.0 and limits.waiting() == 0
