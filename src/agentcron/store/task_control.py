"""What the API does to a task's runs: trigger, cancel, delete, and the checks that go with them. Each
method owns its transaction (or joins the caller's, for the generic delete) and raises `ApiError` 404
for a task this account does not have, so another account's ids answer exactly like missing ones."""

from __future__ import annotations

from agentcron.domain import PlannedRun, RunKind
from agentcron.errors import ApiError, limits_reached, not_found
from agentcron.policy import limit_reached, limit_refused
from agentcron.schedule import ScheduleError
from agentcron.slots import next_slot, slots_between
from agentcron.store.db import Database, Row, Tx
from agentcron.store.firing import FiringStore
from agentcron.store.notices import EXECUTION_CANCELED, TASK_PAUSED, TASK_RESUMED, Notice, record_notices
from agentcron.store.pausing import pause_task, resume_task
from agentcron.store.rows import task_config
from agentcron.store.settle import PAUSED_RETRY_SUMMARY, cancel_runs, delete_task_rows

#: slots one backfill queues at most, and slots counted for the message refusing a larger one
BACKFILL_MAX = 1000
BACKFILL_COUNTED = 100_000

TASK_VISIBLE = "SELECT * FROM tasks WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL"


class TaskControl:
    def __init__(self, db: Database, firing: FiringStore) -> None:
        self.db = db
        self.firing = firing

    async def _task(self, tx: Tx, account_id: str, task_id: str) -> Row:
        row = None if "\x00" in task_id else await tx.fetchrow(TASK_VISIBLE, task_id, account_id)
        if row is None:
            raise not_found()
        return row

    async def trigger(self, account_id: str, task_id: str, now: int, concurrent_cap: int, daily_cap: int) -> PlannedRun:
        """Queue an additional execution of the task now. Raises 404, or 429 ``LIMITS_REACHED`` when the
        task's token budget or the account's daily token cap is used up for the period (the message is the
        budget's sentence), or the account is at an execution cap (0: no cap)."""
        async with self.db.tx(write=True) as tx:
            task = task_config(await self._task(tx, account_id, task_id))
            for budget in (await self.firing.budgets.allowances(tx, [task], now)).get(task.id, ()):
                if budget.reached():
                    raise limits_reached(budget.sentence())
            usage = (await self.firing.account_usage(tx, [account_id], now, concurrent_cap, daily_cap))[account_id]
            limit = limit_reached(usage, concurrent_cap, daily_cap)
            if limit is not None:
                raise limits_reached(limit_refused(limit, usage, concurrent_cap, daily_cap))
            run = PlannedRun(task, RunKind.TRIGGER, None)
            await self.firing.insert_executions(tx, [run], now)
            await self.firing.record_usage(tx, {account_id: 1}, now)
        return run

    async def cancel(self, account_id: str, task_id: str, now: int, execution_id: str | None = None) -> list[str]:
        """Cancel the task's queued and running executions, or just ``execution_id`` (404 unless it is
        this task's); returns the ids cancelled (none: a no-op). The task's next slot is then recomputed
        from ``now`` in its own timezone."""
        async with self.db.tx(write=True) as tx:
            task = await self._task(tx, account_id, task_id)
            if execution_id is not None:
                owned = (
                    None
                    if "\x00" in execution_id
                    else await tx.fetchrow(
                        "SELECT id FROM task_executions WHERE id = $1 AND task_id = $2 AND account_id = $3",
                        execution_id,
                        task_id,
                        account_id,
                    )
                )
                if owned is None:
                    raise not_found()
            canceled = await cancel_runs(tx, task_id, now, execution_id)
            if canceled and task["paused_at"] is None:  # (a paused task stays paused: no next slot)
                try:
                    nxt = next_slot(task["schedule"], task["timezone"], now)
                except ScheduleError:
                    nxt = None
                await tx.execute("UPDATE tasks SET next_run_at = $2, version = version + 1 WHERE id = $1", task_id, nxt)
        return canceled

    async def backfill(self, account_id: str, task_id: str, start: int, end: int, now: int) -> list[PlannedRun]:
        """Queue one ``backfill`` execution per slot of the task's schedule in ``[start, end)`` (epoch ms,
        ``end <= now``), in slot order; slots that already have an execution are left out (a slot never
        runs twice). Returns the runs queued. Raises 404; 400 for a task without a bot, a schedule with no
        slots, or more than `BACKFILL_MAX` slots (the message names the count)."""
        async with self.db.tx(write=True) as tx:
            row = await self._task(tx, account_id, task_id)
            task = task_config(row)
            if task.bot_id is None:
                raise ApiError(400, "The task has no bot: set botId before a backfill")
            try:
                slots = slots_between(task.schedule, task.timezone, start - 1, end - 1, BACKFILL_COUNTED + 1)
            except ScheduleError as e:
                raise ApiError(400, str(e)) from None
            if len(slots) > BACKFILL_MAX:
                counted = f"more than {BACKFILL_COUNTED:,}" if len(slots) > BACKFILL_COUNTED else f"{len(slots):,}"
                raise ApiError(
                    400, f"Too many slots: the range holds {counted} slots; a backfill takes at most {BACKFILL_MAX:,}"
                )
            taken = {
                int(r["scheduled_for"])
                for r in await tx.fetch(
                    "SELECT scheduled_for FROM task_executions WHERE task_id = $1 AND scheduled_for >= $2 "
                    "AND scheduled_for < $3",
                    task_id,
                    start,
                    end,
                )
            }
            runs = [PlannedRun(task, RunKind.BACKFILL, slot) for slot in slots if slot not in taken]
            await self.firing.insert_executions(tx, runs, now)
            if runs:
                await self.firing.record_usage(tx, {account_id: len(runs)}, now)
        return runs

    async def pause(self, account_id: str, task_id: str, now: int, reason: str | None, until: int | None) -> list[str]:
        """Pause the task: no scheduled slot fires (``next_run_at`` NULL) until `resume`, or until ``until``
        (epoch ms; `resume_due` resumes it). Runs already queued or running go on; a manual trigger still
        runs. Its retries still waiting are canceled (`PAUSED_RETRY_SUMMARY`: a retry belongs to a slot, and
        slots passing while paused are not run); returns their ids. Pausing a paused task replaces its
        reason and until and keeps its ``paused_at``. Raises 404."""
        async with self.db.tx(write=True) as tx:
            await self._task(tx, account_id, task_id)
            await pause_task(tx, task_id, now, reason, until)
            extra = {"reason": reason, "until": until}
            await record_notices(tx, [Notice(TASK_PAUSED, account_id, task_id, None, extra)], now)
            return await cancel_runs(tx, task_id, now, summary=PAUSED_RETRY_SUMMARY, states=("waiting",))

    async def resume(self, account_id: str, task_id: str, now: int) -> bool:
        """Resume a paused task: its next slot is computed from ``now`` (slots that passed while paused are
        not run: a pause is not an outage). Returns False (and changes nothing) when it was not paused.
        Raises 404."""
        async with self.db.tx(write=True) as tx:
            task = await self._task(tx, account_id, task_id)
            if task["paused_at"] is None:
                return False
            await resume_task(tx, task, now)
            await record_notices(tx, [Notice(TASK_RESUMED, account_id, task_id, None, {"automatic": False})], now)
        return True

    async def delete(self, tx: Tx, task: Row, now: int) -> bool:
        """Delete the task in the caller's transaction; returns True (the row is handled here). While one
        of its executions runs, the queued ones are cancelled, the task vanishes from the API at once
        (``deleted_at``) and the run's settle removes it when the run ends; otherwise it goes now with its
        executions and events."""
        running = await tx.fetchrow(
            # (the IN is redundant but lets SQLite use the partial index of live executions)
            "SELECT id FROM task_executions WHERE task_id = $1 AND state IN ('queued', 'running') "
            "AND state = 'running' LIMIT 1",
            task["id"],
        )
        if running is not None:
            dropped = await tx.fetch(
                "UPDATE task_executions SET state = 'done', status = 'canceled', outcome = 'failure', "
                "summary = 'Task deleted before this execution started', completed_at = $2, updated_at = $2 "
                "WHERE task_id = $1 AND state IN ('queued', 'waiting') RETURNING id",
                task["id"],
                now,
            )
            await record_notices(
                tx, [Notice(EXECUTION_CANCELED, task["account_id"], task["id"], r["id"]) for r in dropped], now
            )
            await tx.execute(
                "UPDATE tasks SET deleted_at = $2, next_run_at = NULL, updated_at = $2, version = version + 1 "
                "WHERE id = $1",
                task["id"],
                now,
            )
            return True
        await delete_task_rows(tx, [task["id"]])
        return True

    async def unlink(self, tx: Tx, account_id: str, column: str, ref_id: str) -> None:
        """Tasks keep existing without a deleted bot or contact (``column`` is ``bot_id`` or ``contact_id``;
        like a foreign key ON DELETE SET NULL)."""
        if column not in ("bot_id", "contact_id"):
            raise ValueError(f"tasks cannot be unlinked from {column!r}")
        await tx.execute(
            f"UPDATE tasks SET {column} = NULL, version = version + 1 WHERE account_id = $1 AND {column} = $2",
            account_id,
            ref_id,
        )

    async def owner(self, task_id: str) -> str | None:
        """The account of a visible task, or None (the subscribe stream answers 401 for another's)."""
        if "\x00" in task_id:
            return None
        async with self.db.tx() as tx:
            row = await tx.fetchrow("SELECT account_id FROM tasks WHERE id = $1 AND deleted_at IS NULL", task_id)
        return None if row is None else str(row["account_id"])
