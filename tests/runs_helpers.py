"""Helpers for scheduler/worker tests: rows written straight through the Store (no HTTP)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentcron import ids
from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.domain import Finished, PlannedRun, RunKind
from agentcron.engine.basic import BasicRunner
from agentcron.engine.runner import Runner
from agentcron.events import open_event_bus
from agentcron.events.lifecycle import RunEvents
from agentcron.janitor import Janitor
from agentcron.scheduler import Scheduler
from agentcron.signals import Signals
from agentcron.slots import next_slot
from agentcron.store.base import Store
from agentcron.store.resources import BOT, EXECUTION, TASK, json_in
from agentcron.store.rows import task_config
from agentcron.store.settle import cancel_runs
from agentcron.worker import Worker


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


async def make_bot(store: Store, account: str, now: int, abilities: list[dict[str, Any]] | None = None) -> str:
    bot_id = ids.new_id(now)
    await store.insert(
        BOT,
        {
            "id": bot_id,
            "account_id": account,
            "name": "bot",
            "description": "",
            "model": "test",
            "abilities": json_in(abilities),
            "created_at": now,
            "updated_at": now,
        },
    )
    return bot_id


async def make_task(
    store: Store, account: str, now: int, schedule: str | None, timezone: str | None = None, **cols: Any
) -> str:
    task_id = ids.new_id(now)
    row = {
        "id": task_id,
        "account_id": account,
        "name": "task",
        "description": "",
        "schedule": schedule,
        "timezone": timezone,
        "next_run_at": next_slot(schedule, timezone, now),
        # No worker drains the queue in most scheduler tests: let slots pile up instead of being skipped
        # as overlapping. Overlap tests pass overlap_policy explicitly.
        "overlap_policy": "allow",
        "created_at": now,
        "updated_at": now,
    }
    row.update(cols)
    await store.insert(TASK, row)
    return task_id


async def task(store: Store, account: str, task_id: str) -> dict[str, Any] | None:
    return await store.get(TASK, account, task_id)


async def executions(store: Store, account: str, task_id: str) -> list[dict[str, Any]]:
    from agentcron.store.base import ListQuery

    rows = await store.list_page(EXECUTION, account, ListQuery(take=100, order="asc"), parent_id=task_id)
    return [EXECUTION.to_wire(r) for r in rows]


async def conversation_messages(store: Store, conversation_id: str) -> list[tuple[str, str]]:
    """(type, text) of a conversation's messages, oldest first."""
    async with store.db.tx() as tx:
        rows = await tx.fetch(
            "SELECT type, text FROM messages WHERE conversation_id = $1 ORDER BY created_at, id", conversation_id
        )
    return [(r["type"], r["text"]) for r in rows]


async def execution_usage(store: Store, execution_id: str) -> tuple[int, int, int]:
    """(input tokens, output tokens, model requests) recorded on an execution."""
    async with store.db.tx() as tx:
        row = await tx.fetchrow(
            "SELECT input_tokens, output_tokens, model_requests FROM task_executions WHERE id = $1", execution_id
        )
    assert row is not None
    return int(row["input_tokens"]), int(row["output_tokens"]), int(row["model_requests"])


async def running_executions(store: Store, acc: str, tid: str, n: int, now: int) -> list[str]:
    """``n`` executions of the task, running under attempt 1, created (and slotted) at now, now + 1, ..."""
    out = []
    async with store.db.tx(write=True) as tx:
        for i in range(n):
            e = ids.new_id(now + i)
            await tx.execute(
                "INSERT INTO task_executions (id, account_id, task_id, name, description, status, outcome, "
                "state, kind, scheduled_for, attempt, created_at, updated_at) "
                "VALUES ($1, $2, $3, 't', '', 'running', 'pending', 'running', 'schedule', $4, 1, $4, $4)",
                e,
                acc,
                tid,
                now + i,
            )
            out.append(e)
    return out


def make_worker(
    store: Store, clock: Clock, settings: Settings | None = None, worker_id: str = "w1", runner: Runner | None = None
) -> Worker:
    """A worker of this process on ``store`` (a no-op `BasicRunner` unless given), not started."""
    settings = settings or Settings()
    signals = Signals()
    return Worker(
        store.runs,
        settings,
        clock,
        runner or BasicRunner(),
        RunEvents(open_event_bus(store, clock, settings), store.events, signals),
        signals,
        store.caps.concurrent_writes,
        worker_id,
    )


def make_scheduler(
    store: Store, clock: Clock, settings: Settings | None = None, local: Worker | None = None
) -> Scheduler:
    return Scheduler(store, settings or Settings(), clock, Signals(), local)


def make_janitor(store: Store, clock: Clock, settings: Settings | None = None) -> Janitor:
    return Janitor(store.housekeeping, settings or Settings(), clock, Signals())


async def cancel(store: Store, task_id: str, now: int) -> list[str]:
    """Cancel the task's queued and running executions as the API does (without its account check)."""
    async with store.db.tx(write=True) as tx:
        return await cancel_runs(tx, task_id, now)


async def queue_trigger(store: Store, task_id: str, now: int) -> None:
    """Queue a manual run of the task (as `trigger` does, without the account limits)."""
    async with store.db.tx(write=True) as tx:
        row = await tx.fetchrow("SELECT * FROM tasks WHERE id = $1", task_id)
        assert row is not None
        await store.firing.insert_executions(tx, [PlannedRun(task_config(row), RunKind.TRIGGER, None)], now)


def ids_of(recorded: list[Finished]) -> list[str]:
    return [f.execution_id for f in recorded]
