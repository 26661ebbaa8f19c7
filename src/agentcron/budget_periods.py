"""Token budget periods (pure): which calendar day, week or month an instant falls in, in a time zone, and
the instants where that period starts and ends.

- ``day``: local midnight to the next local midnight; ``week``: Monday 00:00 to the next Monday 00:00
  (ISO weeks); ``month``: the 1st 00:00 to the next 1st 00:00. All in the zone's wall time, so a period
  that contains a DST change is 23 or 25 hours long per affected day, never shifted.
- A local midnight that does not exist (a zone that springs forward at 00:00) starts the day at the first
  instant after the gap; a midnight that occurs twice starts it at the first occurrence.
- Usage is kept per local date (``YYYYMMDD`` integers, `day_key`): a period is the inclusive range of
  date keys `period_days` gives, whatever the length of its days.
- A zone of ``None`` (or empty) is UTC; the zone names are the IANA ones the task was validated with.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")


@lru_cache(maxsize=256)
def zone(name: str | None) -> tzinfo:
    """The zone of a task (``None`` or empty: UTC)."""
    return ZoneInfo(name) if name else UTC


def local_date(instant_ms: int, tz: str | None) -> date:
    """The calendar date of ``instant_ms`` (epoch ms) in ``tz``."""
    return datetime.fromtimestamp(instant_ms / 1000, zone(tz)).date()


def day_key(d: date) -> int:
    """``YYYYMMDD`` as an integer (the ``token_usage.day`` column)."""
    return d.year * 10_000 + d.month * 100 + d.day


def _first_day(d: date, period: Period) -> date:
    if period == "day":
        return d
    if period == "week":
        return d - timedelta(days=d.weekday())
    if period == "month":
        return d.replace(day=1)
    raise ValueError(f"unknown budget period {period!r}")


def _next_first_day(first: date, period: Period) -> date:
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _midnight(d: date, tz: str | None) -> int:
    """The first instant (epoch ms) of the local date ``d``: local 00:00, first occurrence; when 00:00
    falls in a DST gap, the instant the gap ends (PEP 495 ``fold=0`` maps a gap time through the offset
    before the change, which for a gap starting at 00:00 is exactly its end)."""
    return int(datetime(d.year, d.month, d.day, tzinfo=zone(tz)).timestamp() * 1000)


def bounds(instant_ms: int, tz: str | None, period: Period) -> tuple[int, int]:
    """``[start, end)`` (epoch ms) of the period holding ``instant_ms`` in ``tz``; ``end`` is when the
    budget resets."""
    first = _first_day(local_date(instant_ms, tz), period)
    return _midnight(first, tz), _midnight(_next_first_day(first, period), tz)


def period_days(instant_ms: int, tz: str | None, period: Period) -> tuple[int, int]:
    """The first and last `day_key` (inclusive) of the period holding ``instant_ms`` in ``tz``."""
    first = _first_day(local_date(instant_ms, tz), period)
    return day_key(first), day_key(_next_first_day(first, period) - timedelta(days=1))
