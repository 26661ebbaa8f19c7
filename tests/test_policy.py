"""The scheduler's decisions (agentcron.policy) as pure functions: no database, no clock."""

from __future__ import annotations

from agentcron.domain import DueTask, MisfirePolicy, OverlapPolicy, RunKind, SkipReason, TaskConfig, Usage
from agentcron.policy import (
    Limit,
    Overlap,
    limit_reached,
    limit_refused,
    limit_skipped,
    may_start_now,
    on_overlap,
    plan_slots,
    skipped,
)
from tests.runs_helpers import ms

MIN = 60_000
GRACE, WINDOW = 60_000, 3_600_000


def _due(schedule: str, slot: str, misfire: MisfirePolicy = MisfirePolicy.COALESCE, tz: str = "UTC") -> DueTask:
    task = TaskConfig("t", "a", "task", "", schedule=schedule, timezone=tz, misfire_policy=misfire)
    return DueTask(task, ms(slot))


def test_a_slot_fired_on_time_is_one_scheduled_run() -> None:
    plan = plan_slots(_due("quarterhourly", "2026-06-01T10:15:00Z"), ms("2026-06-01T10:15:00.200Z"), GRACE, WINDOW)
    assert [(r.kind, r.scheduled_for, r.missed_count) for r in plan.runs] == [
        (RunKind.SCHEDULE, ms("2026-06-01T10:15:00Z"), 0)
    ]
    assert (plan.next_run_at, plan.missed) == (ms("2026-06-01T10:30:00Z"), 0)


def test_coalesce_runs_the_latest_missed_slot_once_and_counts_the_rest() -> None:
    now = ms("2026-06-01T11:05:00Z")
    plan = plan_slots(_due("quarterhourly", "2026-06-01T10:15:00Z"), now, GRACE, WINDOW)
    assert [(r.kind, r.scheduled_for, r.missed_count) for r in plan.runs] == [
        (RunKind.CATCHUP, ms("2026-06-01T11:00:00Z"), 3)
    ]
    assert (plan.next_run_at, plan.missed) == (ms("2026-06-01T11:15:00Z"), 3)


def test_a_single_slot_fired_after_the_grace_is_a_catchup() -> None:
    plan = plan_slots(_due("hourly", "2026-06-01T10:00:00Z"), ms("2026-06-01T10:02:00Z"), GRACE, WINDOW)
    assert [r.kind for r in plan.runs] == [RunKind.CATCHUP]


def test_misfire_skip_records_one_skip_for_every_missed_slot() -> None:
    now = ms("2026-06-01T11:05:00Z")
    plan = plan_slots(_due("quarterhourly", "2026-06-01T10:15:00Z", MisfirePolicy.SKIP), now, GRACE, WINDOW)
    (run,) = plan.runs
    assert (run.kind, run.reason, run.missed_count) == (RunKind.SKIP, SkipReason.MISFIRE, 4)
    assert run.summary is not None and "4 slot(s) passed" in run.summary
    assert plan.missed == 4


def test_misfire_all_replays_the_slots_inside_the_window_only() -> None:
    now = ms("2026-06-01T12:00:30Z")
    plan = plan_slots(_due("quarterhourly", "2026-06-01T10:00:00Z", MisfirePolicy.ALL), now, GRACE, WINDOW)
    # the window reaches back to 11:00:30: 11:15 .. 12:00 are replayed
    assert [r.scheduled_for for r in plan.runs] == [ms("2026-06-01T11:15:00Z") + i * 15 * MIN for i in range(4)]
    assert {r.kind for r in plan.runs} == {RunKind.CATCHUP}
    assert plan.missed == 5  # 10:00 .. 11:00 fell outside the window


def test_a_schedule_that_no_longer_evaluates_is_skipped_with_no_next_slot() -> None:
    plan = plan_slots(
        _due("hourly", "2026-06-01T10:00:00Z", tz="Mars/Olympus"), ms("2026-06-01T10:00:00Z"), GRACE, WINDOW
    )
    (run,) = plan.runs
    assert (run.kind, run.reason, plan.next_run_at) == (RunKind.SKIP, SkipReason.SCHEDULE, None)
    assert run.summary is not None and run.summary.startswith("Skipped: Invalid timezone")


def test_overlap_decisions() -> None:
    for policy in OverlapPolicy:
        assert on_overlap(policy, busy=False) is Overlap.RUN
    assert on_overlap(OverlapPolicy.SKIP, busy=True) is Overlap.SKIP
    assert on_overlap(OverlapPolicy.QUEUE, busy=True) is Overlap.RUN
    assert on_overlap(OverlapPolicy.ALLOW, busy=True) is Overlap.RUN
    assert on_overlap(OverlapPolicy.CANCEL_PREVIOUS, busy=True) is Overlap.CANCEL_PREVIOUS


def test_only_allow_starts_a_run_beside_another_of_its_task() -> None:
    assert may_start_now(OverlapPolicy.QUEUE, busy=False, started_in_tick=False)
    assert not may_start_now(OverlapPolicy.QUEUE, busy=True, started_in_tick=False)
    assert not may_start_now(OverlapPolicy.CANCEL_PREVIOUS, busy=False, started_in_tick=True)
    assert may_start_now(OverlapPolicy.ALLOW, busy=True, started_in_tick=True)


def test_limits() -> None:
    assert limit_reached(Usage(9, 0), concurrent_cap=10, daily_cap=100) is None
    assert limit_reached(Usage(10, 0), concurrent_cap=10, daily_cap=100) is Limit.CONCURRENT
    assert limit_reached(Usage(0, 100), concurrent_cap=10, daily_cap=100) is Limit.DAILY
    assert limit_reached(Usage(10**6, 10**6), concurrent_cap=0, daily_cap=0) is None  # 0: no cap
    assert limit_skipped(Limit.DAILY) == "Skipped: the account reached its limit of executions per day"
    assert limit_refused(Limit.CONCURRENT, Usage(10, 3), 10, 100) == (
        "Limit reached: 10 executions are queued or running (max 10)"
    )
    assert (
        limit_refused(Limit.DAILY, Usage(1, 100), 10, 100)
        == "Limit reached: 100 executions in the last 24 hours (max 100)"
    )


def test_a_skipped_run_keeps_its_slot() -> None:
    run = plan_slots(_due("hourly", "2026-06-01T10:00:00Z"), ms("2026-06-01T10:00:00Z"), GRACE, WINDOW).runs[0]
    skip = skipped(run, SkipReason.OVERLAP, "busy")
    assert (skip.kind, skip.scheduled_for, skip.reason, skip.summary) == (
        RunKind.SKIP,
        run.scheduled_for,
        SkipReason.OVERLAP,
        "busy",
    )
