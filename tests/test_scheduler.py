"""Scheduler and execution state machine, driven by an injected clock on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from typing import Any

import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.domain import Finished, Outcome
from agentcron.scheduler import Scheduler
from agentcron.signals import ExecutionsQueued
from agentcron.store.base import Store, open_store
from agentcron.store.runs import RunStore
from tests.runs_helpers import (
    cancel,
    conversation_messages,
    executions,
    ids_of,
    make_bot,
    make_scheduler,
    make_task,
    make_worker,
    ms,
    queue_trigger,
    running_executions,
    task,
)

pytestmark = pytest.mark.anyio
MIN = 60_000
HOUR = 3_600_000


def _scheduler(store: Store, clock: FakeClock, **overrides: Any) -> Scheduler:
    return make_scheduler(store, clock, replace(Settings(), **overrides))


async def _account(store: Store, now: int) -> str:
    return await store.accounts.create_account("a", now)


async def _fired_waiting_run(store: Store, **task_cols: object) -> tuple[str, str, FakeClock, RunStore]:
    """An account, a task whose bot waits 30 s, and its 10:15 slot fired (queued): (account, task, clock, runs)."""
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    bot = await make_bot(store, acc, now, [{"type": "wait", "config": {"seconds": 30}}])
    tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot, **task_cols)
    clock = FakeClock(ms("2026-06-01T10:15:00Z"))
    await _scheduler(store, clock).run_until_idle(clock.now_ms())
    return acc, tid, clock, store.runs


async def test_behind_while_a_drain_fires_batch_after_batch_and_not_after(store: Store) -> None:
    """`Scheduler.behind` (the in-process deliverer holds back while it is set): set once a tick fired a full
    batch with more due, cleared when the drain has fired the last due slot."""
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    for _ in range(5):
        await make_task(store, acc, now, "quarterhourly")
    sched = _scheduler(store, FakeClock(now), scheduler_batch=2, scheduler_concurrent_ticks=1)
    seen: list[bool] = []
    sched.signals.connect(ExecutionsQueued, lambda _: seen.append(sched.behind))
    r = await sched.run_until_idle(ms("2026-06-01T10:15:00Z"))
    assert r.fired == 5
    assert seen == [False, True, True]  # batches of 2, 2 and 1: behind from the first full batch on
    assert sched.behind is False
    await make_task(store, acc, now, "quarterhourly")
    seen.clear()
    await sched.run_until_idle(ms("2026-06-01T10:30:00Z"))  # 6 due, 3 batches again
    assert seen[0] is False and sched.behind is False


async def test_it_fires_a_one_shot_once_then_never(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "2026-06-01T10:05:00Z")
    sched = _scheduler(store, FakeClock(now))
    assert (await sched.run_until_idle(now + 4 * MIN)).fired == 0
    r = await sched.run_until_idle(ms("2026-06-01T10:05:00Z"))
    assert r.fired == 1
    assert (await sched.run_until_idle(ms("2026-06-01T10:05:00Z"))).fired == 0
    assert (await sched.run_until_idle(ms("2027-01-01T00:00:00Z"))).fired == 0
    t = await task(store, acc, tid)
    assert t is not None and t["nextRunAt"] is None
    ex = await executions(store, acc, tid)
    assert [(e["trigger"], e["scheduledFor"], e["status"], e["outcome"]) for e in ex] == [
        ("schedule", ms("2026-06-01T10:05:00Z"), "idle", "pending")
    ]


async def test_never_and_unscheduled_tasks_never_fire(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await _account(store, now)
    a = await make_task(store, acc, now, "never")
    b = await make_task(store, acc, now, None)
    assert (await _scheduler(store, FakeClock(now)).run_until_idle(now + 400 * 86_400_000)).fired == 0
    assert (await task(store, acc, a))["nextRunAt"] is None  # type: ignore[index]
    assert (await task(store, acc, b))["nextRunAt"] is None  # type: ignore[index]


async def test_each_slot_fires_exactly_once_and_next_run_advances(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "quarterhourly")
    sched = _scheduler(store, FakeClock(now))
    for slot in ("10:15", "10:30", "10:45"):
        at = ms(f"2026-06-01T{slot}:00Z")
        assert (await sched.run_until_idle(at)).fired == 1
        assert (await sched.run_until_idle(at)).fired == 0  # same instant again: nothing new
        t = await task(store, acc, tid)
        assert t is not None and t["nextRunAt"] == at + 15 * MIN
    slots = [e["scheduledFor"] for e in await executions(store, acc, tid)]
    assert slots == [ms("2026-06-01T10:15:00Z"), ms("2026-06-01T10:30:00Z"), ms("2026-06-01T10:45:00Z")]


async def test_dst_spring_forward_fires_at_first_minute_after_the_gap(store: Store) -> None:
    # America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z). 02:30 does not exist that day.
    now = ms("2026-03-07T12:00:00Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "30 2 * * *", "America/New_York")
    sched = _scheduler(store, FakeClock(now))
    await sched.run_until_idle(ms("2026-03-07T07:30:00Z"))  # 02:30 EST on the 7th
    t = await task(store, acc, tid)
    assert t is not None and t["nextRunAt"] == ms("2026-03-08T07:00:00Z")
    assert (await sched.run_until_idle(ms("2026-03-08T07:00:00Z"))).fired == 1
    t = await task(store, acc, tid)
    assert t is not None and t["nextRunAt"] == ms("2026-03-09T06:30:00Z")  # 02:30 EDT


async def test_dst_fall_back_fires_a_fixed_time_once(store: Store) -> None:
    # America/New_York: 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z); 01:30 occurs at 05:30Z and 06:30Z.
    now = ms("2026-10-31T12:00:00Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "30 1 * * *", "America/New_York")
    sched = _scheduler(store, FakeClock(now))
    fired = 0
    for at in range(ms("2026-11-01T05:00:00Z"), ms("2026-11-01T08:00:00Z"), 5 * MIN):
        fired += (await sched.run_until_idle(at)).fired
    assert fired == 1
    assert [e["scheduledFor"] for e in await executions(store, acc, tid)] == [ms("2026-11-01T05:30:00Z")]


async def test_misfire_coalesce_runs_one_catch_up_with_the_missed_count(store: Store) -> None:
    now = ms("2026-06-01T09:30:00Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "hourly")
    sched = _scheduler(store, FakeClock(now))
    back = ms("2026-06-01T15:10:00Z")  # down from before 10:00 until 15:10: 10..15 = 6 slots
    r = await sched.run_until_idle(back)
    assert (r.fired, r.skipped) == (1, 0)
    ex = await executions(store, acc, tid)
    assert [(e["trigger"], e["scheduledFor"], e["missedCount"]) for e in ex] == [
        ("catchup", ms("2026-06-01T15:00:00Z"), 5)
    ]
    t = await task(store, acc, tid)
    assert t is not None and t["nextRunAt"] == ms("2026-06-01T16:00:00Z") and t["missedCount"] == 5


async def test_misfire_skip_records_the_skip_and_waits_for_the_next_slot(store: Store) -> None:
    now = ms("2026-06-01T09:30:00Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "hourly", misfire_policy="skip")
    r = await _scheduler(store, FakeClock(now)).run_until_idle(ms("2026-06-01T12:10:00Z"))
    assert (r.fired, r.skipped) == (0, 1)
    (ex,) = await executions(store, acc, tid)
    assert (ex["status"], ex["outcome"], ex["reason"], ex["missedCount"]) == ("canceled", "failure", "misfire", 3)
    assert "misfirePolicy skip" in ex["summary"]


async def test_misfire_all_replays_each_slot_inside_the_window(store: Store) -> None:
    now = ms("2026-06-01T09:30:00Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "quarterhourly", misfire_policy="all")
    sched = _scheduler(store, FakeClock(now), misfire_window_ms=HOUR)
    r = await sched.run_until_idle(ms("2026-06-01T12:00:00Z"))  # 10 slots missed; window keeps 11:00..12:00
    assert r.fired == 5
    ex = await executions(store, acc, tid)
    assert [e["scheduledFor"] for e in ex] == [
        ms(f"2026-06-01T{h}Z") for h in ("11:00:00", "11:15:00", "11:30:00", "11:45:00", "12:00:00")
    ]


async def test_overlap_skip_records_a_skipped_slot_and_trigger_queues_behind(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    bot = await make_bot(store, acc, now)
    tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot, overlap_policy="skip")
    clock = FakeClock(now)
    sched = _scheduler(store, clock)
    runs = store.runs
    worker = make_worker(store, clock, Settings(), "w1")
    await sched.run_until_idle(ms("2026-06-01T10:15:00Z"))
    assert len(await runs.claim("w1", ms("2026-06-01T10:15:01Z"), 30_000, 10)) == 1
    r = await sched.run_until_idle(ms("2026-06-01T10:30:00Z"))
    assert (r.fired, r.skipped) == (0, 1)
    ex = await executions(store, acc, tid)
    assert [(e["status"], e["reason"]) for e in ex] == [("running", None), ("canceled", "overlap")]
    # A manual trigger while running queues and is not claimed until the running one ends.
    await queue_trigger(store, tid, ms("2026-06-01T10:31:00Z"))
    assert await worker.claim_once(ms("2026-06-01T10:31:01Z")) == 0


async def test_overlap_queue_policy_queues_the_slot(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "quarterhourly", overlap_policy="queue")
    sched = _scheduler(store, FakeClock(now))
    runs = store.runs
    await sched.run_until_idle(ms("2026-06-01T10:15:00Z"))
    await runs.claim("w1", ms("2026-06-01T10:15:01Z"), 30_000, 10)
    r = await sched.run_until_idle(ms("2026-06-01T10:30:00Z"))
    assert (r.fired, r.skipped) == (1, 0)
    assert [e["status"] for e in await executions(store, acc, tid)] == ["running", "idle"]
    assert await runs.claim("w2", ms("2026-06-01T10:30:01Z"), 30_000, 10) == []  # serialised per task


async def test_account_limits_skip_slots_with_reason(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    a = await make_task(store, acc, now, "quarterhourly")
    b = await make_task(store, acc, now, "quarterhourly")
    r = await _scheduler(store, FakeClock(now), max_concurrent_executions=1).run_until_idle(ms("2026-06-01T10:15:00Z"))
    assert (r.fired, r.skipped) == (1, 1)
    rows = [*await executions(store, acc, a), *await executions(store, acc, b)]
    reasons = sorted(str(e["reason"]) for e in rows)
    assert reasons == ["None", "limits"]


async def test_worker_runs_and_records_outcome_then_task_is_idle(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    bot = await make_bot(store, acc, now)
    tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot, name="Digest")
    clock = FakeClock(ms("2026-06-01T10:15:00Z"))
    await _scheduler(store, clock).run_until_idle(clock.now_ms())
    worker = make_worker(store, clock, Settings(), "w1")
    assert await worker.claim_once(clock.now_ms()) == 1
    t = await task(store, acc, tid)
    assert t is not None and t["status"] == "running"
    await worker.drain()
    (ex,) = await executions(store, acc, tid)
    assert (ex["status"], ex["outcome"], ex["summary"]) == ("idle", "success", "Completed task 'Digest'")
    assert ex["conversationId"] and ex["completedAt"].endswith("Z")
    t = await task(store, acc, tid)
    assert t is not None and (t["status"], t["outcome"], t["lastRunAt"]) == ("idle", "success", clock.now_ms())


async def test_cancel_stops_the_running_bot_and_the_task_is_idle(store: Store) -> None:
    acc, tid, clock, runs = await _fired_waiting_run(store)
    worker = make_worker(store, clock, Settings(), "w1")
    await worker.claim_once(clock.now_ms())
    (running,) = list(worker.running.values())
    await asyncio.sleep(0.01)
    canceled = await cancel(store, tid, clock.now_ms())
    lost = await worker.heartbeat_once(clock.now_ms())  # how a worker in another process learns of it
    assert lost == set(canceled)
    await asyncio.sleep(0.01)
    assert running.task.cancelled()
    (ex,) = await executions(store, acc, tid)
    assert (ex["status"], ex["outcome"], ex["summary"]) == ("canceled", "failure", "Task execution canceled")
    t = await task(store, acc, tid)
    assert t is not None and t["status"] == "idle"


async def test_session_duration_ends_a_run_with_a_summary_naming_it(store: Store) -> None:
    acc, tid, clock, runs = await _fired_waiting_run(store, session_duration=100)
    worker = make_worker(store, clock, Settings(), "w1")
    await worker.claim_once(clock.now_ms())
    await worker.drain()
    (ex,) = await executions(store, acc, tid)
    assert ex["outcome"] == "failure" and "sessionDuration (100 ms)" in ex["summary"]


async def test_a_run_ended_by_its_time_limit_keeps_its_conversation_so_far(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    bot = await make_bot(store, acc, now, [{"type": "time"}, {"type": "wait", "config": {"seconds": 30}}])
    tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot, name="Check", session_duration=100)
    clock = FakeClock(ms("2026-06-01T10:15:00Z"))
    await _scheduler(store, clock).run_until_idle(clock.now_ms())
    worker = make_worker(store, clock, Settings(), "w1")
    await worker.claim_once(clock.now_ms())
    await worker.drain()
    (ex,) = await executions(store, acc, tid)
    assert ex["outcome"] == "failure" and "sessionDuration (100 ms)" in ex["summary"]
    (user, activity) = await conversation_messages(store, ex["conversationId"])
    assert user == ("user", "Check") and activity[0] == "activity" and activity[1].startswith("time is ")


async def test_graceful_release_requeues_and_another_worker_resumes(store: Store) -> None:
    acc, tid, clock, runs = await _fired_waiting_run(store)
    w1 = make_worker(store, clock, Settings(), "w1")
    await w1.claim_once(clock.now_ms())
    await w1.shutdown(grace_ms=10)
    (ex,) = await executions(store, acc, tid)
    assert (ex["status"], ex["attempt"]) == ("idle", 1)
    (job,) = await runs.claim("w2", clock.now_ms(), 30_000, 10)
    assert job.attempt == 2


class _TickingClock(FakeClock):
    """Moves 1 ms each time it is read: tells the time a write was made apart from the tick's ``now``."""

    def now_ms(self) -> int:
        self.value += 1
        return int(self.value)


async def test_a_burst_beyond_the_local_workers_capacity_still_goes_straight_to_it(store: Store) -> None:
    """50 slots due at once, a worker with room for 10 and batches of 10: between batches the scheduler
    lets the dispatched runs finish and records them, so every batch finds room and nothing is queued
    for a second (claim) write. Completion times are the clock's at recording, not the tick's."""
    now = ms("2026-06-01T10:14:30Z")
    acc = await _account(store, now)
    bot = await make_bot(store, acc, now)
    tids = [await make_task(store, acc, now, "quarterhourly", bot_id=bot) for _ in range(50)]
    slot = ms("2026-06-01T10:15:00Z")
    clock = _TickingClock(slot)
    worker = make_worker(store, clock, Settings(worker_concurrency=10), "w1")
    # A concurrent tick waits for room as long as it takes here: on a loaded machine the default wait can
    # lapse first, and the batch is then (correctly) queued, which is not what this test looks at.
    sched = _scheduler(store, clock, scheduler_batch=10, dispatch_wait_ms=10_000)
    sched.local = worker
    r = await sched.run_until_idle(slot)
    assert r.fired == 50
    await worker.drain()
    done = [e for t in tids for e in await executions(store, acc, t)]
    assert len(done) == 50 and {(e["status"], e["outcome"], e["attempt"]) for e in done} == {("idle", "success", 1)}
    async with store.db.tx() as tx:
        queued = await tx.fetchrow("SELECT COUNT(*) AS n FROM task_executions WHERE state = 'queued'")
        times = await tx.fetch("SELECT scheduled_for, completed_at FROM task_executions")
    assert queued is not None and queued["n"] == 0
    assert len(times) == 50 and all(t["scheduled_for"] == slot < t["completed_at"] for t in times)


async def test_finished_runs_awaiting_their_write_hold_no_capacity_up_to_a_bound(store: Store) -> None:
    """A worker's capacity counts runs still running; finished runs whose outcome is not written yet
    free theirs (so firing need not wait for that write), but at most `worker_concurrency` of them."""
    now = ms("2026-06-01T10:14:30Z")
    acc = await _account(store, now)
    bot = await make_bot(store, acc, now)
    slot = ms("2026-06-01T10:15:00Z")
    for i in range(6):
        await make_task(store, acc, now, "quarterhourly", bot_id=bot, name=f"t{i}")
    clock = FakeClock(slot)
    worker = make_worker(store, clock, Settings(worker_concurrency=3), "w1")
    sched = _scheduler(store, clock, scheduler_batch=3)
    sched.local = worker

    async def finished(n: int) -> None:
        for _ in range(100):
            if len(worker.outcomes.done) == n:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"{len(worker.outcomes.done)} runs finished, expected {n}")

    assert (await sched.tick(slot)).fired == 3 and worker.capacity.free == 0  # three bots running
    assert await worker.wait_for_room(5)  # woken as the runs finish
    await finished(3)
    assert worker.capacity.free == 3  # done, not yet recorded: the next batch may start
    assert (await sched.tick(slot)).fired == 3
    await finished(6)
    assert worker.capacity.free == 0  # six unrecorded outcomes: twice the concurrency, take nothing more
    assert not await worker.wait_for_room(0.05)  # only recording them frees room
    assert await worker.flush(clock.now_ms()) == 6
    assert worker.capacity.free == 3 and not worker.running
    async with store.db.tx() as tx:
        row = await tx.fetchrow("SELECT COUNT(*) AS n FROM task_executions WHERE state = 'done'")
    assert row is not None and row["n"] == 6


async def test_direct_dispatch_hands_due_runs_to_a_local_worker_keeping_runs_serial(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    bot = await make_bot(store, acc, now, [{"type": "wait", "config": {"seconds": 30}}])
    tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot, overlap_policy="queue", misfire_policy="all")
    clock = FakeClock(now)
    runs = store.runs
    worker = make_worker(store, clock, Settings(), "w1")
    sched = _scheduler(store, clock)
    sched.local = worker
    r = await sched.run_until_idle(ms("2026-06-01T10:30:00Z"))  # two slots due: 10:15 and 10:30
    assert r.fired == 2
    assert len(worker.running) == 1  # the first went straight to the worker, the second waits its turn
    t = await task(store, acc, tid)
    assert t is not None and t["status"] == "running" and t["nextRunAt"] == ms("2026-06-01T10:45:00Z")
    ex = sorted(await executions(store, acc, tid), key=lambda e: e["scheduledFor"])
    assert [(e["status"], e["attempt"]) for e in ex] == [("running", 1), ("idle", 1)]  # (attempt: the try)
    assert await runs.claim("w2", clock.now_ms(), 30_000, 10) == []  # serial: nothing claimable yet
    worker.cancel_local(list(worker.running))


async def test_capacity_never_exceeds_concurrency_after_a_local_cancel(store: Store) -> None:
    acc = await store.accounts.create_account("a", ms("2026-06-01T10:14:30Z"))
    bot = await make_bot(store, acc, ms("2026-06-01T10:14:30Z"))
    for _ in range(2):
        await make_task(store, acc, ms("2026-06-01T10:14:30Z"), "quarterhourly", bot_id=bot)
    clock = FakeClock(ms("2026-06-01T10:15:00Z"))
    worker = make_worker(store, clock, Settings(worker_concurrency=2), "w1")
    sched = make_scheduler(store, clock, Settings(scheduler_batch=2))
    sched.local = worker
    assert (await sched.tick(ms("2026-06-01T10:15:00Z"))).fired == 2
    for _ in range(100):
        if len(worker.outcomes.done) == 2:
            break
        await asyncio.sleep(0)
    # e.g. a cancelPrevious tick / an API cancel / a lost lease stops one before its outcome is written
    worker.cancel_local([worker.outcomes.done[0].result.execution_id])
    assert worker.capacity.active >= 0 and worker.capacity.free <= 2, (worker.capacity.active, worker.capacity.free)


async def test_sqlite_summary_with_a_lone_surrogate_does_not_poison_the_row(sqlite_url: str) -> None:
    store = await open_store(sqlite_url)
    try:
        acc = await store.accounts.create_account("a", ms("2026-06-01T10:14:30Z"))
        bot = await make_bot(store, acc, ms("2026-06-01T10:14:30Z"))
        tid = await make_task(store, acc, ms("2026-06-01T10:14:30Z"), "quarterhourly", bot_id=bot)
        clock = FakeClock(ms("2026-06-01T10:15:00Z"))
        worker = make_worker(store, clock, Settings(), "w1")
        sched = make_scheduler(store, clock, Settings())
        sched.local = worker
        await sched.tick(ms("2026-06-01T10:15:00Z"))
        for _ in range(100):
            if worker.outcomes.done:
                break
            await asyncio.sleep(0)
        done = worker.outcomes.done[0]
        # half an emoji, from JSON
        worker.outcomes.done[0] = replace(done, result=replace(done.result, summary="model said \ud83d"))
        try:
            await worker.flush(ms("2026-06-01T10:15:00Z") + 10)
        except Exception:
            pass
        await executions(store, acc, tid)  # listing the task's executions must still work
    finally:
        await store.close()


async def test_the_latest_recorded_finish_keeps_the_task_outcome(store: Store) -> None:
    """Two runs of one task (overlapPolicy allow) recorded by two batches that commit in the other
    order: the task keeps the outcome and lastRunAt of the later one."""
    now = ms("2026-06-01T10:00:00Z")
    acc = await _account(store, now)
    tid = await make_task(store, acc, now, "quarterhourly", overlap_policy="allow", status="running")
    e1, e2 = await running_executions(store, acc, tid, 2, now)
    runs = store.runs
    assert ids_of(await runs.finish([Finished(e2, 1, tid, Outcome.FAILURE, "later", account_id=acc)], now + 20)) == [e2]
    assert ids_of(await runs.finish([Finished(e1, 1, tid, Outcome.SUCCESS, "earlier", account_id=acc)], now + 10)) == [
        e1
    ]
    t = await task(store, acc, tid)
    assert t is not None and (t["status"], t["outcome"], t["lastRunAt"]) == ("idle", "failure", now + 20)


async def test_a_cancelled_run_keeps_its_conversation_so_far_once(store: Store) -> None:
    """A cancelled run's partial conversation is written under the cancel (fenced on the attempt, once);
    a run handed back to the queue by a shutdown writes none."""
    now = ms("2026-06-01T10:00:30Z")
    acc = await _account(store, now)
    bot = await make_bot(store, acc, now, [{"type": "time"}, {"type": "wait", "config": {"seconds": 30}}])
    tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot, name="Check")
    clock = FakeClock(ms("2026-06-01T10:15:00Z"))
    await _scheduler(store, clock).run_until_idle(clock.now_ms())
    runs = store.runs
    worker = make_worker(store, clock, Settings(), "w1")
    await worker.claim_once(clock.now_ms())
    (run,) = worker.running.values()
    await asyncio.sleep(0.05)  # inside the wait
    canceled = await cancel(store, tid, clock.now_ms())
    worker.cancel_local(canceled)
    assert run.task is not None
    with pytest.raises(asyncio.CancelledError):
        await run.task
    await worker.drain()
    (ex,) = await executions(store, acc, tid)
    assert (ex["status"], ex["summary"]) == ("canceled", "Task execution canceled")
    (user, activity) = await conversation_messages(store, ex["conversationId"])
    assert user == ("user", "Check") and activity[1].startswith("time is ")
    again = Finished(ex["id"], 1, tid, Outcome.FAILURE, "", messages=[("user", "again")], account_id=acc)
    assert not await runs.keep_canceled(again, clock.now_ms())  # once only
    assert not await runs.keep_canceled(replace(again, attempt=2), clock.now_ms())  # another attempt
    assert len(await conversation_messages(store, ex["conversationId"])) == 2

    # a shutdown hands its runs back to the queue: they were not cancelled, nothing is kept
    clock.advance(15 * 60_000)
    await _scheduler(store, clock).run_until_idle(clock.now_ms())
    await worker.claim_once(clock.now_ms())
    await asyncio.sleep(0.05)
    (released,) = [e for e in await executions(store, acc, tid) if e["id"] != ex["id"]]
    await worker.shutdown(grace_ms=10)
    async with store.db.tx() as tx:
        row = await tx.fetchrow("SELECT state FROM task_executions WHERE id = $1", released["id"])
    assert row is not None and row["state"] == "queued"
    assert await conversation_messages(store, released["conversationId"]) == []


# -- concurrent ticks (PostgreSQL: several ticks at once on their own connections) --

LANE_SLOT = ms("2026-06-01T10:15:00Z")
LANE_BEFORE = ms("2026-06-01T10:14:30Z")


async def _count(store: Store, sql: str, *args: Any) -> int:
    async with store.db.tx() as tx:
        row = await tx.fetchrow(sql, *args)
    return int(row["n"]) if row else 0


@pytest.mark.postgres
@pytest.mark.parametrize("cap", ["max_concurrent_executions", "max_executions_per_day"])
async def test_two_concurrent_ticks_keep_the_account_limit(pg_url: str, cap: str) -> None:
    store = await open_store(pg_url)
    try:
        acc = await store.accounts.create_account("a", LANE_BEFORE)
        for _ in range(120):
            await make_task(store, acc, LANE_BEFORE, "quarterhourly")
        limits = {"max_concurrent_executions": 0, "max_executions_per_day": 0, cap: 30}
        sched = make_scheduler(store, FakeClock(LANE_SLOT), Settings(scheduler_batch=20, **limits))
        r = await sched.run_until_idle(LANE_SLOT)
        started = await _count(store, "SELECT COUNT(*) AS n FROM task_executions WHERE kind <> 'skip'")
        assert (r.fired, started) == (30, 30), f"{cap}=30 but {started} runs started"
    finally:
        await store.close()


@pytest.mark.postgres
async def test_two_concurrent_ticks_do_not_deadlock_on_account_usage(pg_url: str) -> None:
    """Each lane's batch meets 40 accounts in its own order; their usage rows are upserted in one
    order (before: a deadlock in 5 runs of 6)."""
    store = await open_store(pg_url)
    try:
        accounts = [await store.accounts.create_account(f"a{i}", LANE_BEFORE) for i in range(40)]
        rnd = random.Random(7)
        for i in range(1600):
            # distinct due times, accounts shuffled: each lane's batch meets the accounts in its own order
            await make_task(
                store, rnd.choice(accounts), LANE_BEFORE, "quarterhourly", next_run_at=LANE_SLOT - 10_000 + i
            )
        sched = make_scheduler(
            store,
            FakeClock(LANE_SLOT),
            Settings(scheduler_batch=200, max_concurrent_executions=0, max_executions_per_day=10**6),
        )
        r = await sched.run_until_idle(LANE_SLOT)
        assert r.fired == 1600
    finally:
        await store.close()


@pytest.mark.postgres
async def test_a_failing_concurrent_tick_does_not_leave_the_other_running(pg_url: str) -> None:
    store = await open_store(pg_url)
    try:
        acc = await store.accounts.create_account("a", LANE_BEFORE)
        for _ in range(60):
            await make_task(store, acc, LANE_BEFORE, "quarterhourly")
        sched = make_scheduler(store, FakeClock(LANE_SLOT), Settings(scheduler_batch=10, max_concurrent_executions=0))
        tick = sched.tick
        calls = 0

        async def flaky(at: int) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("one lane fails")
            await asyncio.sleep(0.05)
            return await tick(at)

        sched.tick = flaky  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            await sched.run_until_idle(LANE_SLOT)
        ticks_when_run_until_idle_returned = calls
        await asyncio.sleep(0.5)
        assert calls == ticks_when_run_until_idle_returned, "a lane kept ticking after run_until_idle raised"
    finally:
        await store.close()
