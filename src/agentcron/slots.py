"""Slot arithmetic in epoch milliseconds over `agentcron.schedule` (which works in datetimes).

A *slot* is one instant a schedule fires at. These helpers are pure: callers pass the instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from agentcron.schedule import Schedule, next_run, parse_schedule, parse_timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


# Exact integer arithmetic: going through float seconds (`fromtimestamp(ms / 1000)`, `timestamp() * 1000`)
# is off by a millisecond for some instants (2039-03-08T19:46:13.411Z gave ...410), and a slot must never be
# at or before the instant it was asked to follow.
def _dt(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _ms(dt: datetime) -> int:
    return (dt - _EPOCH) // _MS


@lru_cache(maxsize=65_536)
def compile_schedule(schedule: str | None, timezone: str | None) -> tuple[Schedule, ZoneInfo] | None:
    """Parse and validate; None when the task has no schedule. Raises `ScheduleError` (message starts
    with ``Invalid schedule:`` or ``Invalid timezone:``)."""
    tz = parse_timezone(timezone)
    if schedule is None or schedule == "":
        return None
    return parse_schedule(schedule, tz), tz


@lru_cache(maxsize=65_536)
def next_slot(schedule: str | None, timezone: str | None, after_ms: int) -> int | None:
    """The first slot strictly after ``after_ms``, or None (no schedule, ``never``, one-shot passed).

    Cached: when many tasks share a schedule and come due together, the scheduler asks the same question
    for each of them (same schedule, timezone and ``now``)."""
    compiled = compile_schedule(schedule, timezone)
    if compiled is None:
        return None
    found = next_run(compiled[0], compiled[1], _dt(after_ms))
    return None if found is None else _ms(found)


def slots_between(schedule: str | None, timezone: str | None, after_ms: int, until_ms: int, limit: int) -> list[int]:
    """Slots in ``(after_ms, until_ms]``, at most ``limit`` of them (oldest first)."""
    out: list[int] = []
    at = after_ms
    while len(out) < limit:
        nxt = next_slot(schedule, timezone, at)
        if nxt is None or nxt > until_ms:
            break
        out.append(nxt)
        at = nxt
    return out
