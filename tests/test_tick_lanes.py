"""Concurrent tick lanes on PostgreSQL (`Scheduler.run_until_idle`, `PG_TICK_LANES`): account limits hold
across lanes, lanes never deadlock on the usage counters, and a failed lane leaves nothing running."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.scheduler import Scheduler
from agentcron.store.base import Store, open_store
from agentcron.store.runs import RunStore
from tests.runs_helpers import make_task, ms

pytestmark = pytest.mark.anyio

SLOT = ms("2026-06-01T10:15:00Z")
BEFORE = ms("2026-06-01T10:14:30Z")


async def _count(store: Store, sql: str, *args: Any) -> int:
    async with store.db.tx() as tx:
        row = await tx.fetchrow(sql, *args)
    return int(row["n"]) if row else 0


@pytest.mark.parametrize("cap", ["max_concurrent_executions", "max_executions_per_day"])
async def test_two_lanes_keep_the_account_limit(pg_url: str, cap: str) -> None:
    store = await open_store(pg_url)
    try:
        acc = await store.create_account("a", BEFORE)
        for _ in range(120):
            await make_task(store, acc, BEFORE, "quarterhourly")
        limits = {"max_concurrent_executions": 0, "max_executions_per_day": 0, cap: 30}
        sched = Scheduler(RunStore(store), Settings(scheduler_batch=20, **limits), FakeClock(SLOT))  # type: ignore[arg-type]
        r = await sched.run_until_idle(SLOT)
        started = await _count(store, "SELECT COUNT(*) AS n FROM task_executions WHERE kind <> 'skip'")
        assert (r.fired, started) == (30, 30), f"{cap}=30 but {started} runs started"
    finally:
        await store.close()


async def test_two_lanes_do_not_deadlock_on_account_usage(pg_url: str) -> None:
    """Each lane's batch meets 40 accounts in its own order; their usage rows are upserted in one
    order (before: a deadlock in 5 runs of 6)."""
    store = await open_store(pg_url)
    try:
        accounts = [await store.create_account(f"a{i}", BEFORE) for i in range(40)]
        rnd = random.Random(7)
        for i in range(1600):
            # distinct due times, accounts shuffled: each lane's batch meets the accounts in its own order
            await make_task(store, rnd.choice(accounts), BEFORE, "quarterhourly", next_run_at=SLOT - 10_000 + i)
        sched = Scheduler(
            RunStore(store),
            Settings(scheduler_batch=200, max_concurrent_executions=0, max_executions_per_day=10**6),
            FakeClock(SLOT),
        )
        r = await sched.run_until_idle(SLOT)
        assert r.fired == 1600
    finally:
        await store.close()


async def test_a_failing_lane_does_not_leave_the_other_running(pg_url: str) -> None:
    store = await open_store(pg_url)
    try:
        acc = await store.create_account("a", BEFORE)
        for _ in range(60):
            await make_task(store, acc, BEFORE, "quarterhourly")
        sched = Scheduler(RunStore(store), Settings(scheduler_batch=10, max_concurrent_executions=0), FakeClock(SLOT))
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
            await sched.run_until_idle(SLOT)
        ticks_when_run_until_idle_returned = calls
        await asyncio.sleep(0.5)
        assert calls == ticks_when_run_until_idle_returned, "a lane kept ticking after run_until_idle raised"
    finally:
        await store.close()
