"""Slot arithmetic in epoch milliseconds over `agentcron.schedule` (which works in datetimes).

A *slot* is one instant a schedule fires at. These helpers are pure: callers pass the instant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from agentcron.schedule import Schedule, next_run, parse_schedule, parse_timezone


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


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
