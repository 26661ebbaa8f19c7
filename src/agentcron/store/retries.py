"""Retries and failed slots (#12), written in the transaction that ends a run (finish, reap) or fires the
task's next slot (the scheduler's tick).

- A failed run that its task's ``retryPolicy`` retries gets a new execution: trigger ``retry``, ``retry_of``
  the first execution of the chain, ``try_number`` (wire ``attempt``) one more, the same ``scheduled_for``,
  state ``waiting`` until ``not_before`` (also shown as ``resumeAt``); the scheduler queues it then
  (`queue_due`). A retry is not a failed slot yet.
- A slot fails once, after its last attempt: the task's ``consecutive_failures`` grows by one, an
  ``execution.failed`` notice is written for that attempt, and at ``pauseAfterFailures`` the task pauses
  (reason ``"Paused after N consecutive failures"``, a ``task.paused`` notice). A success resets the count.
- When the task's next slot fires, its retries still waiting are dropped (``canceled``, reason
  ``superseded``, an ``execution.canceled`` notice each): their slot counts as failed then.

Notices are written here, by the methods making the change (`record_notices`, same transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentcron import ids
from agentcron.domain import ExecStatus, Finished, Outcome, RunKind
from agentcron.retries import SUPERSEDED, RetryPolicy, Rng, pause_reason, plan_retry, should_pause
from agentcron.store.db import Row, Tx
from agentcron.store.notices import EXECUTION_CANCELED, EXECUTION_FAILED, TASK_PAUSED, Notice, record_notices
from agentcron.store.pausing import pause_task
from agentcron.store.rows import EXECUTION_COLUMNS, json_value

SUPERSEDED_SUMMARY = "Canceled: the task's next scheduled slot fired before this retry ran"

#: A retry's row: the execution columns (``reason``, ``summary`` and ``completed_at`` null, as for a queued
#: run) and its place in the chain.
_RETRY_COLUMNS = [
    *EXECUTION_COLUMNS,
    ("retry_of", "text"),
    ("try_number", "int4"),
    ("not_before", "int8"),
    ("resume_at", "int8"),
]
_ONCE_PER_TRY = " ON CONFLICT (task_id, scheduled_for, try_number) DO NOTHING"
_RUN_COLUMNS = (
    "id, task_id, account_id, name, description, retry_of, try_number, scheduled_for, missed_count, missed_since"
)
_TASK_COLUMNS = "id, account_id, retry_policy, pause_after_failures, consecutive_failures, paused_at, deleted_at"


@dataclass(slots=True)
class _Slots:
    """The failure counts of a set of tasks (rows locked by the caller), updated in memory as outcomes are
    settled in order, then written at once with the pauses and notices they make."""

    tasks: dict[str, Row]
    counts: dict[str, int] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    paused: dict[str, str] = field(default_factory=dict)

    def live(self, task_id: str) -> Row | None:
        task = self.tasks.get(task_id)
        return None if task is None or task["deleted_at"] is not None else task

    def count(self, task_id: str) -> int:
        return self.counts.get(task_id, int(self.tasks[task_id]["consecutive_failures"]))

    def succeeded(self, task_id: str) -> None:
        self.counts[task_id] = 0

    def failed(self, task: Row, execution_id: str) -> str | None:
        """A slot of ``task`` failed after its last attempt ``execution_id``; returns the pause reason when
        this failure pauses the task."""
        n = self.count(task["id"]) + 1
        self.counts[task["id"]] = n
        self.notices.append(Notice(EXECUTION_FAILED, task["account_id"], task["id"], execution_id))
        pausing = task["paused_at"] is None and task["id"] not in self.paused
        if pausing and should_pause(task["pause_after_failures"], n):
            reason = pause_reason(n)
            self.paused[task["id"]] = reason
            self.notices.append(Notice(TASK_PAUSED, task["account_id"], task["id"], None, {"reason": reason}))
            return reason
        return None

    async def write(self, tx: Tx, now: int) -> None:
        changed = [(t, n) for t, n in sorted(self.counts.items()) if n != int(self.tasks[t]["consecutive_failures"])]
        for task_id, n in changed:
            await tx.execute(
                "UPDATE tasks SET consecutive_failures = $2, version = version + 1 WHERE id = $1", task_id, n
            )
        for task_id, reason in sorted(self.paused.items()):
            await pause_task(tx, task_id, now, reason, None)
        await record_notices(tx, self.notices, now)


async def _read_tasks(tx: Tx, task_ids: Sequence[str]) -> dict[str, Row]:
    """The tasks' failure settings, their rows locked in id order (as `settle_tasks` locks them)."""
    await tx.lock_rows("tasks", task_ids)
    rows = await tx.fetch(
        f"SELECT {_TASK_COLUMNS} FROM tasks WHERE {tx.sql.any_of('id', 1)}", tx.sql.list_param(task_ids)
    )
    return {r["id"]: r for r in rows}


async def settle_outcomes(tx: Tx, results: Sequence[Finished], now: int, rng: Rng) -> None:
    """After ``results`` were recorded (in ``tx``; cancels are left alone): retry the failures the task's
    policy retries, count the slots that failed after their last attempt (pausing at
    ``pauseAfterFailures``), reset the count on a success (as `settle_tasks` does). Sets ``retry_at`` and
    ``paused`` on the results it retried or that paused their task. Call before `settle_tasks` (which
    removes tasks deleted while running: they are neither retried nor counted)."""
    ended = [r for r in results if r.status == ExecStatus.IDLE and r.outcome != Outcome.PENDING]
    failed = [r for r in ended if r.outcome == Outcome.FAILURE]
    if not failed:  # the usual batch: nothing to do here (`settle_tasks` resets the count of a success)
        return
    slots = _Slots(await _read_tasks(tx, sorted({r.task_id for r in ended})))
    runs = {
        r["id"]: r
        for r in await tx.fetch(
            f"SELECT {_RUN_COLUMNS} FROM task_executions WHERE {tx.sql.any_of('id', 1)}",
            tx.sql.list_param([r.execution_id for r in failed]),
        )
    }
    retries: list[tuple[Any, ...]] = []
    for r in ended:
        task = slots.live(r.task_id)
        if task is None:
            continue
        if r.outcome == Outcome.SUCCESS:
            slots.succeeded(r.task_id)
            continue
        run = runs.get(r.execution_id)
        if run is None:
            continue
        policy = RetryPolicy.of(json_value(task["retry_policy"]))
        plan = plan_retry(policy, int(run["try_number"]), r.error_code, now, rng, r.retry_after_ms)
        if plan is None:
            r.paused = slots.failed(task, r.execution_id)
            continue
        r.retry_at = plan.not_before
        retries.append(
            (
                ids.new_id(now),
                run["account_id"],
                run["task_id"],
                run["name"],
                run["description"],
                ExecStatus.IDLE.value,
                Outcome.PENDING.value,
                "waiting",
                RunKind.RETRY.value,
                None,  # reason
                None,  # summary
                run["scheduled_for"],
                run["missed_count"],
                run["missed_since"],
                None,  # completed_at
                now,
                now,
                run["retry_of"] or run["id"],
                plan.attempt,
                plan.not_before,
                plan.not_before,
            )
        )
    if retries:
        await tx.insert_many("task_executions", _RETRY_COLUMNS, retries, _ONCE_PER_TRY)
    await slots.write(tx, now)


@dataclass(slots=True)
class Superseded:
    """What superseding did: the retries dropped and the tasks it paused (task id -> reason)."""

    execution_ids: list[str] = field(default_factory=list)
    paused: dict[str, str] = field(default_factory=dict)


async def supersede(tx: Tx, task_ids: Sequence[str], now: int) -> Superseded:
    """The tasks' next slots fire now: drop their retries still waiting (``canceled``, reason
    ``superseded``), and count each dropped retry's slot as failed (its last attempt was the one before).
    In the tick's transaction, which holds the task rows."""
    out = Superseded()
    if not task_ids:
        return out
    rows = await tx.fetch(
        "UPDATE task_executions SET state = 'done', status = 'canceled', outcome = 'failure', reason = $2, "
        "summary = $3, completed_at = $1, updated_at = $1 WHERE state = 'waiting' AND "
        f"{tx.sql.any_of('task_id', 4)} RETURNING id, task_id, account_id, retry_of, try_number",
        now,
        SUPERSEDED,
        SUPERSEDED_SUMMARY,
        tx.sql.list_param(task_ids),
    )
    if not rows:
        return out
    rows.sort(key=lambda r: (r["task_id"], r["id"]))
    out.execution_ids = [r["id"] for r in rows]
    slots = _Slots(await _read_tasks(tx, sorted({r["task_id"] for r in rows})))
    slots.notices.extend(Notice(EXECUTION_CANCELED, r["account_id"], r["task_id"], r["id"]) for r in rows)
    previous = await _previous_attempts(tx, rows)
    for r in rows:
        task = slots.live(r["task_id"])
        if task is not None:
            slots.failed(task, previous.get(r["id"]) or str(r["retry_of"] or r["id"]))
    await slots.write(tx, now)
    out.paused = slots.paused
    return out


async def _chain_rows(tx: Tx, chains: Sequence[str]) -> list[Row]:
    """Every execution of these retry chains (each named by its first execution)."""
    if not chains:
        return []
    return await tx.fetch(
        f"SELECT id, retry_of, try_number, summary FROM task_executions WHERE {tx.sql.any_of('id', 1)} "
        f"OR {tx.sql.any_of('retry_of', 1)}",
        tx.sql.list_param(sorted(set(chains))),
    )


def _by_try(rows: Sequence[Row]) -> dict[tuple[str, int], Row]:
    return {(r["retry_of"] or r["id"], int(r["try_number"])): r for r in rows}


async def _previous_attempts(tx: Tx, retries: Sequence[Row]) -> dict[str, str]:
    """retry id -> the execution of the attempt before it."""
    by_try = _by_try(await _chain_rows(tx, [r["retry_of"] for r in retries if r["retry_of"]]))
    out: dict[str, str] = {}
    for r in retries:
        prev = by_try.get((r["retry_of"], int(r["try_number"]) - 1))
        if prev is not None:
            out[r["id"]] = prev["id"]
    return out


async def queue_due(tx: Tx, now: int, limit: int) -> list[Row]:
    """Queue up to ``limit`` retries whose ``not_before`` has come (a worker may claim them now); returns
    their rows (``id, task_id, account_id, scheduled_for``)."""
    return await tx.fetch(
        "UPDATE task_executions SET state = 'queued', updated_at = $1 WHERE state = 'waiting' AND id IN "
        "(SELECT id FROM task_executions WHERE state = 'waiting' AND not_before <= $1 ORDER BY not_before "
        f"LIMIT $2{tx.sql.skip_locked}) RETURNING id, task_id, account_id, scheduled_for",
        now,
        limit,
    )


async def next_retry_at(tx: Tx) -> int | None:
    """The earliest ``not_before`` of a waiting retry, or None."""
    row = await tx.fetchrow(
        "SELECT not_before FROM task_executions WHERE state = 'waiting' ORDER BY not_before LIMIT 1"
    )
    return None if row is None or row["not_before"] is None else int(row["not_before"])


async def previous_errors(tx: Tx, retries: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """(chain, attempt) -> that attempt's summary, for the chains of these retries (``(chain, try_number)``
    pairs): what a retry's instruction quotes of the attempt before it."""
    rows = await _chain_rows(tx, [c for c, _ in retries])
    return {key: r["summary"] or "" for key, r in _by_try(rows).items()}
