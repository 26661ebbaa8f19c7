"""The scheduler's decisions as pure functions of (task, slot, usage, now): misfire, overlap and account
limits. No I/O: the scheduler reads what they need in its tick's transaction and writes what they decide.

- misfirePolicy (slots passed while nothing fired them, e.g. the service was down): ``coalesce``
  (default: one catch-up run for the latest missed slot, ``missedCount`` recorded), ``skip`` (one skipped
  execution, reason ``misfire``, then wait for the next slot), ``all`` (one run per missed slot inside the
  misfire window, at most `MAX_REPLAYED`; older ones counted as missed).
- overlapPolicy (a slot comes due while an execution of the task is queued or running): ``skip`` (default:
  a skipped execution with reason ``overlap``), ``queue`` (run after it), ``allow`` (run alongside),
  ``cancelPrevious`` (cancel it, then run).
- account limits: a slot (or a trigger) that would exceed the account's concurrent or daily cap is refused
  (a slot is recorded as skipped with reason ``limits``; a trigger answers 429).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from agentcron.domain import DueTask, MisfirePolicy, OverlapPolicy, PlannedRun, RunKind, SkipReason, Usage
from agentcron.schedule import ScheduleError
from agentcron.slots import next_slot, slots_between

#: Upper bound on slots counted after an outage (a quarter-hourly task down for a year has 35k).
MAX_COUNTED_SLOTS = 10_000
#: misfirePolicy ``all`` replays at most this many missed slots.
MAX_REPLAYED = 100


@dataclass(slots=True)
class SlotPlan:
    """What to record for a due task: the runs (skips included), its next slot, and how many it missed."""

    runs: list[PlannedRun]
    next_run_at: int | None
    missed: int


def plan_slots(due: DueTask, now: int, misfire_grace_ms: int, misfire_window_ms: int) -> SlotPlan:
    """Apply the task's misfire policy to its due slot and every later one up to ``now``.

    A slot fired more than ``misfire_grace_ms`` after it came due counts as missed; ``all`` replays only
    slots inside ``misfire_window_ms``. A schedule that no longer evaluates (tzdata changed since it was
    written) records one skip with reason ``schedule`` and no next slot."""
    task, slot = due.task, due.next_run_at
    try:
        later = slots_between(task.schedule, task.timezone, slot, now, MAX_COUNTED_SLOTS)
        nxt = next_slot(task.schedule, task.timezone, now)
    except ScheduleError as e:
        return SlotPlan(
            [PlannedRun(task, RunKind.SKIP, slot, reason=SkipReason.SCHEDULE, summary=f"Skipped: {e}")], None, 0
        )
    slots = [slot, *later]
    missed = len(slots) - 1
    late = now - slots[-1] > misfire_grace_ms
    policy = task.misfire_policy
    if policy is MisfirePolicy.ALL and missed:
        window = [d for d in slots if d >= now - misfire_window_ms][-MAX_REPLAYED:]
        return SlotPlan([PlannedRun(task, RunKind.CATCHUP, d) for d in window], nxt, len(slots) - len(window))
    if policy is MisfirePolicy.SKIP and (missed or late):
        skip = PlannedRun(
            task,
            RunKind.SKIP,
            slots[-1],
            missed_count=missed + 1,
            reason=SkipReason.MISFIRE,
            summary=f"Skipped: {missed + 1} slot(s) passed while the service was not firing (misfirePolicy skip)",
        )
        return SlotPlan([skip], nxt, missed + 1)
    kind = RunKind.CATCHUP if missed or late else RunKind.SCHEDULE
    since = slots[0] if missed else None
    return SlotPlan([PlannedRun(task, kind, slots[-1], missed_count=missed, missed_since=since)], nxt, missed)


class Overlap(Enum):
    RUN = "run"
    SKIP = "skip"
    CANCEL_PREVIOUS = "cancelPrevious"


def on_overlap(policy: OverlapPolicy, busy: bool) -> Overlap:
    """What a slot of a task does given whether an execution of it is queued or running (``busy``)."""
    if not busy:
        return Overlap.RUN
    if policy is OverlapPolicy.SKIP:
        return Overlap.SKIP
    if policy is OverlapPolicy.CANCEL_PREVIOUS:
        return Overlap.CANCEL_PREVIOUS
    return Overlap.RUN  # queue: the claim keeps it behind the running one; allow: alongside


OVERLAP_SKIPPED = "Skipped: the previous execution was still active (overlapPolicy skip)"
PREVIOUS_CANCELED = "Canceled: a newer slot replaced it (overlapPolicy cancelPrevious)"


def may_start_now(policy: OverlapPolicy, busy: bool, started_in_tick: bool) -> bool:
    """Whether a run may start at once (skip the queue) and keep the task's runs serial: always under
    ``allow``, else only when nothing of the task is active and no other run of it started in this tick."""
    return policy is OverlapPolicy.ALLOW or (not busy and not started_in_tick)


class Limit(Enum):
    CONCURRENT = "concurrent executions"
    DAILY = "executions per day"


def limit_reached(usage: Usage, concurrent_cap: int, daily_cap: int) -> Limit | None:
    """The account cap one more execution would exceed, or None (a cap of 0 means none)."""
    if 0 < concurrent_cap <= usage.active:
        return Limit.CONCURRENT
    if 0 < daily_cap <= usage.today:
        return Limit.DAILY
    return None


def limit_skipped(limit: Limit) -> str:
    """The summary of a slot skipped for ``limit``."""
    return f"Skipped: the account reached its limit of {limit.value}"


def limit_refused(limit: Limit, usage: Usage, concurrent_cap: int, daily_cap: int) -> str:
    """The message of a trigger refused for ``limit`` (429)."""
    if limit is Limit.CONCURRENT:
        return f"Limit reached: {usage.active} executions are queued or running (max {concurrent_cap})"
    return f"Limit reached: {usage.today} executions in the last 24 hours (max {daily_cap})"


def skipped(run: PlannedRun, reason: SkipReason, summary: str) -> PlannedRun:
    """``run`` recorded as a skipped slot instead."""
    return PlannedRun(run.task, RunKind.SKIP, run.scheduled_for, run.missed_count, reason, summary)
