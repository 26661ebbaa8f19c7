"""Firing and dispatch: what the scheduler reads and writes in the transaction of one tick (and what a
manual trigger writes). Every method takes the caller's `Tx`: a tick's reads, decisions and writes
commit together, so a crash fires each slot once or not at all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from agentcron import ids
from agentcron.domain import DueTask, ExecState, Job, PlannedRun, RunKind, Usage
from agentcron.store.budgets import TokenBudgets
from agentcron.store.db import Database, Tx
from agentcron.store.notices import SLOT_SKIPPED, Notice, record_notices
from agentcron.store.pausing import resume_due
from agentcron.store.retries import Superseded, next_retry_at, queue_due, supersede
from agentcron.store.rows import EXECUTION_COLUMNS, chunks, execution_row, task_config
from agentcron.store.runs import STARTED_COLUMNS, start_jobs

HOUR_MS = 3_600_000
#: a fired slot is unique per task: a second insert of the same slot is a no-op
_ONCE_PER_SLOT = " ON CONFLICT (task_id, scheduled_for, try_number) DO NOTHING"


class FiringStore:
    def __init__(self, db: Database, budgets: TokenBudgets) -> None:
        self.db = db
        self.budgets = budgets

    async def due_tasks(self, tx: Tx, now: int, limit: int) -> list[DueTask]:
        """Tasks whose ``next_run_at`` has come, oldest first; where writers are concurrent, locked and
        skipping rows another tick holds, so concurrent ticks take disjoint batches."""
        rows = await tx.fetch(
            "SELECT * FROM tasks WHERE next_run_at <= $1 AND deleted_at IS NULL ORDER BY next_run_at "
            f"LIMIT $2{tx.sql.skip_locked}",
            now,
            limit,
        )
        return [DueTask(task_config(r), int(r["next_run_at"])) for r in rows]

    async def resume_due(self, now: int) -> list[str]:
        """Resume the paused tasks whose ``pausedUntil`` has come (their next slot from ``now``); returns
        their ids. Own transaction."""
        return await resume_due(self.db, now)

    async def next_due_at(self) -> int | None:
        """The earliest ``next_run_at`` of any task or ``not_before`` of a waiting retry, or None."""
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                "SELECT next_run_at FROM tasks WHERE next_run_at IS NOT NULL AND deleted_at IS NULL "
                "ORDER BY next_run_at LIMIT 1"
            )
            retry = await next_retry_at(tx)
        due = [t for t in (None if row is None else int(row["next_run_at"]), retry) if t is not None]
        return min(due) if due else None

    async def supersede_retries(self, tx: Tx, task_ids: Sequence[str], now: int) -> Superseded:
        """The tasks' next slots fire now: their retries still waiting are dropped (`retries.supersede`)."""
        return await supersede(tx, task_ids, now)

    async def queue_retries(self, now: int, limit: int) -> list[PlannedRun]:
        """Queue up to ``limit`` retries whose ``not_before`` has come, counted in their accounts' usage;
        returns them. Own transaction."""
        async with self.db.tx(write=True) as tx:
            rows = await queue_due(tx, now, limit)
            if not rows:
                return []
            task_ids = sorted({r["task_id"] for r in rows})
            tasks = {
                t["id"]: task_config(t)
                for t in await tx.fetch(
                    f"SELECT * FROM tasks WHERE {tx.sql.any_of('id', 1)}", tx.sql.list_param(task_ids)
                )
            }
            await self.record_usage(tx, dict(Counter(r["account_id"] for r in rows)), now)
        return [
            PlannedRun(tasks[r["task_id"]], RunKind.RETRY, r["scheduled_for"], execution_id=r["id"])
            for r in rows
            if r["task_id"] in tasks
        ]

    async def active_by_task(self, tx: Tx, task_ids: Sequence[str]) -> dict[str, int]:
        """task -> number of its executions queued or running."""
        if not task_ids:
            return {}
        rows = await tx.fetch(
            "SELECT task_id, COUNT(*) AS n FROM task_executions WHERE state IN ('queued', 'running') "
            f"AND {tx.sql.any_of('task_id', 1)} GROUP BY task_id",
            tx.sql.list_param(task_ids),
        )
        return {r["task_id"]: int(r["n"]) for r in rows}

    async def account_usage(
        self, tx: Tx, account_ids: Sequence[str], now: int, concurrent_cap: int, daily_cap: int
    ) -> dict[str, Usage]:
        """account -> its `Usage`, counted until this transaction ends.

        Both counts are bounded work: ``active`` stops counting at ``concurrent_cap`` (0 = no cap, not
        counted); ``today`` sums 24 hourly counters (``account_usage``), so the rolling day has hour
        granularity: it covers between 23 and 24 hours."""
        out = {acc: Usage() for acc in account_ids}
        if (concurrent_cap > 0 or daily_cap > 0) and account_ids:
            # Concurrent ticks and triggers must count an account's usage one after another: each counts
            # what the previous committed.
            await tx.lock_keys("agentcron.usage", account_ids)
        if concurrent_cap > 0:
            for acc in account_ids:
                row = await tx.fetchrow(
                    "SELECT COUNT(*) AS n FROM (SELECT 1 FROM task_executions WHERE account_id = $1 "
                    "AND state IN ('queued', 'running') LIMIT $2) s",
                    acc,
                    concurrent_cap,
                )
                out[acc] = Usage(int(row["n"]) if row else 0, 0)
        if daily_cap > 0 and account_ids:
            rows = await tx.fetch(
                "SELECT account_id, SUM(executions) AS n FROM account_usage WHERE hour > $1 "
                f"AND {tx.sql.any_of('account_id', 2)} GROUP BY account_id",
                now // HOUR_MS - 24,
                tx.sql.list_param(account_ids),
            )
            for r in rows:
                out[r["account_id"]] = Usage(out[r["account_id"]].active, int(r["n"]))
        return out

    async def record_usage(self, tx: Tx, started: dict[str, int], now: int) -> None:
        """Add executions started now to the accounts' hourly counters."""
        for acc, n in sorted(started.items()):  # fixed order: concurrent ticks upsert the same rows
            if n:
                await tx.execute(
                    "INSERT INTO account_usage (account_id, hour, executions) VALUES ($1, $2, $3) "
                    "ON CONFLICT (account_id, hour) DO UPDATE SET executions = account_usage.executions + $3",
                    acc,
                    now // HOUR_MS,
                    n,
                )

    async def insert_executions(self, tx: Tx, runs: Sequence[PlannedRun], now: int) -> None:
        """Record ``runs`` (queued, or done when skipped: a ``slot.skipped`` notice each); a slot already
        recorded is left as it is, and its skip reports nothing (the slot was not skipped)."""
        if not runs:
            return
        skips = [r for r in runs if r.kind == RunKind.SKIP]
        inserted = await tx.insert_many(
            "task_executions",
            EXECUTION_COLUMNS,
            [execution_row(r, now) for r in runs],
            _ONCE_PER_SLOT,
            returning="id" if skips else "",
        )
        if not skips:
            return
        if inserted is None:  # the backend cannot return inserted rows: read back which skips were inserted
            inserted = await tx.fetch(
                f"SELECT id FROM task_executions WHERE {tx.sql.any_of('id', 1)}",
                tx.sql.list_param([r.execution_id for r in skips]),
            )
        written = {r["id"] for r in inserted}
        notices = [
            Notice(SLOT_SKIPPED, r.task.account_id, r.task.id, r.execution_id, {"reason": r.reason})
            for r in skips
            if r.execution_id in written
        ]
        if notices:
            await record_notices(tx, notices, now)

    async def set_next_runs(
        self, tx: Tx, updates: Sequence[tuple[str, int | None, int]], started: Collection[str] = ()
    ) -> None:
        """(task id, next_run_at, missed_count) for each fired task; tasks in ``started`` (runs dispatched
        in this transaction) are marked running in the same write, saving an update per run."""
        rows = [(t, n, m, 1 if t in started else 0) for t, n, m in updates]
        for chunk in chunks(rows):
            cte, args = tx.sql.values(
                "v", [("id", "text"), ("nxt", "int8"), ("missed", "int4"), ("run", "int4")], chunk
            )
            await tx.execute(
                f"WITH {cte} UPDATE tasks SET next_run_at = v.nxt, missed_count = v.missed, "
                "status = CASE WHEN v.run = 1 THEN 'running' ELSE tasks.status END, version = tasks.version + 1 "
                "FROM v WHERE tasks.id = v.id",
                *args,
            )

    async def dispatch(self, tx: Tx, runs: Sequence[PlannedRun], worker_id: str, now: int, lease_ms: int) -> list[Job]:
        """Insert executions already claimed by ``worker_id`` (a worker in the scheduler's own process
        with free capacity): they skip the queue, saving a claim per fired slot. Same lease, attempt and
        fencing as a claim. The caller guarantees per-task serialisation and must mark the tasks running
        (`set_next_runs` with ``started``) in the same transaction."""
        if not runs:
            return []
        wanted = ", ".join(STARTED_COLUMNS)
        rows = await tx.insert_many(
            "task_executions",
            [
                *EXECUTION_COLUMNS,
                ("attempt", "int4"),
                ("worker_id", "text"),
                ("lease_until", "int8"),
                ("started_at", "int8"),
                ("conversation_id", "text"),
            ],
            [
                (*execution_row(r, now, ExecState.RUNNING), 1, worker_id, now + lease_ms, now, ids.new_id(now))
                for r in runs
            ],
            _ONCE_PER_SLOT,
            returning=wanted,
        )
        if rows is None:  # the backend cannot return inserted rows: read back which slots were inserted
            rows = await tx.fetch(
                f"SELECT {wanted} FROM task_executions WHERE state = 'running' AND worker_id = $1 "
                f"AND {tx.sql.any_of('id', 2)}",
                worker_id,
                tx.sql.list_param([r.execution_id for r in runs]),
            )
        return await start_jobs(tx, rows, now, self.budgets, {r.task.id: r.task for r in runs}, mark_running=False)
