"""NSE trading calendar for the simulator: IST, session minutes and derivative expiries.

Holidays are not modelled: every Monday-Friday is a trading day. Expiries follow NSE's rules
since September 2025: NIFTY weekly options expire every Tuesday; monthly futures and options
(NIFTY, BANKNIFTY, FINNIFTY) expire on the last Tuesday of the month, at 15:30 IST.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

IST = ZoneInfo("Asia/Kolkata")
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
MINUTES_PER_SESSION = 375  # 09:15 to 15:30
EXPIRY_TIME = time(15, 30)
TUESDAY = 1

Clock = Callable[[], datetime]  # returns a timezone-aware "now"


def ist_now() -> datetime:
    return datetime.now(IST)


def as_ist(moment: datetime) -> datetime:
    """``moment`` in IST; a naive datetime is refused because its meaning is ambiguous."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: give a timezone-aware time (IST or UTC)")
    return moment.astimezone(IST)


def expiry_moment(day: date) -> datetime:
    return datetime.combine(day, EXPIRY_TIME, tzinfo=IST)


def last_tuesday(year: int, month: int) -> date:
    last_day = _calendar.monthrange(year, month)[1]
    d = date(year, month, last_day)
    return d - timedelta(days=(d.weekday() - TUESDAY) % 7)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def monthly_expiries(now: datetime, count: int = 2) -> list[datetime]:
    """The next ``count`` monthly expiries still alive at ``now`` (one that passed today rolls)."""
    now = as_ist(now)
    year, month = now.year, now.month
    result: list[datetime] = []
    while len(result) < count:
        moment = expiry_moment(last_tuesday(year, month))
        if moment > now:
            result.append(moment)
        year, month = _next_month(year, month)
    return result


def weekly_expiries(now: datetime, count: int = 4) -> list[datetime]:
    """The next ``count`` Tuesdays at 15:30 IST after ``now``."""
    now = as_ist(now)
    day = now.date() + timedelta(days=(TUESDAY - now.weekday()) % 7)
    result: list[datetime] = []
    while len(result) < count:
        moment = expiry_moment(day)
        if moment > now:
            result.append(moment)
        day += timedelta(days=7)
    return result


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5


def trading_days_before(day: date, count: int) -> list[date]:
    """The ``count`` trading days strictly before ``day``, oldest first."""
    days: list[date] = []
    d = day
    while len(days) < count:
        d -= timedelta(days=1)
        if is_trading_day(d):
            days.append(d)
    return days[::-1]


def session_open_epoch(day: date) -> int:
    return int(datetime.combine(day, SESSION_OPEN, tzinfo=IST).timestamp())


def session_minute_starts(days: list[date], until_epoch: float | None = None) -> np.ndarray:
    """Epoch seconds of every one-minute bar start (09:15..15:29) of ``days``.

    With ``until_epoch``, only bars that are complete by then (start + 60 <= until) are kept.
    """
    if not days:
        return np.zeros(0, dtype=np.int64)
    opens = np.array([session_open_epoch(d) for d in days], dtype=np.int64)
    starts = (opens[:, None] + 60 * np.arange(MINUTES_PER_SESSION, dtype=np.int64)[None, :]).ravel()
    if until_epoch is not None:
        starts = starts[starts + 60 <= until_epoch]
    return starts
