"""Pausing in the store and the scheduler (agentcron.store.pausing), on an injected clock."""

from __future__ import annotations

import pytest

from agentcron.clock import FakeClock
from agentcron.store.base import Store
from tests.runs_helpers import executions, make_scheduler, make_task, ms, task

pytestmark = pytest.mark.anyio
HOUR = 3_600_000


async def test_a_paused_task_does_not_fire_and_resumes_at_until_without_catch_up(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, "hourly")
    until = ms("2026-06-01T13:30:00Z")
    await store.tasks.pause(acc, tid, now, "quiet hours", until)
    sched = make_scheduler(store, FakeClock(now))
    for hour in (11, 12, 13):  # three slots come and go while paused
        r = await sched.run_until_idle(ms(f"2026-06-01T{hour}:00:00Z"))
        assert (r.tasks, r.fired) == (0, 0)
    assert await store.firing.resume_due(until - 1) == []
    assert await store.firing.resume_due(until) == [tid]
    t = await task(store, acc, tid)
    assert t is not None
    assert (t["pausedAt"], t["pauseReason"], t["pausedUntil"]) == (None, None, None)
    assert t["nextRunAt"] == ms("2026-06-01T14:00:00Z")  # from now: the slots passed while paused are not run
    assert await store.firing.resume_due(until + HOUR) == []  # once
    r = await sched.run_until_idle(ms("2026-06-01T14:00:00Z"))
    assert r.fired == 1
    assert [e["scheduledFor"] for e in await executions(store, acc, tid)] == [ms("2026-06-01T14:00:00Z")]


async def test_pausing_again_keeps_when_it_was_paused_and_resume_reports_a_no_op(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, "hourly")
    assert not await store.tasks.resume(acc, tid, now)  # not paused: nothing to do
    await store.tasks.pause(acc, tid, now, "one", None)
    await store.tasks.pause(acc, tid, now + 5000, "two", now + HOUR)
    t = await task(store, acc, tid)
    assert t is not None and (t["pausedAt"], t["pauseReason"], t["pausedUntil"]) == (now, "two", now + HOUR)
    assert await store.tasks.resume(acc, tid, now + 10_000)
    t = await task(store, acc, tid)
    assert t is not None and t["pausedAt"] is None and t["nextRunAt"] == ms("2026-06-01T11:00:00Z")
