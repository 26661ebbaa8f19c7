"""Helpers for scheduler/worker tests: rows written straight through the Store (no HTTP)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentcron import ids
from agentcron.slots import next_slot
from agentcron.store.base import Store
from agentcron.store.resources import BOT, EXECUTION, TASK, json_in


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
