"""Races that only PostgreSQL can produce (statements really suspend; READ COMMITTED snapshots):
concurrent settles of one task, and a claim in flight while the scheduler dispatches."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from agentcron import ids
from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.engine.runner import BasicRunner
from agentcron.scheduler import Scheduler
from agentcron.store.base import open_store
from agentcron.store.runs import Finished, RunStore
from agentcron.worker import Worker
from tests.runs_helpers import make_bot, make_task, ms

pytestmark = pytest.mark.anyio


async def test_concurrent_settles_of_one_task_leave_it_idle(pg_url: str) -> None:
    store = await open_store(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        now = ms("2026-06-01T10:00:00Z")
        acc = await store.create_account("a", now)
        tid = await make_task(store, acc, now, "quarterhourly", overlap_policy="allow", status="running")
        e1, e2 = ids.new_id(now), ids.new_id(now + 1)
        async with store.db.tx(write=True) as tx:
            for i, e in enumerate((e1, e2)):
                await tx.execute(
                    "INSERT INTO task_executions (id, account_id, task_id, name, description, status, outcome, "
                    "state, kind, scheduled_for, attempt, created_at, updated_at) "
                    "VALUES ($1, $2, $3, 't', '', 'running', 'pending', 'running', 'schedule', $4, 1, $4, $4)",
                    e,
                    acc,
                    tid,
                    now + i,
                )
        # Another worker's finish of e1, caught between its settle and its commit: it has marked e1 done
        # and settled the task while e2 still looked running to it.
        tx1 = other.transaction()
        await tx1.start()
        await other.execute("UPDATE task_executions SET state = 'done', status = 'idle' WHERE id = $1", e1)
        await other.execute(
            "UPDATE tasks SET status = CASE WHEN EXISTS (SELECT 1 FROM task_executions r WHERE r.task_id = tasks.id "
            "AND r.state IN ('queued', 'running') AND r.state = 'running') THEN 'running' ELSE 'idle' END "
            "WHERE id = $1",
            tid,
        )
        finishing = asyncio.ensure_future(
            RunStore(store).finish([Finished(e2, 1, tid, "success", "ok", account_id=acc)], now + 10)
        )
        await asyncio.sleep(0.3)  # our finish is now waiting on the task row
        assert not finishing.done()
        await tx1.commit()
        assert await asyncio.wait_for(finishing, 10) == [e2]
        async with store.db.tx() as tx:
            row = await tx.fetchrow("SELECT status, outcome FROM tasks WHERE id = $1", tid)
        assert row is not None and (row["status"], row["outcome"]) == ("idle", "success")
    finally:
        await other.close()
        await store.close()


async def test_a_claim_in_flight_reserves_the_capacity_it_asked_for(pg_url: str) -> None:
    """While the worker's claim awaits the database, the scheduler in the same process must not hand the
    same capacity over by direct dispatch (the worker would briefly hold twice its concurrency)."""
    store = await open_store(pg_url)
    try:
        now = ms("2026-06-01T10:14:30Z")
        acc = await store.create_account("a", now)
        bot = await make_bot(store, acc, now, [{"type": "wait", "config": {"seconds": 30}}])
        for _ in range(4):
            await make_task(store, acc, now, "quarterhourly", bot_id=bot)
        clock = FakeClock(ms("2026-06-01T10:15:00Z"))
        runs = RunStore(store)
        await Scheduler(runs, Settings(), clock).run_until_idle(clock.now_ms())  # 4 queued, no local worker
        worker = Worker(runs, Settings(worker_concurrency=10), clock, BasicRunner(), "w1")
        claim = asyncio.ensure_future(worker.claim_once(clock.now_ms()))
        await asyncio.sleep(0)  # the claim is now waiting on PostgreSQL
        assert not claim.done() and worker.dispatch_room() == 0
        assert await claim == 4
        assert worker.dispatch_room() == 6
        worker.cancel_local(list(worker.running))
    finally:
        await store.close()
