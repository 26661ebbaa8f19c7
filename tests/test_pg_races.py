"""Races that only PostgreSQL can produce (statements really suspend; READ COMMITTED snapshots):
concurrent settles of one task, and a claim in flight while the scheduler dispatches."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import asyncpg
import pytest

from agentcron import ids
from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.domain import Finished, Outcome, RunResult
from agentcron.signals import FinishedRun
from agentcron.store.base import Store, open_store
from agentcron.store.runs import RunStore
from agentcron.worker import Worker
from tests.runs_helpers import ids_of, make_bot, make_scheduler, make_task, make_worker, ms, running_executions

pytestmark = pytest.mark.anyio


async def test_concurrent_settles_of_one_task_leave_it_idle(pg_url: str) -> None:
    store = await open_store(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        now = ms("2026-06-01T10:00:00Z")
        acc = await store.accounts.create_account("a", now)
        tid = await make_task(store, acc, now, "quarterhourly", overlap_policy="allow", status="running")
        e1, e2 = await running_executions(store, acc, tid, 2, now)
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
            store.runs.finish([Finished(e2, 1, tid, Outcome.SUCCESS, "ok", account_id=acc)], now + 10)
        )
        await asyncio.sleep(0.3)  # our finish is now waiting on the task row
        assert not finishing.done()
        await tx1.commit()
        assert ids_of(await asyncio.wait_for(finishing, 10)) == [e2]
        async with store.db.tx() as tx:
            row = await tx.fetchrow("SELECT status, outcome FROM tasks WHERE id = $1", tid)
        assert row is not None and (row["status"], row["outcome"]) == ("idle", "success")
    finally:
        await other.close()
        await store.close()


async def _four_queued(store: Store) -> tuple[str, str, FakeClock, RunStore]:
    """An account, a bot that waits 30 s, and four executions queued at 10:15 (no worker took them)."""
    now = ms("2026-06-01T10:14:30Z")
    acc = await store.accounts.create_account("a", now)
    bot = await make_bot(store, acc, now, [{"type": "wait", "config": {"seconds": 30}}])
    for _ in range(4):
        await make_task(store, acc, now, "quarterhourly", bot_id=bot)
    clock = FakeClock(ms("2026-06-01T10:15:00Z"))
    runs = store.runs
    await make_scheduler(store, clock, Settings()).run_until_idle(clock.now_ms())
    return acc, bot, clock, runs


async def test_a_claim_in_flight_reserves_the_capacity_it_asked_for(pg_url: str) -> None:
    """While the worker's claim awaits the database, the scheduler in the same process must not hand the
    same capacity over by direct dispatch (the worker would briefly hold twice its concurrency)."""
    store = await open_store(pg_url)
    try:
        acc, bot, clock, runs = await _four_queued(store)
        worker = make_worker(store, clock, Settings(worker_concurrency=10), "w1")
        claim = asyncio.ensure_future(worker.claim_once(clock.now_ms()))
        await asyncio.sleep(0)  # the claim is now waiting on PostgreSQL
        assert not claim.done() and worker.room() == 0
        assert await claim == 4
        assert worker.room() == 6
        worker.cancel_local(list(worker.running))
    finally:
        await store.close()


async def test_an_outcome_the_database_refuses_does_not_hold_the_batch_hostage(pg_url: str) -> None:
    """One run's outcome cannot be stored (a message kind longer than its column): the others of the
    batch are recorded in full, that one as a failure without messages, and the worker's capacity comes
    back. NUL characters (which PostgreSQL text cannot hold) are dropped, not refused."""
    store = await open_store(pg_url)
    try:
        now = ms("2026-06-01T10:00:00Z")
        acc = await store.accounts.create_account("a", now)
        tid = await make_task(store, acc, now, "quarterhourly", overlap_policy="allow", status="running")
        good, bad = await running_executions(store, acc, tid, 2, now)
        conv_good, conv_bad = ids.new_id(now), ids.new_id(now)
        async with store.db.tx(write=True) as tx:
            for c in (conv_good, conv_bad):
                await tx.execute(
                    "INSERT INTO conversations (id, account_id, name, description, created_at, updated_at) "
                    "VALUES ($1, $2, 'c', '', $3, $3)",
                    c,
                    acc,
                    now,
                )
        worker = make_worker(store, FakeClock(now + 100))
        worker.outcomes.done = [
            FinishedRun(
                Finished(
                    good,
                    1,
                    tid,
                    "success",
                    "all\x00 done",
                    account_id=acc,
                    conversation_id=conv_good,
                    messages=[("bot", "hi\x00")],
                ),
                0,
            ),
            FinishedRun(
                Finished(
                    bad,
                    1,
                    tid,
                    "success",
                    "fine",
                    account_id=acc,
                    conversation_id=conv_bad,
                    messages=[("x" * 40, "too long a kind")],
                ),
                0,
            ),
        ]
        assert await worker.flush(now + 100) == 2
        assert worker.outcomes.done == []
        async with store.db.tx() as tx:
            rows = {
                r["id"]: r
                for r in await tx.fetch(
                    "SELECT id, state, outcome, summary FROM task_executions WHERE task_id = $1", tid
                )
            }
            task_row = await tx.fetchrow("SELECT status FROM tasks WHERE id = $1", tid)
            texts = [r["text"] for r in await tx.fetch("SELECT text FROM messages ORDER BY created_at")]
        assert (rows[good]["state"], rows[good]["outcome"], rows[good]["summary"]) == ("done", "success", "all done")
        assert (rows[bad]["state"], rows[bad]["outcome"]) == ("done", "failure")
        assert "could not be stored" in rows[bad]["summary"]
        assert task_row is not None and task_row["status"] == "idle"
        assert texts == ["hi"]  # the good run's message, NUL dropped; none of the refused run's
    finally:
        await store.close()


async def test_a_claim_skips_an_execution_another_transaction_holds(pg_url: str) -> None:
    """A cancel (or reap, or finish) holding an execution row and then waiting for its task must not
    meet a claim that holds the task and waits for that row: the claim skips the row instead."""
    store = await open_store(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        now = ms("2026-06-01T10:14:30Z")
        acc = await store.accounts.create_account("a", now)
        bot = await make_bot(store, acc, now)
        tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot)
        clock = FakeClock(ms("2026-06-01T10:15:00Z"))
        runs = store.runs
        await make_scheduler(store, clock, Settings()).run_until_idle(clock.now_ms())  # one queued execution
        tx1 = other.transaction()
        await tx1.start()
        held = await other.fetchval("SELECT id FROM task_executions WHERE task_id = $1 FOR UPDATE", tid)
        assert held is not None
        claimed = await asyncio.wait_for(runs.claim("w1", clock.now_ms(), 30_000, 10), 3)
        assert claimed == []
        await tx1.rollback()
        assert [c.execution_id for c in await runs.claim("w1", clock.now_ms(), 30_000, 10)] == [held]
    finally:
        await other.close()
        await store.close()


async def test_a_tick_and_a_claim_together_never_overfill_the_worker(pg_url: str) -> None:
    store = await open_store(pg_url)
    try:
        acc, bot, clock, runs = await _four_queued(store)
        now = ms("2026-06-01T10:14:30Z")
        for _ in range(4):
            await make_task(store, acc, now, "hourly", bot_id=bot, next_run_at=clock.now_ms())
        worker = make_worker(store, clock, Settings(worker_concurrency=4), "w1")
        sched = make_scheduler(store, clock, Settings())
        sched.local = worker
        # Hold the tick inside its transaction, after it planned direct dispatch, and claim meanwhile.
        gate, reached = asyncio.Event(), asyncio.Event()
        dispatch = store.firing.dispatch

        async def gated_dispatch(*args: Any, **kwargs: Any) -> Any:
            reached.set()
            await gate.wait()
            return await dispatch(*args, **kwargs)

        store.firing.dispatch = gated_dispatch  # type: ignore[method-assign]
        tick = asyncio.ensure_future(sched.tick(clock.now_ms()))
        try:
            await asyncio.wait_for(reached.wait(), 5)
            room, claimed = worker.room(), await worker.claim_once(clock.now_ms())
        finally:
            gate.set()
            fired = (await tick).fired
        assert (room, claimed, fired) == (0, 0, 4)
        assert len(worker.running) == 4
        worker.cancel_local(list(worker.running))
    finally:
        await store.close()


async def test_concurrent_ticks_fire_each_due_slot_once(pg_url: str) -> None:
    """`run_until_idle` runs `Settings.concurrent_ticks` ticks at once: both take batches (SKIP LOCKED keeps them
    disjoint), every slot fires exactly once, and the local worker never holds more than its room."""
    store = await open_store(pg_url)
    try:
        now = ms("2026-06-01T10:14:30Z")
        acc = await store.accounts.create_account("a", now)
        bot = await make_bot(store, acc, now)
        tids = [await make_task(store, acc, now, "quarterhourly", bot_id=bot) for _ in range(250)]
        clock = FakeClock(ms("2026-06-01T10:15:00Z"))
        worker = make_worker(store, clock, Settings(worker_concurrency=120), "w1")
        sched = make_scheduler(
            store, clock, Settings(scheduler_batch=50, max_concurrent_executions=0, max_executions_per_day=0)
        )
        sched.local = worker
        batches: list[int] = []
        tick = sched.tick

        async def counted(at: int) -> Any:
            r = await tick(at)
            batches.append(r.tasks)
            assert worker.capacity.active <= 120
            return r

        sched.tick = counted  # type: ignore[method-assign]
        r = await sched.run_until_idle(clock.now_ms())
        assert r.fired == 250 and sum(batches) == 250 and batches.count(0) >= 1
        await worker.drain()
        while await worker.claim_once(clock.now_ms()):  # runs that found no room went to the queue
            await worker.drain()
        async with store.db.tx() as tx:
            rows = await tx.fetch("SELECT task_id, state FROM task_executions")
        assert sorted(r["task_id"] for r in rows) == sorted(tids)  # one execution per slot, none lost
        assert {r["state"] for r in rows} == {"done"}
    finally:
        await store.close()


async def test_cancel_previous_never_runs_two_at_once(pg_url: str) -> None:
    store = await open_store(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        acc = await store.accounts.create_account("a", ms("2026-06-01T10:14:30Z"))
        bot = await make_bot(store, acc, ms("2026-06-01T10:14:30Z"), [{"type": "wait", "config": {"seconds": 30}}])
        tid = await make_task(
            store, acc, ms("2026-06-01T10:14:30Z"), "quarterhourly", bot_id=bot, overlap_policy="cancelPrevious"
        )
        clock = FakeClock(ms("2026-06-01T10:15:00Z"))
        worker = make_worker(store, clock, Settings(), "w1")
        sched = make_scheduler(store, clock, Settings())
        sched.local = worker
        assert (await sched.tick(ms("2026-06-01T10:15:00Z"))).fired == 1
        (e1,) = list(worker.running)
        nxt = ms("2026-06-01T10:30:00Z")
        clock.value = nxt
        # the worker's heartbeat transaction holds e1's row for a moment
        tx = other.transaction()
        await tx.start()
        await other.execute("UPDATE task_executions SET lease_until = lease_until + 1 WHERE id = $1", e1)
        r = await sched.tick(nxt)
        await tx.commit()
        assert r.fired == 1
        async with store.db.tx() as rtx:
            row = await rtx.fetchrow(
                "SELECT COUNT(*) AS n FROM task_executions WHERE task_id = $1 AND state = 'running'", tid
            )
        running = int(row["n"]) if row else 0
        assert running == 1, f"{running} runs of a cancelPrevious task running at once"
        worker.cancel_local(list(worker.running))
    finally:
        await other.close()
        await store.close()


class _GatedRunner:
    """A bot that finishes when the test opens its execution's gate."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}

    async def run(self, job: Any, emit: Any) -> RunResult:
        await self.gates.setdefault(job.execution_id, asyncio.Event()).wait()
        return RunResult(Outcome.SUCCESS, f"done {job.execution_id}")


async def _true(value: bool) -> bool:
    return value


async def _waiting(conn: asyncpg.Connection, n: int) -> bool:
    """Whether ``n`` backends of this database wait on a lock. (Inside a transaction the statistics views
    answer from a snapshot taken at their first read: it is cleared first, or a waiter arriving after that
    read would never be seen.)"""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    return int(await conn.fetchval(sql)) == n


async def _eventually(check: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def _claimed(
    store: Store, now: int, runs_per_task: tuple[int, ...], **task_cols: Any
) -> tuple[Worker, _GatedRunner, list[str], list[str]]:
    """Tasks with ``runs_per_task`` queued executions each, all claimed by a worker whose bots wait for
    their gates: (worker, runner, task ids, execution ids in task order)."""
    acc = await store.accounts.create_account("a", now)
    bot = await make_bot(store, acc, now)
    tasks = [await make_task(store, acc, now, "quarterhourly", bot_id=bot, **task_cols) for _ in runs_per_task]
    execs = [
        e for t, n in zip(tasks, runs_per_task, strict=True) for e in await running_executions(store, acc, t, n, now)
    ]
    async with store.db.tx(write=True) as tx:  # back to the queue, for this worker to claim
        await tx.execute("UPDATE task_executions SET state = 'queued', status = 'idle', attempt = 0")
    runner = _GatedRunner()
    worker = make_worker(store, FakeClock(now + 1000), Settings(worker_concurrency=10), "w1", runner)
    assert await worker.claim_once(now + 1000) == len(execs)
    return worker, runner, tasks, execs


async def test_two_outcome_batches_are_written_at_once_and_settle_their_shared_task(pg_url: str) -> None:
    """On PostgreSQL a worker writes up to two outcome batches at once (recording one at a time was the
    fire rate's bottleneck). Here both wait on the same task row, held by another transaction: both
    are in flight together, the heartbeat renews the third run without touching either batch (it would
    wait on their rows), and once the row is free the task ends idle with both outcomes recorded."""
    store = await open_store(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        now = ms("2026-06-01T10:00:00Z")
        worker, runner, (tid,), (e1, e2, e3) = await _claimed(store, now, (3,), overlap_policy="allow")
        tx1 = other.transaction()
        await tx1.start()
        await other.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", tid)
        flushes = []
        for e in (e1, e2):
            runner.gates.setdefault(e, asyncio.Event()).set()
            await _eventually(lambda: _true(len(worker.outcomes.done) == 1))
            flushes.append(asyncio.ensure_future(worker.flush(now + 2000)))
            await _eventually(functools.partial(_waiting, other, len(flushes)))  # waits on the task row
        assert not any(f.done() for f in flushes)
        assert await asyncio.wait_for(worker.heartbeat_once(now + 3000), 5) == set()
        await tx1.commit()
        assert [await asyncio.wait_for(f, 10) for f in flushes] == [1, 1]
        async with store.db.tx() as tx:
            row = await tx.fetchrow("SELECT status, outcome FROM tasks WHERE id = $1", tid)
            states = {
                r["id"]: r["state"]
                for r in await tx.fetch("SELECT id, state FROM task_executions WHERE task_id = $1", tid)
            }
        assert row is not None and (row["status"], row["outcome"]) == ("running", "success")  # e3 still runs
        assert states == {e1: "done", e2: "done", e3: "running"}
        runner.gates.setdefault(e3, asyncio.Event()).set()
        await worker.drain()
        async with store.db.tx() as tx:
            row = await tx.fetchrow("SELECT status FROM tasks WHERE id = $1", tid)
        assert row is not None and row["status"] == "idle"
    finally:
        await other.close()
        await store.close()


async def test_shutdown_keeps_the_outcome_of_a_batch_another_lane_is_writing(pg_url: str) -> None:
    """Shutdown flushes on a lane of its own; the completer's batch, still in flight on the other, must
    commit before the loops are cancelled and the rest released: else a run that succeeded is rolled
    back, requeued and run again elsewhere."""
    store = await open_store(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        now = ms("2026-06-01T10:00:00Z")
        worker, runner, (t1, _), (e1, e2) = await _claimed(store, now, (1, 1))
        worker.start()
        tx1 = other.transaction()  # another transaction holds t1's row for a moment
        await tx1.start()
        await other.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", t1)
        runner.gates.setdefault(e1, asyncio.Event()).set()
        await _eventually(functools.partial(_waiting, other, 1))  # the completer's flush of e1 waits on it
        runner.gates.setdefault(e2, asyncio.Event()).set()
        await _eventually(lambda: _true(len(worker.outcomes.done) == 1))  # e2 finished, waiting for a flush
        asyncio.get_running_loop().call_later(0.5, lambda: asyncio.ensure_future(tx1.commit()))
        await asyncio.wait_for(worker.shutdown(2000), 10)
        async with store.db.tx() as tx:
            rows = await tx.fetch("SELECT id, state, outcome FROM task_executions")
        assert {r["id"]: (r["state"], r["outcome"]) for r in rows} == {
            e1: ("done", "success"),
            e2: ("done", "success"),
        }
    finally:
        await other.close()
        await store.close()


async def test_drain_waits_for_a_batch_another_lane_is_writing(pg_url: str) -> None:
    """Runs being written by another flush are still listed as running: `drain` must wait for that
    write, not spin on flushes that find nothing to do (that froze the event loop)."""
    store = await open_store(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        now = ms("2026-06-01T10:00:00Z")
        worker, runner, (t1, _), execs = await _claimed(store, now, (1, 1))
        for e in execs:
            runner.gates.setdefault(e, asyncio.Event()).set()
        await _eventually(lambda: _true(len(worker.outcomes.done) == 2))
        tx1 = other.transaction()
        await tx1.start()
        await other.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", t1)
        in_flight = asyncio.ensure_future(worker.flush(now + 2000))
        await _eventually(functools.partial(_waiting, other, 1))
        flushes = 0
        real_flush = worker.flush

        async def counted(at: int) -> int:
            nonlocal flushes
            flushes += 1
            assert flushes < 1000, "drain spins instead of waiting for the batch in flight"
            return await real_flush(at)

        worker.flush = counted  # type: ignore[method-assign]
        asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(tx1.commit()))
        await asyncio.wait_for(worker.drain(), 10)
        assert await in_flight == 2 and not worker.running
    finally:
        await other.close()
        await store.close()


async def test_a_flush_takes_no_batch_while_the_heartbeat_renews(pg_url: str) -> None:
    """The heartbeat renews finished runs not yet recorded too; a flush that took them meanwhile would
    lock the same rows as the renewal, in another order (a deadlock). It waits for the renewal."""
    store = await open_store(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        now = ms("2026-06-01T10:00:00Z")
        worker, runner, _, (e1, e2) = await _claimed(store, now, (1, 1))
        runner.gates.setdefault(e1, asyncio.Event()).set()
        await _eventually(lambda: _true(len(worker.outcomes.done) == 1))
        tx1 = other.transaction()  # holds e2's row: the renewal waits on it
        await tx1.start()
        await other.execute("SELECT 1 FROM task_executions WHERE id = $1 FOR UPDATE", e2)
        renewal = asyncio.ensure_future(worker.heartbeat_once(now + 2000))
        await _eventually(functools.partial(_waiting, other, 1))
        flush = asyncio.ensure_future(worker.flush(now + 2000))
        await asyncio.sleep(0.1)
        assert not flush.done() and len(worker.outcomes.done) == 1  # e1 not taken while the renewal runs
        await tx1.commit()
        assert await asyncio.wait_for(renewal, 10) == set()
        assert await asyncio.wait_for(flush, 10) == 1
        runner.gates.setdefault(e2, asyncio.Event()).set()
        await worker.drain()
    finally:
        await other.close()
        await store.close()
