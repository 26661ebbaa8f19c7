"""Rows to domain values and back: the one place that knows which column holds what for a run.

The engine and the worker see `TaskConfig`, `BotConfig` and `Job`, parsed here once per claimed run;
the scheduler sees `DueTask`. Executions, conversations and messages are written from the column lists
below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import msgspec

from agentcron import ids
from agentcron.domain import (
    BotConfig,
    ExecState,
    ExecStatus,
    Finished,
    MisfirePolicy,
    Outcome,
    OverlapPolicy,
    PlannedRun,
    RunKind,
    TaskConfig,
)
from agentcron.store.db import Row

log = logging.getLogger("agentcron.store")

#: Largest number of rows one bulk statement carries.
CHUNK = 1000

EXECUTION_COLUMNS = [
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
CONVERSATION_COLUMNS = [
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
MESSAGE_COLUMNS = [
    ("id", "text"),
    ("account_id", "text"),
    ("conversation_id", "text"),
    ("type", "text"),
    ("text", "text"),
    ("created_at", "int8"),
    ("updated_at", "int8"),
]


def chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def task_config(row: Row) -> TaskConfig:
    """A ``tasks`` row as the scheduler, the worker and the engine see it."""
    return TaskConfig(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"] or "",
        description=row["description"] or "",
        bot_id=row["bot_id"],
        contact_id=row["contact_id"],
        schedule=row["schedule"],
        timezone=row["timezone"],
        max_iterations=row["max_iterations"],
        max_time=row["max_time"],
        session_duration=row["session_duration"],
        max_calls=row["max_calls"],
        overlap_policy=_policy(OverlapPolicy, row, "overlap_policy", OverlapPolicy.SKIP),
        misfire_policy=_policy(MisfirePolicy, row, "misfire_policy", MisfirePolicy.COALESCE),
    )


P = TypeVar("P", OverlapPolicy, MisfirePolicy)


def _policy(kind: type[P], row: Row, column: str, default: P) -> P:
    """A policy column as its enum; a value this version does not know (written by a newer one, or by
    hand) reads as the default, logged, so that one row cannot stall a whole tick or claim."""
    try:
        return kind(row[column])
    except ValueError:
        log.warning("task %s: unknown %s %r, using %r", row["id"], column, row[column], default.value)
        return default


def bot_config(row: Row) -> BotConfig:
    """A ``bots`` row as a run uses it: abilities decoded (anything but a list reads as none)."""
    raw = row["abilities"]
    try:
        value = msgspec.json.decode(raw) if isinstance(raw, str | bytes) else raw
    except msgspec.DecodeError:
        value = [raw]  # not JSON: the engine refuses it when the run starts (that run fails, not the claim)
    abilities = tuple(value) if isinstance(value, list) else ()
    return BotConfig(
        id=row["id"],
        model=str(row["model"] or "").strip(),
        backstory=str(row["backstory"] or "").strip(),
        abilities=abilities,
    )


def execution_row(run: PlannedRun, now: int, state: ExecState = ExecState.QUEUED) -> tuple[Any, ...]:
    """The `EXECUTION_COLUMNS` of ``run`` (given an id now if it has none): queued, or born running (a
    dispatched run) or done (a skipped slot: ``canceled``/``failure`` with its reason)."""
    skipped = run.kind == RunKind.SKIP
    if not run.execution_id:
        run.execution_id = ids.new_id(now)
    running = state == ExecState.RUNNING and not skipped
    task = run.task
    return (
        run.execution_id,
        task.account_id,
        task.id,
        task.name,
        task.description,
        ExecStatus.CANCELED.value if skipped else ExecStatus.RUNNING.value if running else ExecStatus.IDLE.value,
        Outcome.FAILURE.value if skipped else Outcome.PENDING.value,
        ExecState.DONE.value if skipped else state.value,
        run.kind.value,
        None if run.reason is None else run.reason.value,
        run.summary,
        run.scheduled_for,
        run.missed_count,
        now if skipped else None,
        now,
        now,
    )


def conversation_row(conversation_id: str, account_id: str, task: TaskConfig, now: int) -> tuple[Any, ...]:
    """The `CONVERSATION_COLUMNS` of a run's new conversation (``meta`` marks it as a task's)."""
    return (
        conversation_id,
        account_id,
        task.name,
        task.description,
        task.bot_id,
        task.contact_id,
        task.id,
        '{"app": "task", "taskId": "' + task.id + '"}',
        now,
        now,
    )


def without_nul(r: Finished) -> Finished:
    """``r`` with NUL removed from its texts: PostgreSQL text cannot hold it, and one such summary or
    message would make a whole batch unwritable."""
    if "\x00" not in r.summary and not any("\x00" in text for _, text in r.messages):
        return r
    return replace(
        r,
        summary=r.summary.replace("\x00", ""),
        messages=[(kind, text.replace("\x00", "")) for kind, text in r.messages],
    )


def message_rows(results: Iterable[Finished], now: int) -> list[tuple[Any, ...]]:
    """Rows of the ``messages`` table for the results' conversations, created at now, now + 1, ..."""
    rows: list[tuple[Any, ...]] = []
    for r in results:
        if r.conversation_id:
            for i, (kind, text) in enumerate(r.messages):
                rows.append((ids.new_id(now + i), r.account_id, r.conversation_id, kind, text, now + i, now))
    return rows
