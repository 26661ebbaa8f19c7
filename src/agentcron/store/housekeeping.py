"""Housekeeping: reap runs whose worker died, prune old executions and usage counters, delete expired
tasks. Each method is one bounded batch in its own transaction; the janitor repeats them."""

from __future__ import annotations

import random

from agentcron import retries
from agentcron.budget_periods import day_key, local_date
from agentcron.domain import Finished, Outcome
from agentcron.retries import Rng
from agentcron.store.db import Database
from agentcron.store.firing import HOUR_MS
from agentcron.store.retries import settle_outcomes
from agentcron.store.settle import delete_task_rows, settle_tasks

#: days of token usage kept (a month-long budget period reads at most 31)
TOKEN_DAYS_KEPT = 40
WORKER_LOST = "Worker lost: the execution's lease expired without a heartbeat, so the run was ended"


class HousekeepingStore:
    def __init__(self, db: Database, rng: Rng | None = None) -> None:
        self.db = db
        #: the jitter of retry delays (tests replace it)
        self.rng: Rng = rng or random.Random()

    async def reap(self, now: int, limit: int = 1000) -> list[Finished]:
        """End up to ``limit`` runs whose lease lapsed (their worker died) as failures (``WORKER_LOST``:
        retried as the task's retry policy says, else counted as failed slots); returns them, with the
        ``retry_at`` and ``paused`` their settling set."""
        async with self.db.tx(write=True) as tx:
            # One statement: row locks are held for the batch's duration only, never row by row.
            rows = await tx.fetch(
                "UPDATE task_executions SET state = 'done', status = 'idle', outcome = 'failure', "
                "summary = $3, completed_at = $1, updated_at = $1, lease_until = NULL "
                "WHERE state = 'running' AND id IN (SELECT id FROM task_executions WHERE state = 'running' "
                f"AND lease_until < $1 ORDER BY lease_until LIMIT $2{tx.sql.skip_locked}) RETURNING id, task_id",
                now,
                limit,
                WORKER_LOST,
            )
            reaped = [
                Finished(r["id"], 0, r["task_id"], Outcome.FAILURE, WORKER_LOST, error_code=retries.WORKER_LOST)
                for r in rows
            ]
            await settle_outcomes(tx, reaped, now, self.rng)
            tasks = sorted({r["task_id"] for r in rows})
            await settle_tasks(tx, [(t, Outcome.FAILURE.value) for t in tasks], now)
        return reaped

    async def prune(self, older_than: int, batch: int = 1000) -> int:
        """Delete up to ``batch`` finished executions created before ``older_than``; returns how many."""
        async with self.db.tx(write=True) as tx:
            return await tx.execute(
                "DELETE FROM task_executions WHERE id IN (SELECT id FROM task_executions "
                "WHERE created_at < $1 AND state = 'done' ORDER BY created_at LIMIT $2)",
                older_than,
                batch,
            )

    async def ping(self) -> None:
        """One round trip to the database (readiness). Raises what the database raises."""
        await self.db.read_rows("SELECT 1", ())

    async def backlog(self, overdue_before: int) -> tuple[int, int]:
        """(executions queued, tasks whose next slot is before ``overdue_before`` and has not fired), each
        counted on an index: cheap enough for every metrics scrape."""
        rows = await self.db.read_rows(
            "SELECT (SELECT COUNT(*) FROM task_executions WHERE state = 'queued'), "
            "(SELECT COUNT(*) FROM tasks WHERE next_run_at < $1 AND deleted_at IS NULL)",
            (overdue_before,),
        )
        return int(rows[0][0]), int(rows[0][1])

    async def prune_usage(self, now: int) -> int:
        """Drop hourly usage counters older than two days, and daily token counters older than any budget
        period still reads (a month: the dates of the last 40 days are kept, whatever the zone)."""
        async with self.db.tx(write=True) as tx:
            n = await tx.execute("DELETE FROM account_usage WHERE hour < $1", now // HOUR_MS - 48)
            oldest = day_key(local_date(now - TOKEN_DAYS_KEPT * 86_400_000, None))
            return n + await tx.execute("DELETE FROM token_usage WHERE day < $1", oldest)

    async def expire_tasks(self, now: int, batch: int = 1000) -> int:
        """Delete up to ``batch`` tasks past their ``expiresAt`` that are not running; returns how many."""
        async with self.db.tx(write=True) as tx:
            rows = await tx.fetch(
                "SELECT id FROM tasks WHERE expires_at IS NOT NULL AND expires_at <= $1 AND status <> 'running' "
                "LIMIT $2",
                now,
                batch,
            )
            await delete_task_rows(tx, [r["id"] for r in rows])
        return len(rows)
