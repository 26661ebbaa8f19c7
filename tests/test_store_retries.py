"""Retries, failed slots and the pause after failures in the store and the scheduler (agentcron.store.retries),
on SQLite and PostgreSQL with an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from agentcron.clock import FakeClock
from agentcron.domain import Finished, Job, Outcome
from agentcron.store.base import Store
from agentcron.store.resources import json_in
from tests.runs_helpers import executions, make_janitor, make_scheduler, make_task, ms, task

pytestmark = pytest.mark.anyio
LEASE = 30_000


class Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def policy(**kw: Any) -> str | None:
    return json_in({"maxAttempts": 3, "initialDelayMs": 10_000, "maxDelayMs": 60_000, "multiplier": 2, **kw})


async def claim_one(store: Store, now: int) -> Job:
    (job,) = await store.runs.claim("w1", now, LEASE, 10)
    return job


async def fail(store: Store, job: Job, now: int, code: str = "TOOL_ERROR", **kw: Any) -> Finished:
    summary = f"failed at {now}"
    result = Finished(job.execution_id, job.attempt, job.task.id, Outcome.FAILURE, summary, error_code=code, **kw)
    (done,) = await store.runs.finish([result], now)
    return done


async def succeed(store: Store, job: Job, now: int) -> None:
    await store.runs.finish([Finished(job.execution_id, job.attempt, job.task.id, Outcome.SUCCESS, "ok")], now)


async def test_a_failed_run_is_retried_after_its_delay_until_the_last_attempt(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now - 1000, "hourly", retry_policy=policy(), pause_after_failures=5)
    store.runs.rng = Fixed(0.5)
    sched = make_scheduler(store, FakeClock(now))
    assert (await sched.run_until_idle(now)).fired == 1
    first = await claim_one(store, now)
    t1 = now + 2000
    done = await fail(store, first, t1)
    assert done.retry_at == t1 + 5000  # half of the 10 s bound
    ex = await executions(store, acc, tid)
    assert len(ex) == 2
    retry = ex[1]
    chain = (retry["trigger"], retry["attempt"], retry["retryOf"], retry["scheduledFor"])
    assert chain == ("retry", 2, first.execution_id, now)
    assert (retry["status"], retry["outcome"], retry["resumeAt"]) == ("idle", "pending", "2026-06-01T10:00:07.000Z")
    t = await task(store, acc, tid)
    assert t is not None and (t["status"], t["outcome"], t["consecutiveFailures"]) == ("idle", "failure", 0)
    # waiting: no worker takes it before its time, and the scheduler wakes for it
    assert await store.runs.claim("w1", t1, LEASE, 10) == []
    assert await store.firing.next_due_at() == t1 + 5000
    await sched.run_until_idle(t1 + 4999)
    assert await store.runs.claim("w1", t1 + 4999, LEASE, 10) == []
    queued = await sched.queue_retries(t1 + 5000)
    assert [r.execution_id for r in queued] == [retry["id"]]
    second = await claim_one(store, t1 + 5000)
    assert (second.execution_id, second.try_number, second.kind, second.scheduled_for) == (retry["id"], 2, "retry", now)
    assert second.instruction.endswith(f"This is attempt 2 of 3: the previous attempt failed: failed at {t1}")
    # the second failure carries the vendor's Retry-After, longer than the backoff: it wins
    t2 = t1 + 6000
    done = await fail(store, second, t2, "MODEL_ERROR", retry_after_ms=45_000)
    assert done.retry_at == t2 + 45_000
    await sched.run_until_idle(t2 + 45_000)
    third = await claim_one(store, t2 + 45_000)
    assert third.try_number == 3 and "attempt 3 of 3" in third.instruction and f"failed at {t2}" in third.instruction
    done = await fail(store, third, t2 + 50_000)
    assert done.retry_at is None and done.paused is None  # the last attempt: the slot failed, once
    ex = await executions(store, acc, tid)
    assert [(e["attempt"], e["trigger"], e["retryOf"], e["outcome"]) for e in ex] == [
        (1, "schedule", None, "failure"),
        (2, "retry", first.execution_id, "failure"),
        (3, "retry", first.execution_id, "failure"),
    ]
    t = await task(store, acc, tid)
    assert t is not None and t["consecutiveFailures"] == 1


async def test_failures_that_are_never_retried_count_at_once(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, None, retry_policy=policy())
    for i, code in enumerate(("MAX_CALLS", "TIME_LIMIT", "MAX_ITERATIONS", None)):
        await store.tasks.trigger(acc, tid, now + i, 0, 0)
        done = await fail(store, await claim_one(store, now + i), now + i, code)
        assert done.retry_at is None
    assert len(await executions(store, acc, tid)) == 4
    t = await task(store, acc, tid)
    assert t is not None and t["consecutiveFailures"] == 4


async def test_consecutive_failed_slots_pause_the_task_and_a_success_resets_the_count(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, "daily", pause_after_failures=2)

    async def run(at: int, ok: bool) -> Finished | None:
        await store.tasks.trigger(acc, tid, at, 0, 0)
        job = await claim_one(store, at)
        if ok:
            await succeed(store, job, at)
            return None
        return await fail(store, job, at)

    await run(now, False)
    t = await task(store, acc, tid)
    assert t is not None and t["consecutiveFailures"] == 1
    await run(now + 1, True)
    t = await task(store, acc, tid)
    assert t is not None and t["consecutiveFailures"] == 0
    first = await run(now + 2, False)
    assert first is not None and first.paused is None
    second = await run(now + 3, False)
    assert second is not None and second.paused == "Paused after 2 consecutive failures"
    t = await task(store, acc, tid)
    assert t is not None
    assert (t["consecutiveFailures"], t["pausedAt"], t["pauseReason"], t["nextRunAt"]) == (
        2,
        now + 3,
        "Paused after 2 consecutive failures",
        None,
    )
    # resumed by hand, the count starts again (one more failure does not pause it at once); a success resets it
    assert await store.tasks.resume(acc, tid, now + 4)
    t = await task(store, acc, tid)
    assert t is not None and (t["consecutiveFailures"], t["pausedAt"]) == (0, None)
    again = await run(now + 5, False)
    assert again is not None and again.paused is None
    await run(now + 6, True)
    t = await task(store, acc, tid)
    assert t is not None and (t["consecutiveFailures"], t["pausedAt"]) == (0, None)


async def test_a_retry_still_waiting_when_the_next_slot_fires_is_superseded(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    long = policy(initialDelayMs=7_200_000, maxDelayMs=7_200_000)
    tid = await make_task(store, acc, now - 1000, "hourly", retry_policy=long)
    store.runs.rng = Fixed(0.9)  # 108 minutes: after the next slot
    sched = make_scheduler(store, FakeClock(now))
    await sched.run_until_idle(now)
    first = await claim_one(store, now)
    done = await fail(store, first, now + 1000)
    assert done.retry_at == now + 1000 + 6_480_000
    r = await sched.run_until_idle(ms("2026-06-01T11:00:00Z"))
    assert r.fired == 1
    ex = await executions(store, acc, tid)
    assert [(e["trigger"], e["status"], e["outcome"], e["reason"]) for e in ex] == [
        ("schedule", "idle", "failure", None),
        ("retry", "canceled", "failure", "superseded"),
        ("schedule", "idle", "pending", None),
    ]
    t = await task(store, acc, tid)
    assert t is not None and t["consecutiveFailures"] == 1  # the superseded retry's slot failed
    assert await store.firing.next_due_at() == ms("2026-06-01T12:00:00Z")  # nothing waits any more


async def test_a_superseded_slot_can_pause_the_task_before_its_next_slot_runs(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    long = policy(initialDelayMs=7_200_000, maxDelayMs=7_200_000)
    tid = await make_task(store, acc, now - 1000, "hourly", retry_policy=long, pause_after_failures=1)
    store.runs.rng = Fixed(0.9)
    sched = make_scheduler(store, FakeClock(now))
    await sched.run_until_idle(now)
    await fail(store, await claim_one(store, now), now + 1000)
    r = await sched.run_until_idle(ms("2026-06-01T11:00:00Z"))
    assert r.fired == 0
    t = await task(store, acc, tid)
    assert t is not None and (t["pauseReason"], t["nextRunAt"]) == ("Paused after 1 consecutive failures", None)
    assert [e["trigger"] for e in await executions(store, acc, tid)] == ["schedule", "retry"]


async def test_cancel_cancels_waiting_retries_and_delete_removes_them(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, None, retry_policy=policy())
    store.runs.rng = Fixed(0.5)
    await store.tasks.trigger(acc, tid, now, 0, 0)
    await fail(store, await claim_one(store, now), now)
    retry = (await executions(store, acc, tid))[1]
    assert await store.tasks.cancel(acc, tid, now + 1) == [retry["id"]]
    ex = await executions(store, acc, tid)
    assert (ex[1]["status"], ex[1]["outcome"]) == ("canceled", "failure")
    await make_scheduler(store, FakeClock(now)).run_until_idle(now + 60_000)
    assert await store.runs.claim("w1", now + 60_000, LEASE, 10) == []
    t = await task(store, acc, tid)
    assert t is not None and t["consecutiveFailures"] == 0  # a cancel is not a failed slot
    # a new failure waits again; deleting the task removes it with the task
    await store.tasks.trigger(acc, tid, now + 2, 0, 0)
    await fail(store, await claim_one(store, now + 2), now + 2)
    async with store.transaction() as tx:
        row = await tx.fetchrow("SELECT * FROM tasks WHERE id = $1", tid)
        assert row is not None
        await store.tasks.delete(tx, row, now + 3)
    async with store.db.tx() as tx:
        left = await tx.fetch("SELECT id FROM task_executions WHERE task_id = $1", tid)
    assert left == []
    assert await store.firing.next_due_at() is None


async def test_pausing_cancels_waiting_retries_and_leaves_queued_runs_and_the_last_run_alone(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, "hourly", retry_policy=policy())
    store.runs.rng = Fixed(0.5)
    await store.tasks.trigger(acc, tid, now, 0, 0)
    await fail(store, await claim_one(store, now), now)
    retry = (await executions(store, acc, tid))[1]
    await store.tasks.trigger(acc, tid, now + 1, 0, 0)  # a manual run queued: it goes on
    before = await task(store, acc, tid)
    assert before is not None
    assert await store.tasks.pause(acc, tid, now + 2, "investigating", None) == [retry["id"]]
    ex = {e["id"]: e for e in await executions(store, acc, tid)}
    assert (ex[retry["id"]]["status"], ex[retry["id"]]["summary"]) == (
        "canceled",
        "Canceled: the task was paused before this retry ran",
    )
    states = sorted((e["status"], e["outcome"]) for e in ex.values())
    assert states == [("canceled", "failure"), ("idle", "failure"), ("idle", "pending")]  # the manual run queued
    after = await task(store, acc, tid)
    assert after is not None and after["pausedAt"] == now + 2
    # the task did not run again: its last run, outcome and failure count are those of the failed attempt
    keys = ("lastRunAt", "outcome", "status", "consecutiveFailures")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    # nothing waits any more: the scheduler has no retry to queue, ever
    await make_scheduler(store, FakeClock(now)).run_until_idle(now + 3_600_000)
    assert [j.execution_id for j in await store.runs.claim("w1", now + 3_600_000, LEASE, 10)] == [
        e["id"] for e in ex.values() if e["outcome"] == "pending"
    ]


async def test_a_run_whose_worker_was_lost_is_retried(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, None, retry_policy=policy())
    store.housekeeping.rng = Fixed(0.5)
    await store.tasks.trigger(acc, tid, now, 0, 0)
    (job,) = await store.runs.claim("w1", now, 1000, 10)
    janitor = make_janitor(store, FakeClock(now))
    assert await janitor.reap_once(now + 2000) == [job.execution_id]
    ex = await executions(store, acc, tid)
    assert [(e["trigger"], e["attempt"], e["retryOf"]) for e in ex] == [
        ("trigger", 1, None),
        ("retry", 2, job.execution_id),
    ]
    assert ex[1]["resumeAt"] == "2026-06-01T10:00:07.000Z"
    sched = make_scheduler(store, FakeClock(now))
    await sched.run_until_idle(now + 7000)
    retry = await claim_one(store, now + 7000)
    assert "the previous attempt failed: Worker lost" in retry.instruction


async def test_a_catch_up_run_is_told_what_it_missed(store: Store) -> None:
    created = ms("2026-06-01T10:00:30Z")
    acc = await store.accounts.create_account("a", created)
    await make_task(store, acc, created, "hourly")
    sched = make_scheduler(store, FakeClock(created))
    r = await sched.run_until_idle(ms("2026-06-01T13:30:00Z"))  # down from before 11:00 until 13:30
    assert r.fired == 1
    job = await claim_one(store, ms("2026-06-01T13:30:00Z"))
    assert (job.kind, job.missed_count, job.missed_since) == ("catchup", 2, ms("2026-06-01T11:00:00Z"))
    assert job.instruction.endswith(
        "This is a catch-up run: the service was not running, and 2 scheduled runs since 2026-06-01T11:00:00Z did "
        "not happen. This run stands for them and for the slot of 2026-06-01T13:00:00Z."
    )
