"""Execution persistence: firing slots, claiming with leases, fenced completion, cancel, reaping, pruning.

State machine of an execution (column ``state``; wire ``status``/``outcome`` in brackets):

    queued [idle/pending] --claim--> running [running/pending] --finish--> done [idle/success|failure]
    queued|running --cancel--> done [canceled/failure]
    running --lease lapses--> done [idle/failure, "Worker lost"]      (reaper)
    running --graceful shutdown--> queued (lease released; another worker resumes it)
    (skipped slots are born done [canceled/failure] with a ``reason``)

Every transition out of ``running`` is fenced on ``(id, attempt, state='running')``, so a worker that
lost its lease can never overwrite what the reaper or a cancel wrote.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agentcron import ids
from agentcron.store.base import Store
from agentcron.store.db import Row, Tx, any_of, list_param

if TYPE_CHECKING:
    from agentcron.engine.runner import RunResult

HOUR_MS = 3_600_000


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass(slots=True)
class NewExecution:
    task: Row
    kind: str  # schedule | catchup | trigger | skip
    scheduled_for: int | None
    missed_count: int = 0
    reason: str | None = None
    summary: str | None = None
    execution_id: str = ""

    def row(self, now: int, state: str = "queued") -> tuple[Any, ...]:
        skipped = self.kind == "skip"
        if not self.execution_id:
            self.execution_id = ids.new_id(now)
        running = state == "running" and not skipped
        return (
            self.execution_id,
            self.task["account_id"],
            self.task["id"],
            self.task["name"],
            self.task["description"],
            "canceled" if skipped else "running" if running else "idle",
            "failure" if skipped else "pending",
            "done" if skipped else state,
            self.kind,
            self.reason,
            self.summary,
            self.scheduled_for,
            self.missed_count,
            now if skipped else None,
            now,
            now,
        )


_EXECUTION_COLUMNS = [
    ("id", "text"),
    ("account_id", "text"),
    ("task_id", "text"),
    ("name", "text"),
    ("description", "text"),
    ("status", "text"),
    ("outcome", "text"),
    ("state", "text"),
    ("kind", "text"),
    ("reason", "text"),
    ("summary", "text"),
    ("scheduled_for", "int8"),
    ("missed_count", "int4"),
    ("completed_at", "int8"),
    ("created_at", "int8"),
    ("updated_at", "int8"),
]
_CONVERSATION_COLUMNS = [
    ("id", "text"),
    ("account_id", "text"),
    ("name", "text"),
    ("description", "text"),
    ("bot_id", "text"),
    ("contact_id", "text"),
    ("task_id", "text"),
    ("meta", "jsonb"),
    ("created_at", "int8"),
    ("updated_at", "int8"),
]
_MESSAGE_COLUMNS = [
    ("id", "text"),
    ("account_id", "text"),
    ("conversation_id", "text"),
    ("type", "text"),
    ("text", "text"),
    ("created_at", "int8"),
    ("updated_at", "int8"),
]


@dataclass(slots=True)
class Claimed:
    """A running execution as a worker sees it: the execution, its task's config and its bot."""

    execution_id: str
    attempt: int
    account_id: str
    task: Row
    bot: Row | None
    conversation_id: str
    #: What the run did before it was cancelled (messages, token usage), left by its runner as the
    #: cancellation passes through it: a run ended by its time limit is recorded with it.
    partial: RunResult | None = None


@dataclass(slots=True)
class Finished:
    execution_id: str
    attempt: int
    task_id: str
    outcome: str  # success | failure
    summary: str
    status: str = "idle"
    input_tokens: int = 0
    output_tokens: int = 0
    model_requests: int = 0
    messages: Sequence[tuple[str, str]] = ()
    account_id: str = ""
    conversation_id: str | None = None


def _without_nul(r: Finished) -> Finished:
    if "\x00" not in r.summary and not any("\x00" in text for _, text in r.messages):
        return r
    return replace(
        r,
        summary=r.summary.replace("\x00", ""),
        messages=[(kind, text.replace("\x00", "")) for kind, text in r.messages],
    )


def _message_rows(results: Iterable[Finished], now: int) -> list[tuple[Any, ...]]:
    """Rows of the ``messages`` table for the results' conversations, created at now, now + 1, ..."""
    rows: list[tuple[Any, ...]] = []
    for r in results:
        if r.conversation_id:
            for i, (kind, text) in enumerate(r.messages):
                rows.append((ids.new_id(now + i), r.account_id, r.conversation_id, kind, text, now + i, now))
    return rows


class RunStore:
    """Execution-side queries over a `Store`. All methods take ``now`` (epoch ms) from the caller."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self.pg = store.dialect == "postgresql"

    # -- scheduler side -------------------------------------------------------------------------------

    async def due_tasks(self, tx: Tx, now: int, limit: int) -> list[Row]:
        """Tasks whose ``next_run_at`` has come (whole rows: a run dispatched from them needs its config),
        oldest first; on PostgreSQL locked with SKIP LOCKED so concurrent schedulers take disjoint batches."""
        lock = " FOR UPDATE SKIP LOCKED" if self.pg else ""
        return await tx.fetch(
            f"SELECT * FROM tasks WHERE next_run_at <= $1 AND deleted_at IS NULL ORDER BY next_run_at LIMIT $2{lock}",
            now,
            limit,
        )

    async def next_due_at(self) -> int | None:
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                "SELECT next_run_at FROM tasks WHERE next_run_at IS NOT NULL AND deleted_at IS NULL "
                "ORDER BY next_run_at LIMIT 1"
            )
        return None if row is None else int(row["next_run_at"])

    async def active_by_task(self, tx: Tx, task_ids: Sequence[str]) -> dict[str, int]:
        """task -> number of its executions queued or running."""
        if not task_ids:
            return {}
        rows = await tx.fetch(
            "SELECT task_id, COUNT(*) AS n FROM task_executions WHERE state IN ('queued', 'running') "
            f"AND {self._any('task_id', 1)} GROUP BY task_id",
            self._list(task_ids),
        )
        return {r["task_id"]: int(r["n"]) for r in rows}

    async def account_usage(
        self, tx: Tx, account_ids: Sequence[str], now: int, concurrent_cap: int, daily_cap: int
    ) -> dict[str, tuple[int, int]]:
        """account -> (executions queued or running, executions started in the rolling day).

        Both counts are bounded work: the first stops counting at ``concurrent_cap`` (0 = no cap, not
        counted); the second sums 24 hourly counters (``account_usage``), so the rolling day has hour
        granularity: it covers between 23 and 24 hours."""
        out = {acc: (0, 0) for acc in account_ids}
        if self.pg and (concurrent_cap > 0 or daily_cap > 0) and account_ids:
            # Concurrent ticks (lanes, other processes) must count an account's usage one after another:
            # each counts what the previous committed. Sorted, so two ticks never wait on each other in a cycle.
            # Ordered by the lock key itself, so that two accounts sharing a hash cannot reverse the order.
            await tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('agentcron.usage'), k) "
                "FROM (SELECT DISTINCT hashtext(a) AS k FROM unnest($1::text[]) a ORDER BY k) s",
                list(account_ids),
            )
        if concurrent_cap > 0:
            for acc in account_ids:
                row = await tx.fetchrow(
                    "SELECT COUNT(*) AS n FROM (SELECT 1 FROM task_executions WHERE account_id = $1 "
                    "AND state IN ('queued', 'running') LIMIT $2) s",
                    acc,
                    concurrent_cap,
                )
                out[acc] = (int(row["n"]) if row else 0, 0)
        if daily_cap > 0 and account_ids:
            rows = await tx.fetch(
                "SELECT account_id, SUM(executions) AS n FROM account_usage WHERE hour > $1 "
                f"AND {self._any('account_id', 2)} GROUP BY account_id",
                now // HOUR_MS - 24,
                self._list(account_ids),
            )
            for r in rows:
                out[r["account_id"]] = (out[r["account_id"]][0], int(r["n"]))
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

    async def insert_executions(self, tx: Tx, new: Sequence[NewExecution], now: int) -> None:
        if new:
            await self._insert_many(
                tx,
                "task_executions",
                _EXECUTION_COLUMNS,
                [n.row(now) for n in new],
                " ON CONFLICT (task_id, scheduled_for) DO NOTHING",
            )

    async def set_next_runs(
        self, tx: Tx, updates: Sequence[tuple[str, int | None, int]], started: Collection[str] = ()
    ) -> None:
        """(task id, next_run_at, missed_count) for each fired task; tasks in ``started`` (runs dispatched
        in this transaction) are marked running in the same write, saving an update per run."""
        rows = [(t, n, m, 1 if t in started else 0) for t, n, m in updates]
        for chunk in _chunks(rows, 1000):
            cte, args = self._values("v", [("id", "text"), ("nxt", "int8"), ("missed", "int4"), ("run", "int4")], chunk)
            await tx.execute(
                f"WITH {cte} UPDATE tasks SET next_run_at = v.nxt, missed_count = v.missed, "
                "status = CASE WHEN v.run = 1 THEN 'running' ELSE tasks.status END FROM v WHERE tasks.id = v.id",
                *args,
            )

    # -- worker side ----------------------------------------------------------------------------------

    async def claim(self, worker_id: str, now: int, lease_ms: int, limit: int) -> list[Claimed]:
        """Move up to ``limit`` queued executions to running under a lease held by ``worker_id``.

        At most one execution per task runs at a time unless the task's overlapPolicy is ``allow``.
        A conversation is created for each claimed execution in the same transaction.
        """
        # Both rows, skipping either if held: a claim must never wait on an execution row while holding
        # its task (cancel, reap and finish lock executions first, then the task: that waits would deadlock).
        lock = " FOR UPDATE OF e, t SKIP LOCKED" if self.pg else ""
        async with self.db.tx(write=True) as tx:
            rows = await tx.fetch(
                "SELECT e.id, e.task_id, t.overlap_policy FROM task_executions e JOIN tasks t ON t.id = e.task_id "
                "WHERE e.state = 'queued' AND (t.status <> 'running' OR t.overlap_policy = 'allow') "
                f"ORDER BY e.created_at, e.id LIMIT $1{lock}",
                limit,
            )
            seen: set[str] = set()
            picked: list[str] = []
            for r in rows:
                if r["overlap_policy"] != "allow":
                    if r["task_id"] in seen:
                        continue
                    seen.add(r["task_id"])
                picked.append(r["id"])
            if not picked:
                return []
            # Each run gets its conversation in the same statement that claims it.
            cte, args = self._values("v", [("id", "text"), ("conv", "text")], [(e, ids.new_id(now)) for e in picked], 4)
            claimed = await tx.fetch(
                f"WITH {cte} UPDATE task_executions SET state = 'running', status = 'running', "
                "attempt = task_executions.attempt + 1, worker_id = $1, lease_until = $2, started_at = $3, "
                "updated_at = $3, conversation_id = v.conv FROM v "
                "WHERE task_executions.id = v.id AND task_executions.state = 'queued' RETURNING task_executions.id, "
                "task_executions.attempt, task_executions.task_id, task_executions.account_id, "
                "task_executions.conversation_id",
                worker_id,
                now + lease_ms,
                now,
                *args,
            )
            return await self._start(tx, claimed, now)

    async def dispatch(
        self, tx: Tx, new: Sequence[NewExecution], worker_id: str, now: int, lease_ms: int
    ) -> list[Claimed]:
        """Insert executions already claimed by ``worker_id`` (a worker in the scheduler's own process
        with free capacity): they skip the queue, saving a claim round trip per fired slot. Same lease,
        attempt and fencing as `claim`. The caller guarantees per-task serialisation and must mark the
        tasks running (`set_next_runs` with ``started``) in the same transaction."""
        if not new:
            return []
        wanted = "id, attempt, task_id, account_id, conversation_id"
        rows = await self._insert_many(
            tx,
            "task_executions",
            [
                *_EXECUTION_COLUMNS,
                ("attempt", "int4"),
                ("worker_id", "text"),
                ("lease_until", "int8"),
                ("started_at", "int8"),
                ("conversation_id", "text"),
            ],
            [(*n.row(now, state="running"), 1, worker_id, now + lease_ms, now, ids.new_id(now)) for n in new],
            " ON CONFLICT (task_id, scheduled_for) DO NOTHING",
            returning=wanted,
        )
        if rows is None:  # SQLite: read back which slots were inserted (a slot already fired is skipped)
            rows = await tx.fetch(
                f"SELECT {wanted} FROM task_executions WHERE state = 'running' AND worker_id = $1 "
                f"AND {self._any('id', 2)}",
                worker_id,
                self._list([n.execution_id for n in new]),
            )
        # The caller marks these tasks running with its next-run update (`set_next_runs(started=...)`).
        return await self._start(tx, rows, now, {n.task["id"]: n.task for n in new}, mark_running=False)

    async def _start(
        self,
        tx: Tx,
        claimed: Sequence[Row],
        now: int,
        known: dict[str, Row] | None = None,
        mark_running: bool = True,
    ) -> list[Claimed]:
        """Executions just moved to running: mark their tasks running, create their conversations, and
        return what the worker needs (task config and bot as of now: later edits apply to later runs)."""
        if not claimed:
            return []
        task_ids = sorted({c["task_id"] for c in claimed})
        if mark_running:
            await tx.execute(f"UPDATE tasks SET status = 'running' WHERE {self._any('id', 1)}", self._list(task_ids))
        if known is not None:  # rows the scheduler read in this same transaction
            tasks = known
        else:
            tasks = {
                t["id"]: t
                for t in await tx.fetch(f"SELECT * FROM tasks WHERE {self._any('id', 1)}", self._list(task_ids))
            }
        bot_ids = sorted({t["bot_id"] for t in tasks.values() if t["bot_id"]})
        bots = (
            {b["id"]: b for b in await tx.fetch(f"SELECT * FROM bots WHERE {self._any('id', 1)}", self._list(bot_ids))}
            if bot_ids
            else {}
        )
        out: list[Claimed] = []
        conversations: list[tuple[Any, ...]] = []
        for c in claimed:
            task = tasks[c["task_id"]]
            conv_id = c["conversation_id"]
            conversations.append(
                (
                    conv_id,
                    c["account_id"],
                    task["name"],
                    task["description"],
                    task["bot_id"],
                    task["contact_id"],
                    task["id"],
                    '{"app": "task", "taskId": "' + task["id"] + '"}',
                    now,
                    now,
                )
            )
            out.append(Claimed(c["id"], int(c["attempt"]), c["account_id"], task, bots.get(task["bot_id"]), conv_id))
        await self._insert_many(tx, "conversations", _CONVERSATION_COLUMNS, conversations)
        return out

    async def heartbeat(self, leases: Sequence[tuple[str, int]], now: int, lease_ms: int) -> set[str]:
        """Renew the leases of ``(execution id, attempt)`` pairs; return the ids that are no longer ours
        (cancelled, reaped or finished elsewhere): their runs must stop."""
        if not leases:
            return set()
        alive: set[str] = set()
        async with self.db.tx(write=True) as tx:
            ids_ = [e for e, _ in leases]
            rows = await tx.fetch(
                "UPDATE task_executions SET lease_until = $1 "
                f"WHERE state = 'running' AND {self._any('id', 2)} RETURNING id, attempt",
                now + lease_ms,
                self._list(ids_),
            )
            want = dict(leases)
            alive = {r["id"] for r in rows if want.get(r["id"]) == r["attempt"]}
        return set(ids_) - alive

    async def finish(self, results: Sequence[Finished], now: int) -> list[str]:
        """Record finished runs (one transaction for the batch). Fenced: a result whose
        ``(id, attempt)`` is no longer running is dropped. Returns the ids actually recorded."""
        if not results:
            return []
        # Text from a model or a tool may hold NUL, which PostgreSQL text cannot store: one such summary
        # or message would make the whole batch unwritable.
        results = [_without_nul(r) for r in results]
        recorded: list[Finished] = []
        async with self.db.tx(write=True) as tx:
            by_id = {r.execution_id: r for r in results}
            for chunk in _chunks(results, 1000):
                cte, args = self._values(
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
                            r.status,
                            r.outcome,
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
            await self._insert_many(tx, "messages", _MESSAGE_COLUMNS, _message_rows(recorded, now))
            last: dict[str, Finished] = {r.task_id: r for r in recorded}
            await self._settle_tasks(tx, [(t, r.outcome) for t, r in last.items()], now)
        return [r.execution_id for r in recorded]

    async def keep_canceled(self, partial: Finished, now: int) -> bool:
        """What a cancelled run did before its cancel: its token usage and its conversation so far
        (``partial.messages``). Written only while the execution is still the cancelled attempt
        (``(id, attempt)``, status ``canceled``) with no usage recorded: a run reaped, released or
        finished otherwise is left alone, and a second call writes nothing. Returns whether it wrote."""
        partial = _without_nul(partial)
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
            await self._insert_many(tx, "messages", _MESSAGE_COLUMNS, _message_rows([kept], now))
        return True

    async def _settle_tasks(self, tx: Tx, outcomes: Sequence[tuple[str, str | None]], now: int) -> None:
        """After executions of these tasks left ``running``: status back to idle unless another still runs,
        outcome/lastRunAt recorded, and tasks deleted while running are removed."""
        if not outcomes:
            return
        task_ids = sorted({t for t, _ in outcomes})
        if self.pg:
            # Lock the task rows first, in id order, in a statement of their own. Under READ COMMITTED
            # the UPDATE below then takes its snapshot after any concurrent settle of the same task has
            # committed: otherwise two workers finishing overlapping runs (overlapPolicy allow) could
            # each see the other's run as still running and leave the task "running" for good. The
            # fixed order rules out deadlocks between concurrent settles; every writer here locks
            # executions before their task (claims and the scheduler skip rows held by others).
            await tx.execute("SELECT 1 FROM tasks WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", task_ids)
        # Which of these tasks still have a run going (overlapPolicy allow, or a run started meanwhile).
        # Asked apart, through the live-executions index by task: as an EXISTS inside the UPDATE, PostgreSQL
        # planned it as one scan of every running execution, and that partial index holds an entry per
        # recently finished run until VACUUM reaches it: 2 s per settle after a 100,000-run burst.
        live = await tx.fetch(
            "SELECT task_id, state FROM task_executions WHERE state IN ('queued', 'running') AND "
            + self._any("task_id", 1),
            self._list(task_ids),
        )
        busy = {r["task_id"] for r in live if r["state"] == "running"}
        gone: list[Row] = []  # deleted while running, and now idle: removed here
        for chunk in _chunks(outcomes, 1000):
            rows = [(t, outcome, "running" if t in busy else "idle") for t, outcome in chunk]
            cte, args = self._values("v", [("id", "text"), ("outcome", "text"), ("status", "text")], rows, first=2)
            settled = await tx.fetch(
                # The latest recorded finish keeps the task's outcome: two batches (two lanes, two workers)
                # may commit in the other order than they were recorded in.
                f"WITH {cte} UPDATE tasks SET status = v.status, "
                "outcome = CASE WHEN v.outcome IS NULL OR tasks.last_run_at > $1 THEN tasks.outcome "
                "ELSE v.outcome END, "
                "last_run_at = CASE WHEN v.outcome IS NULL OR tasks.last_run_at > $1 THEN tasks.last_run_at "
                "ELSE $1 END "
                "FROM v WHERE tasks.id = v.id RETURNING tasks.id, tasks.status, tasks.deleted_at",
                now,
                *args,
            )
            gone += [r for r in settled if r["deleted_at"] is not None and r["status"] == "idle"]
        for g in gone:
            await tx.execute("DELETE FROM task_executions WHERE task_id = $1", g["id"])
            await tx.execute("DELETE FROM task_events WHERE task_id = $1", g["id"])
            await tx.execute("DELETE FROM tasks WHERE id = $1", g["id"])

    async def release(self, leases: Sequence[tuple[str, int]], now: int) -> int:
        """Graceful shutdown: hand running executions back to the queue (fenced on attempt)."""
        n = 0
        async with self.db.tx(write=True) as tx:
            for execution_id, attempt in leases:
                n += await tx.execute(
                    "UPDATE task_executions SET state = 'queued', status = 'idle', worker_id = NULL, "
                    "lease_until = NULL, updated_at = $3 WHERE id = $1 AND attempt = $2 AND state = 'running'",
                    execution_id,
                    attempt,
                    now,
                )
            task_ids = (
                sorted(
                    {
                        r["task_id"]
                        for r in await tx.fetch(
                            f"SELECT task_id FROM task_executions WHERE {self._any('id', 1)}",
                            self._list([e for e, _ in leases]),
                        )
                    }
                )
                if leases
                else []
            )
            await self._settle_tasks(tx, [(t, None) for t in task_ids], now)
        return n

    # -- cancel, reap, prune --------------------------------------------------------------------------

    async def cancel(
        self,
        tx: Tx,
        task_id: str,
        now: int,
        execution_id: str | None = None,
        summary: str = "Task execution canceled",
        skip_locked: bool = False,
    ) -> list[str]:
        """Cancel the task's queued and running executions (or just ``execution_id``). Returns the ids
        cancelled; workers running them notice on their next heartbeat (or at once, in process).

        ``skip_locked`` (PostgreSQL): leave alone executions another transaction holds, i.e. runs whose
        outcome is being recorded right now. The scheduler uses it while it holds the task row: waiting
        there on a finishing run, whose settle waits on that task row, would deadlock."""
        extra = " AND id = $4" if execution_id else ""
        if skip_locked and self.pg:
            extra += (
                " AND id IN (SELECT id FROM task_executions WHERE task_id = $1 "
                "AND state IN ('queued', 'running') FOR UPDATE SKIP LOCKED)"
            )
        args: list[Any] = [task_id, now, summary] + ([execution_id] if execution_id else [])
        rows = await tx.fetch(
            "UPDATE task_executions SET state = 'done', status = 'canceled', outcome = 'failure', "
            "summary = $3, completed_at = $2, updated_at = $2, cancel_requested = TRUE, lease_until = NULL "
            f"WHERE task_id = $1 AND state IN ('queued', 'running'){extra} RETURNING id",
            *args,
        )
        canceled = [r["id"] for r in rows]
        if canceled:
            await self._settle_tasks(tx, [(task_id, "failure")], now)
        return canceled

    async def reap(self, now: int, limit: int = 1000) -> list[str]:
        """End runs whose lease lapsed (their worker died) as failures; returns their ids."""
        lock = " FOR UPDATE SKIP LOCKED" if self.pg else ""
        async with self.db.tx(write=True) as tx:
            # One statement: row locks are held for the batch's duration only, never row by row.
            rows = await tx.fetch(
                "UPDATE task_executions SET state = 'done', status = 'idle', outcome = 'failure', "
                "summary = $3, completed_at = $1, updated_at = $1, lease_until = NULL "
                "WHERE state = 'running' AND id IN (SELECT id FROM task_executions WHERE state = 'running' "
                f"AND lease_until < $1 ORDER BY lease_until LIMIT $2{lock}) RETURNING id, task_id",
                now,
                limit,
                "Worker lost: the execution's lease expired without a heartbeat, so the run was ended",
            )
            tasks = sorted({r["task_id"] for r in rows})
            await self._settle_tasks(tx, [(t, "failure") for t in tasks], now)
        return [r["id"] for r in rows]

    async def prune(self, older_than: int, batch: int = 1000) -> int:
        """Delete up to ``batch`` finished executions created before ``older_than``; returns how many."""
        async with self.db.tx(write=True) as tx:
            return await tx.execute(
                "DELETE FROM task_executions WHERE id IN (SELECT id FROM task_executions "
                "WHERE created_at < $1 AND state = 'done' ORDER BY created_at LIMIT $2)",
                older_than,
                batch,
            )

    async def prune_usage(self, now: int) -> int:
        """Drop hourly usage counters older than two days."""
        async with self.db.tx(write=True) as tx:
            return await tx.execute("DELETE FROM account_usage WHERE hour < $1", now // HOUR_MS - 48)

    async def expire_tasks(self, now: int, batch: int = 1000) -> int:
        """Delete tasks past their ``expiresAt`` that are not running."""
        async with self.db.tx(write=True) as tx:
            rows = await tx.fetch(
                "SELECT id FROM tasks WHERE expires_at IS NOT NULL AND expires_at <= $1 AND status <> 'running' "
                "LIMIT $2",
                now,
                batch,
            )
            for r in rows:
                await tx.execute("DELETE FROM task_executions WHERE task_id = $1", r["id"])
                await tx.execute("DELETE FROM task_events WHERE task_id = $1", r["id"])
                await tx.execute("DELETE FROM tasks WHERE id = $1", r["id"])
        return len(rows)

    async def _insert_many(
        self,
        tx: Tx,
        table: str,
        cols: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        suffix: str = "",
        returning: str = "",
    ) -> list[Row] | None:
        """Insert ``rows``: without ``suffix`` by the backend's bulk path (`Tx.insert_rows`: COPY on
        PostgreSQL); with one (``ON CONFLICT ...``) in one statement on PostgreSQL (``unnest`` of one
        array per column) or one ``executemany`` on SQLite (where a statement is a cheap in-process call).

        With ``returning`` (columns), PostgreSQL returns the inserted rows; SQLite returns None (its
        executemany cannot return rows: read them back)."""
        if not rows:
            return []
        if not suffix:
            await tx.insert_rows(table, [c for c, _ in cols], rows)
            return None
        names = ", ".join(c for c, _ in cols)
        if self.pg:
            arrays = ", ".join(f"${i}::{'text' if t == 'jsonb' else t}[]" for i, (_, t) in enumerate(cols, start=1))
            select = ", ".join(f"v.{c}::jsonb" if t == "jsonb" else f"v.{c}" for c, t in cols)
            sql = f"INSERT INTO {table} ({names}) SELECT {select} FROM unnest({arrays}) AS v({names}){suffix}"
            args = [list(col) for col in zip(*rows, strict=True)]
            if returning:
                return await tx.fetch(f"{sql} RETURNING {returning}", *args)
            await tx.execute(sql, *args)
            return None
        marks = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
        await tx.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}){suffix}", rows)
        return None

    def _values(
        self, name: str, cols: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], first: int = 1
    ) -> tuple[str, list[Any]]:
        """A CTE ``name(cols) AS (...)`` holding ``rows``, and its parameters (numbered from ``first``).

        PostgreSQL gets one array parameter per column (``unnest``), SQLite one JSON parameter: either way
        the statement text does not depend on the batch size."""
        names = ", ".join(c for c, _ in cols)
        if self.pg:
            arrays = ", ".join(f"${first + i}::{t}[]" for i, (_, t) in enumerate(cols))
            return f"{name}({names}) AS (SELECT * FROM unnest({arrays}))", [
                list(col) for col in zip(*rows, strict=True)
            ]
        # SQLite: the rows travel as one JSON array of arrays. A VALUES list would make a new statement text
        # per batch size, and parsing and planning thousands of placeholders cost more than the update.
        fields = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(cols)))
        return f"{name}({names}) AS (SELECT {fields} FROM json_each(${first}))", [
            json.dumps(rows, ensure_ascii=False)  # raw UTF-8: a lone surrogate fails the bind, as a VALUES list did
        ]

    def _any(self, column: str, n: int) -> str:
        return any_of(self.store.dialect, column, n)

    def _list(self, values: Iterable[str]) -> Any:
        return list_param(self.store.dialect, values)
