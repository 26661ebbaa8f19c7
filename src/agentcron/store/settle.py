"""What happens to a task when its runs end, and the one way a task's rows are deleted.

Shared by every transition out of ``queued``/``running`` (finish, cancel, reap, release): the caller
runs these inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentcron.domain import ExecState, ExecStatus, Outcome
from agentcron.store.db import Row, Tx
from agentcron.store.notices import EXECUTION_CANCELED, Notice, record_notices
from agentcron.store.rows import chunks

CANCELED_SUMMARY = "Task execution canceled"
#: a retry waiting when its task was paused (a retry belongs to its slot; slots passing while paused are not run)
PAUSED_RETRY_SUMMARY = "Canceled: the task was paused before this retry ran"


async def delete_task_rows(tx: Tx, task_ids: Sequence[str]) -> None:
    """Delete tasks with their executions and events (the one task-delete cascade)."""
    for task_id in task_ids:
        await tx.execute("DELETE FROM task_executions WHERE task_id = $1", task_id)
        await tx.execute("DELETE FROM task_events WHERE task_id = $1", task_id)
        await tx.execute("DELETE FROM tasks WHERE id = $1", task_id)


async def settle_tasks(tx: Tx, outcomes: Sequence[tuple[str, str | None]], now: int) -> None:
    """After executions of these tasks left ``running``: status back to idle unless another still runs,
    outcome/lastRunAt recorded (None: leave them; a success resets ``consecutive_failures``), and tasks
    deleted while running are removed."""
    if not outcomes:
        return
    task_ids = sorted({t for t, _ in outcomes})
    # Lock the task rows first, in id order, in a statement of their own. Under READ COMMITTED the UPDATE
    # below then takes its snapshot after any concurrent settle of the same task has committed: otherwise
    # two workers finishing overlapping runs (overlapPolicy allow) could each see the other's run as still
    # running and leave the task "running" for good. The fixed order rules out deadlocks between concurrent
    # settles; every writer here locks executions before their task (claims and the scheduler skip rows
    # held by others).
    await tx.lock_rows("tasks", task_ids)
    # Which of these tasks still have a run going (overlapPolicy allow, or a run started meanwhile). Asked
    # apart, through the live-executions index by task: as an EXISTS inside the UPDATE, PostgreSQL planned
    # it as a scan of every running execution, and that partial index keeps an entry per recently finished
    # run until VACUUM reaches it.
    live = await tx.fetch(
        "SELECT task_id, state FROM task_executions WHERE state IN ('queued', 'running') AND "
        + tx.sql.any_of("task_id", 1),
        tx.sql.list_param(task_ids),
    )
    busy = {r["task_id"] for r in live if r["state"] == ExecState.RUNNING}
    gone: list[Row] = []  # deleted while running, and now idle: removed here
    for chunk in chunks(outcomes):
        rows = [(t, outcome, ExecStatus.RUNNING.value if t in busy else ExecStatus.IDLE.value) for t, outcome in chunk]
        cte, args = tx.sql.values("v", [("id", "text"), ("outcome", "text"), ("status", "text")], rows, first=2)
        settled = await tx.fetch(
            # The latest recorded finish keeps the task's outcome: two batches (two writers, two workers)
            # may commit in the other order than they were recorded in.
            f"WITH {cte} UPDATE tasks SET status = v.status, "
            "outcome = CASE WHEN v.outcome IS NULL OR tasks.last_run_at > $1 THEN tasks.outcome "
            "ELSE v.outcome END, "
            "last_run_at = CASE WHEN v.outcome IS NULL OR tasks.last_run_at > $1 THEN tasks.last_run_at "
            "ELSE $1 END, "
            # a success ends a run of failed slots (failures are counted by `retries.settle_outcomes`)
            "consecutive_failures = CASE WHEN v.outcome = 'success' THEN 0 ELSE tasks.consecutive_failures END, "
            "version = tasks.version + 1 "
            "FROM v WHERE tasks.id = v.id RETURNING tasks.id, tasks.status, tasks.deleted_at",
            now,
            *args,
        )
        gone += [r for r in settled if r["deleted_at"] is not None and r["status"] == ExecStatus.IDLE]
    await delete_task_rows(tx, [g["id"] for g in gone])


async def cancel_runs(
    tx: Tx,
    task_id: str,
    now: int,
    execution_id: str | None = None,
    summary: str = CANCELED_SUMMARY,
    skip_locked: bool = False,
    states: tuple[str, ...] = ("queued", "running", "waiting"),
) -> list[str]:
    """Cancel the task's queued and running executions and its retries waiting (or just ``execution_id``;
    or only those in ``states``); returns the ids cancelled. Workers running them notice on their next
    heartbeat (or at once, in process).

    ``skip_locked``: leave alone executions another transaction holds, i.e. runs whose outcome is being
    recorded right now. The scheduler uses it while it holds the task row: waiting there on a finishing
    run, whose settle waits on that task row, would deadlock. (With a single writer nothing is held.)"""
    extra = " AND id = $4" if execution_id else ""
    among = ", ".join(f"'{s}'" for s in states if s in ("queued", "running", "waiting"))
    if skip_locked and tx.sql.skip_locked:
        extra += (
            f" AND id IN (SELECT id FROM task_executions WHERE task_id = $1 AND state IN ({among}){tx.sql.skip_locked})"
        )
    args: list[object] = [task_id, now, summary] + ([execution_id] if execution_id else [])
    rows = await tx.fetch(
        "UPDATE task_executions SET state = 'done', status = 'canceled', outcome = 'failure', "
        "summary = $3, completed_at = $2, updated_at = $2, lease_until = NULL "
        f"WHERE task_id = $1 AND state IN ({among}){extra} RETURNING id, account_id",
        *args,
    )
    canceled = [r["id"] for r in rows]
    if canceled:
        await record_notices(tx, [Notice(EXECUTION_CANCELED, r["account_id"], task_id, r["id"]) for r in rows], now)
        if states != ("waiting",):  # (a retry waiting never made its task run: there is nothing to settle)
            await settle_tasks(tx, [(task_id, Outcome.FAILURE.value)], now)
    return canceled
