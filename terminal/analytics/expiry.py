"""Time to expiry for option pricing: calendar years to the exact expiry moment.

NSE and BSE derivatives expire at the close, 15:30 IST, on the expiry day. Option models want
time in years; we count calendar time (365 days a year, weekends and holidays included), so
theta per calendar day is theta per year / 365 and the overnight decay shows up as it does on
every trader's screen.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")
EXPIRY_TIME = time(15, 30)  # close of the F&O session, IST
SECONDS_PER_YEAR = 365.0 * 24 * 60 * 60
DAYS_PER_YEAR = 365.0


def expiry_moment(expiry_day: date) -> datetime:
    """The exact expiry moment of a contract expiring on ``expiry_day``: 15:30 IST that day."""
    if isinstance(expiry_day, datetime):  # a datetime is a date too; keep only its calendar day
        expiry_day = expiry_day.date()
    return datetime.combine(expiry_day, EXPIRY_TIME, tzinfo=IST)


def years_to_expiry(expiry: datetime, now: datetime) -> float:
    """Calendar years (365 days) from ``now`` to the exact ``expiry`` moment; 0.0 once expired.

    Both must be timezone-aware: a naive datetime is ambiguous by 5h30 (IST or UTC?), which is
    a third of a day of theta, so it is refused with ValueError rather than guessed.
    """
    for name, moment in (("expiry", expiry), ("now", now)):
        if not isinstance(moment, datetime):
            raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware (e.g. tzinfo=IST), got {moment!r}")
    seconds = (expiry - now).total_seconds()
    return max(seconds, 0.0) / SECONDS_PER_YEAR
