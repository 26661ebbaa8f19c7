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
    SkipReason,
    TaskConfig,
)
from agentcron.retries import RetryPolicy
from agentcron.store.budgets import parse_budget
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
    ("missed_since", "int8"),
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
    """A ``tasks`` row as the scheduler, the worker and the engine see it (one per fired slot: positional,
    the cheapest way to build it)."""
    return TaskConfig(
        row["id"],
        row["account_id"],
        row["name"] or "",
        row["description"] or "",
        row["bot_id"],
        row["contact_id"],
        row["schedule"],
        row["timezone"],
        row["max_iterations"],
        row["max_time"],
        row["session_duration"],
        row["max_calls"],
        _policy(_OVERLAP, row, "overlap_policy", OverlapPolicy.SKIP),
        _policy(_MISFIRE, row, "misfire_policy", MisfirePolicy.COALESCE),
        None if row["token_budget"] is None else parse_budget(row["token_budget"]),
        max_attempts=None if row["retry_policy"] is None else _max_attempts(row),
    )


def _max_attempts(row: Row) -> int | None:
    policy = RetryPolicy.of(json_value(row["retry_policy"]))
    return None if policy is None else policy.max_attempts


def json_value(raw: Any) -> Any:
    """A JSON column's value (SQLite hands back text, PostgreSQL decoded values); None if not JSON."""
    try:
        return msgspec.json.decode(raw) if isinstance(raw, str | bytes) else raw
    except msgspec.DecodeError:
        return None


P = TypeVar("P", OverlapPolicy, MisfirePolicy)
# (a dict lookup: calling the enum class costs more than the rest of a row's parsing)
_OVERLAP = {p.value: p for p in OverlapPolicy}
_MISFIRE = {p.value: p for p in MisfirePolicy}


def _policy(known: dict[str, P], row: Row, column: str, default: P) -> P:
    """A policy column as its enum; a value this version does not know (written by a newer one, or by
    hand) reads as the default, logged, so that one row cannot stall a whole tick or claim."""
    value = known.get(row[column])
    if value is None:
        log.warning("task %s: unknown %s %r, using %r", row["id"], column, row[column], default.value)
        return default
    return value


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
    task = run.task
    # Plain strings (an enum's ``.value`` is a property lookup, and this runs once per fired slot).
    if skipped:
        status, outcome, state_ = _CANCELED, _FAILURE, _DONE
    else:
        status, outcome, state_ = (_RUNNING if state == ExecState.RUNNING else _IDLE), _PENDING, _STATES[state]
    return (
        run.execution_id,
        task.account_id,
        task.id,
        task.name,
        task.description,
        status,
        outcome,
        state_,
        _KINDS[run.kind],
        None if run.reason is None else _REASONS[run.reason],
        run.summary,
        run.scheduled_for,
        run.missed_count,
        run.missed_since,
        now if skipped else None,
        now,
        now,
    )


_CANCELED, _RUNNING, _IDLE = ExecStatus.CANCELED.value, ExecStatus.RUNNING.value, ExecStatus.IDLE.value
_FAILURE, _PENDING, _DONE = Outcome.FAILURE.value, Outcome.PENDING.value, ExecState.DONE.value
_STATES: dict[str, str] = {s: s.value for s in ExecState}
_KINDS: dict[str, str] = {k: k.value for k in RunKind}
_REASONS: dict[str, str] = {r: r.value for r in SkipReason}


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
