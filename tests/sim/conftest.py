"""Fixtures for the simulator tests: a fixed clock that tests move by hand, and an exchange on it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from terminal.sim.calendar import IST
from terminal.sim.exchange import SimulatedExchange

MONDAY_11AM = datetime(2026, 11, 23, 11, 0, tzinfo=IST)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = MONDAY_11AM):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def exchange(clock) -> SimulatedExchange:
    ex = SimulatedExchange(seed=7, clock=clock, ticks_per_second=5.0)
    ex.open_account("T1", cash=10_00_000_00)
    return ex
