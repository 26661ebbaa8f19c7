"""Claims, leases and outcomes: how a queued execution becomes a running job and how its end is written.

Every transition out of ``running`` is fenced on ``(id, attempt, state='running')``, so a worker that
lost its lease can never overwrite what the reaper or a cancel wrote. All methods take ``now`` (epoch
ms) from the caller and own their transaction.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace

from agentcron import ids
from agentcron.domain import ExecStatus, Finished, Job, Outcome, TaskConfig
from agentcron.retries import Rng
from agentcron.store.budgets import TokenBudgets
from agentcron.store.db import Database, Row, Tx
from agentcron.store.notices import EXECUTION_SUCCEEDED, Notice, record_notices
from agentcron.store.retries import previous_errors, settle_outcomes
from agentcron.store.rows import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    bot_config,
    chunks,
    conversation_row,
    message_rows,
    task_config,
    without_nul,
)
from agentcron.store.settle import settle_tasks

#: what a run's start needs of its execution row (`start_jobs`)
STARTED_COLUMNS = (
    "id",
    "attempt",
    "task_id",
    "account_id",
    "conversation_id",
    "kind",
    "scheduled_for",
    "try_number",
    "retry_of",
    "missed_count",
    "missed_since",
)


async def start_jobs(
    tx: Tx,
    started: Sequence[Row],
    now: int,
    budgets: TokenBudgets,
    known: Mapping[str, TaskConfig] | None = None,
    mark_running: bool = True,
) -> list[Job]:
    """Executions just moved to running (rows with the `STARTED_COLUMNS`): mark their tasks running, create
    their conversations, and return the jobs (task and bot configuration, and the token budgets with their
    usage, as of now: later edits apply to later runs; a retry is told the previous attempt's summary).
    ``known``: task configurations read in this transaction."""
    if not started:
        return []
    task_ids = sorted({c["task_id"] for c in started})
    if mark_running:
        await tx.execute(
            f"UPDATE tasks SET status = 'running', version = version + 1 WHERE {tx.sql.any_of('id', 1)}",
            tx.sql.list_param(task_ids),
        )
    if known is not None:
        tasks = known
    else:
        rows = await tx.fetch(f"SELECT * FROM tasks WHERE {tx.sql.any_of('id', 1)}", tx.sql.list_param(task_ids))
        tasks = {t["id"]: task_config(t) for t in rows}
    bot_ids = sorted({t.bot_id for t in tasks.values() if t.bot_id})
    bots = (
        {
            b["id"]: bot_config(b)
            for b in await tx.fetch(f"SELECT * FROM bots WHERE {tx.sql.any_of('id', 1)}", tx.sql.list_param(bot_ids))
        }
        if bot_ids
        else {}
    )
    allowances = await budgets.allowances(tx, tasks.values(), now)
    retried = [(c["retry_of"], int(c["try_number"]) - 1) for c in started if c["retry_of"]]
    errors = await previous_errors(tx, retried) if retried else {}
    jobs: list[Job] = []
    conversations = []
    for c in started:
        task = tasks[c["task_id"]]
        conversations.append(conversation_row(c["conversation_id"], c["account_id"], task, now))
        bot = bots.get(task.bot_id) if task.bot_id else None
        jobs.append(
            Job(
                c["id"],
                int(c["attempt"]),
                c["account_id"],
                c["conversation_id"],
                task,
                bot,
                c["kind"],
                c["scheduled_for"],
                allowances.get(task.id, ()),
                try_number=int(c["try_number"]),
                previous_error=errors.get((c["retry_of"], int(c["try_number"]) - 1)) if c["retry_of"] else None,
                missed_count=int(c["missed_count"]),
                missed_since=c["missed_since"],
            )
        )
    await tx.insert_rows("conversations", [c for c, _ in CONVERSATION_COLUMNS], conversations)
    return jobs


def succeeded(recorded: Sequence[Finished]) -> list[Notice]:
    """The ``execution.succeeded`` notices of recorded outcomes."""
    return [
        Notice(EXECUTION_SUCCEEDED, r.account_id, r.task_id, r.execution_id)
        for r in recorded
        if r.outcome == Outcome.SUCCESS and r.status != ExecStatus.CANCELED
    ]


class RunStore:
    """Claims, lease renewals, fenced outcomes and hand-backs over one `Database`."""

    def __init__(self, db: Database, budgets: TokenBudgets, rng: Rng | None = None) -> None:
        self.db = db
        self.budgets = budgets
        #: the jitter of retry delays (tests replace it)
        self.rng: Rng = rng or random.Random()

    async def claim(self, worker_id: str, now: int, lease_ms: int, limit: int) -> list[Job]:
        """Move up to ``limit`` queued executions to running under a lease held by ``worker_id``.

        At most one execution per task runs at a time unless the task's overlapPolicy is ``allow``.
        A conversation is created for each claimed execution in the same transaction.
        """
        async with self.db.tx(write=True) as tx:
            # Both rows, skipping either if held: a claim must never wait on an execution row while holding
            # its task (cancel, reap and finish lock executions first, then the task: that wait would deadlock).
            lock = tx.sql.skip_locked_of("e", "t")
            rows = await tx.fetch(
                "SELECT e.id, e.task_id, e.kind, t.overlap_policy "
                "FROM task_executions e JOIN tasks t ON t.id = e.task_id "
                "WHERE e.state = 'queued' AND (t.status <> 'running' OR t.overlap_policy = 'allow') "
                # backfill runs go one at a time, in slot order, whatever the overlap policy
                "AND (e.kind <> 'backfill' OR NOT EXISTS (SELECT 1 FROM task_executions r "
                "WHERE r.task_id = e.task_id AND r.state = 'running' AND r.kind = 'backfill')) "
                f"ORDER BY e.created_at, e.id LIMIT $1{lock}",
                limit,
            )
            seen: set[str] = set()
            picked: list[str] = []
            for r in rows:
                if r["overlap_policy"] != "allow" or r["kind"] == "backfill":
                    if r["task_id"] in seen:
                        continue
                    seen.add(r["task_id"])
                picked.append(r["id"])
            if not picked:
                return []
            # Each run gets its conversation id in the same statement that claims it.
            cte, args = tx.sql.values(
                "v", [("id", "text"), ("conv", "text")], [(e, ids.new_id(now)) for e in picked], 4
            )
            claimed = await tx.fetch(
                f"WITH {cte} UPDATE task_executions SET state = 'running', status = 'running', "
                "attempt = task_executions.attempt + 1, worker_id = $1, lease_until = $2, started_at = $3, "
                "updated_at = $3, conversation_id = v.conv FROM v "
                "WHERE task_executions.id = v.id AND task_executions.state = 'queued' RETURNING "
                + ", ".join(f"task_executions.{c}" for c in STARTED_COLUMNS),
                worker_id,
                now + lease_ms,
                now,
                *args,
            )
            return await start_jobs(tx, claimed, now, self.budgets)

    async def heartbeat(self, leases: Sequence[tuple[str, int]], now: int, lease_ms: int) -> set[str]:
        """Renew the leases of ``(execution id, attempt)`` pairs; return the ids that are no longer ours
        (cancelled, reaped or finished elsewhere): their runs must stop."""
        if not leases:
            return set()
        ids_ = [e for e, _ in leases]
        async with self.db.tx(write=True) as tx:
            rows = await tx.fetch(
                "UPDATE task_executions SET lease_until = $1 "
                f"WHERE state = 'running' AND {tx.sql.any_of('id', 2)} RETURNING id, attempt",
                now + lease_ms,
                tx.sql.list_param(ids_),
            )
        want = dict(leases)
        alive = {r["id"] for r in rows if want.get(r["id"]) == r["attempt"]}
        return set(ids_) - alive

    async def finish(self, results: Sequence[Finished], now: int) -> list[Finished]:
        """Record finished runs (one transaction for the batch). Fenced: a result whose ``(id, attempt)``
        is no longer running is dropped. Failures are retried or counted (`settle_outcomes`: a recorded
        result's ``retry_at`` and ``paused`` say what it did). Returns the results actually recorded."""
        if not results:
            return []
        results = [without_nul(r) for r in results]
        recorded: list[Finished] = []
        async with self.db.tx(write=True) as tx:
            by_id = {r.execution_id: r for r in results}
            for chunk in chunks(results):
                cte, args = tx.sql.values(
                    "v",
                    [
                        ("id", "text"),
                        ("attempt", "int4"),
                        ("status", "text"),
                        ("outcome", "text"),
                        ("summary", "text"),
                        ("itok", "int4"),
                        ("otok", "int4"),
                        ("reqs", "int4"),
                    ],
                    [
                        (
                            r.execution_id,
                            r.attempt,
                            str(r.status),
                            str(r.outcome),
                            r.summary,
                            r.input_tokens,
                            r.output_tokens,
                            r.model_requests,
                        )
                        for r in chunk
                    ],
                    first=2,
                )
                rows = await tx.fetch(
                    f"WITH {cte} UPDATE task_executions SET state = 'done', status = v.status, outcome = v.outcome, "
                    "summary = v.summary, completed_at = $1, updated_at = $1, input_tokens = v.itok, "
                    "output_tokens = v.otok, model_requests = v.reqs, lease_until = NULL FROM v "
                    "WHERE task_executions.id = v.id AND task_executions.attempt = v.attempt "
                    "AND task_executions.state = 'running' RETURNING task_executions.id",
                    now,
                    *args,
                )
                recorded.extend(by_id[r["id"]] for r in rows)
            await tx.insert_rows("messages", [c for c, _ in MESSAGE_COLUMNS], message_rows(recorded, now))
            await settle_outcomes(tx, recorded, now, self.rng)
            await record_notices(tx, succeeded(recorded), now)
            last = {r.task_id: r for r in recorded}
            await settle_tasks(tx, [(t, str(r.outcome)) for t, r in last.items()], now)
            await self.budgets.record(tx, recorded, now)
        return recorded

    async def keep_canceled(self, partial: Finished, now: int) -> bool:
        """What a cancelled run did before its cancel: its token usage and its conversation so far
        (``partial.messages``). Written only while the execution is still the cancelled attempt
        (``(id, attempt)``, status ``canceled``) with no usage recorded: a run reaped, released or
        finished otherwise is left alone, and a second call writes nothing. Returns whether it wrote."""
        partial = without_nul(partial)
        async with self.db.tx(write=True) as tx:
            row = await tx.fetchrow(
                "UPDATE task_executions SET input_tokens = $3, output_tokens = $4, model_requests = $5 "
                "WHERE id = $1 AND attempt = $2 AND state = 'done' AND status = 'canceled' "
                "AND model_requests = 0 AND NOT EXISTS (SELECT 1 FROM messages m "
                "WHERE m.conversation_id = task_executions.conversation_id) RETURNING conversation_id",
                partial.execution_id,
                partial.attempt,
                partial.input_tokens,
                partial.output_tokens,
                partial.model_requests,
            )
            if row is None:
                return False
            kept = replace(partial, conversation_id=row["conversation_id"])
            await tx.insert_rows("messages", [c for c, _ in MESSAGE_COLUMNS], message_rows([kept], now))
            await self.budgets.record(tx, [kept], now)
        return True

    async def canceled(self, execution_id: str, attempt: int) -> Row | None:
        """``status, outcome, summary`` of the execution if this attempt ended cancelled, else None (it runs,
        was reaped, or ran again since)."""
        async with self.db.tx() as tx:
            return await tx.fetchrow(
                "SELECT status, outcome, summary FROM task_executions "
                "WHERE id = $1 AND attempt = $2 AND state = 'done' AND status = 'canceled'",
                execution_id,
                attempt,
            )

    async def release(self, leases: Sequence[tuple[str, int]], now: int) -> list[str]:
        """Graceful shutdown: hand running executions back to the queue (fenced on attempt); returns the
        ids handed back."""
        released: list[str] = []
        async with self.db.tx(write=True) as tx:
            for execution_id, attempt in leases:
                if await tx.execute(
                    "UPDATE task_executions SET state = 'queued', status = 'idle', worker_id = NULL, "
                    "lease_until = NULL, updated_at = $3 WHERE id = $1 AND attempt = $2 AND state = 'running'",
                    execution_id,
                    attempt,
                    now,
                ):
                    released.append(execution_id)
            if leases:
                rows = await tx.fetch(
                    f"SELECT task_id FROM task_executions WHERE {tx.sql.any_of('id', 1)}",
                    tx.sql.list_param([e for e, _ in leases]),
                )
                await settle_tasks(tx, [(t, None) for t in sorted({r["task_id"] for r in rows})], now)
        return released
