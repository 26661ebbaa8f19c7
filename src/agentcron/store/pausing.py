"""Pausing: how a task stops firing (by hand, or after ``pauseAfterFailures`` failed slots) and how it comes
back (by hand, or when its ``paused_until`` arrives)."""

from __future__ import annotations

from agentcron.schedule import ScheduleError
from agentcron.slots import next_slot
from agentcron.store.db import Database, Row, Tx
from agentcron.store.notices import TASK_RESUMED, Notice, record_notices


async def pause_task(tx: Tx, task_id: str, now: int, reason: str | None, until: int | None) -> None:
    """Pause the task: no scheduled slot fires (``next_run_at`` NULL) until resumed, or until ``until``.
    Pausing a paused task replaces its reason and until and keeps its ``paused_at``."""
    await tx.execute(
        "UPDATE tasks SET paused_at = COALESCE(paused_at, $2), pause_reason = $3, paused_until = $4, "
        "next_run_at = NULL, updated_at = $2, version = version + 1 WHERE id = $1",
        task_id,
        now,
        reason,
        until,
    )


async def resume_task(tx: Tx, task: Row, now: int) -> None:
    """Clear the task's pause; its next slot is computed from ``now`` (slots passed while paused are not run).
    The consecutive-failure count starts again: an operator who resumes a task paused after N failures
    expects N more chances, not a pause at the next failure."""
    try:
        nxt = next_slot(task["schedule"], task["timezone"], now)
    except ScheduleError:
        nxt = None
    await tx.execute(
        "UPDATE tasks SET paused_at = NULL, pause_reason = NULL, paused_until = NULL, next_run_at = $2, "
        "consecutive_failures = 0, updated_at = $3, version = version + 1 WHERE id = $1",
        task["id"],
        nxt,
        now,
    )


async def resume_due(db: Database, now: int, limit: int = 1000) -> list[str]:
    """Resume up to ``limit`` paused tasks whose ``paused_until`` has come; returns their ids."""
    async with db.tx(write=True) as tx:
        rows = await tx.fetch(
            "SELECT * FROM tasks WHERE paused_until IS NOT NULL AND paused_until <= $1 AND deleted_at IS NULL "
            f"ORDER BY paused_until LIMIT $2{tx.sql.skip_locked}",
            now,
            limit,
        )
        for task in rows:
            await resume_task(tx, task, now)
        resumed = [Notice(TASK_RESUMED, r["account_id"], r["id"], None, {"automatic": True}) for r in rows]
        await record_notices(tx, resumed, now)
    return [r["id"] for r in rows]
