"""The janitor: reaping runs whose lease lapsed, retention pruning, expired tasks; on SQLite and PostgreSQL,
driven by an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.domain import Finished, Outcome
from agentcron.janitor import DAY_MS
from agentcron.signals import RunsReaped
from agentcron.store.base import Store
from agentcron.store.housekeeping import WORKER_LOST
from tests.runs_helpers import (
    executions,
    make_janitor,
    make_scheduler,
    make_task,
    ms,
    queue_trigger,
    running_executions,
    task,
)

pytestmark = pytest.mark.anyio
MIN = 60_000
HOUR = 3_600_000


async def _count(store: Store, sql: str, *args: Any) -> int:
    async with store.db.tx() as tx:
        row = await tx.fetchrow(sql, *args)
    assert row is not None
    return int(row["n"])


# -- reaping --------------------------------------------------------------------------------------------


async def test_a_reaped_run_cannot_be_overwritten_by_its_late_worker(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, "quarterhourly")
    clock = FakeClock(ms("2026-06-01T10:15:00Z"))
    await make_scheduler(store, clock).run_until_idle(clock.now_ms())
    runs = store.runs
    (job,) = await runs.claim("w1", clock.now_ms(), 30_000, 10)
    janitor = make_janitor(store, clock, Settings())
    assert await janitor.reap_once(clock.now_ms() + 29_000) == []
    assert await janitor.reap_once(clock.now_ms() + 31_000) == [job.execution_id]
    late = Finished(job.execution_id, job.attempt, tid, Outcome.SUCCESS, "late", account_id=acc)
    assert await runs.finish([late], clock.now_ms() + 40_000) == []
    (ex,) = await executions(store, acc, tid)
    assert (ex["outcome"], ex["summary"][:11]) == ("failure", "Worker lost")
    t = await task(store, acc, tid)
    assert t is not None and (t["status"], t["outcome"]) == ("idle", "failure")
    assert await runs.heartbeat([(job.execution_id, job.attempt)], clock.now_ms(), 30_000) == {job.execution_id}


async def test_reap_once_signals_the_reaped_runs_only(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, None)
    a, b = await running_executions(store, acc, tid, 2, now)
    async with store.db.tx(write=True) as tx:  # a's lease lapses first; b's is still good later on
        await tx.execute("UPDATE task_executions SET lease_until = $2 WHERE id = $1", a, now + 1000)
        await tx.execute("UPDATE task_executions SET lease_until = $2 WHERE id = $1", b, now + 60_000)
    janitor = make_janitor(store, FakeClock(now))
    seen: list[RunsReaped] = []
    janitor.signals.connect(RunsReaped, seen.append)
    assert await janitor.reap_once(now + 1000) == []  # lapses strictly after lease_until
    assert seen == []
    assert await janitor.reap_once(now + 1001) == [a]
    assert [list(s.execution_ids) for s in seen] == [[a]]
    t = await task(store, acc, tid)
    assert t is not None and t["status"] == "running"  # b still runs
    assert await janitor.reap_once(now + 60_001) == [b]
    assert [list(s.execution_ids) for s in seen] == [[a], [b]]
    exs = {e["id"]: e for e in await executions(store, acc, tid)}
    assert {e["summary"] for e in exs.values()} == {WORKER_LOST}
    assert exs[b]["completedAt"] is not None
    t = await task(store, acc, tid)
    assert t is not None and (t["status"], t["outcome"], t["lastRunAt"]) == ("idle", "failure", now + 60_001)


# -- pruning --------------------------------------------------------------------------------------------


async def test_retention_keeps_runs_that_have_not_ended(store: Store) -> None:
    now = ms("2026-01-01T00:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, None)
    await queue_trigger(store, tid, now)
    (running,) = await running_executions(store, acc, tid, 1, now)
    (done,) = await running_executions(store, acc, tid, 1, now + 1)
    await store.runs.finish([Finished(done, 1, tid, Outcome.SUCCESS, "ok", account_id=acc)], now + 2)
    janitor = make_janitor(store, FakeClock(now), Settings(retention_days=1))
    assert await janitor.prune_once(now + 2 * DAY_MS) == 1
    assert sorted(e["status"] for e in await executions(store, acc, tid)) == ["idle", "running"]
    assert running in {e["id"] for e in await executions(store, acc, tid)}


async def test_prune_once_deletes_expired_tasks_that_are_not_running(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    expired = await make_task(store, acc, now, None, expires_at=now + MIN)
    busy = await make_task(store, acc, now, None, expires_at=now + MIN, status="running")
    later = await make_task(store, acc, now, None, expires_at=now + HOUR)
    await queue_trigger(store, expired, now)
    await store.events.append(acc, expired, None, "custom", {}, now)
    janitor = make_janitor(store, FakeClock(now))
    assert await janitor.prune_once(now + MIN - 1) == 0
    assert await janitor.prune_once(now + MIN) == 1  # at expiresAt
    assert await task(store, acc, expired) is None
    assert await _count(store, "SELECT COUNT(*) AS n FROM task_executions WHERE task_id = $1", expired) == 0
    assert await _count(store, "SELECT COUNT(*) AS n FROM task_events WHERE task_id = $1", expired) == 0
    assert await task(store, acc, busy) is not None
    assert await task(store, acc, later) is not None


async def test_prune_once_drops_usage_counters_older_than_two_days(store: Store) -> None:
    now = ms("2026-06-01T10:30:00Z")
    acc = await store.accounts.create_account("a", now)
    hour = now // HOUR
    async with store.db.tx(write=True) as tx:
        for h in (hour - 49, hour - 48, hour - 1, hour):
            await tx.execute("INSERT INTO account_usage (account_id, hour, executions) VALUES ($1, $2, 1)", acc, h)
    janitor = make_janitor(store, FakeClock(now))
    assert await janitor.prune_once(now) == 0  # usage rows are not counted as removed
    async with store.db.tx() as tx:
        rows = await tx.fetch("SELECT hour FROM account_usage WHERE account_id = $1 ORDER BY hour", acc)
    assert [r["hour"] for r in rows] == [hour - 48, hour - 1, hour]
