"""Wire shapes of the stored resources: which column backs which JSON field, and how values convert.

Every field is always present in the output (``null`` when empty), as the contract requires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec

from agentcron.store.db import Row


def _json_out(v: Any) -> Any:
    return None if v is None else msgspec.json.decode(v) if isinstance(v, str | bytes) else v


def _bool_out(v: Any) -> Any:
    return None if v is None else bool(v)


def _iso_out(v: Any) -> Any:
    # PyPI chatbotkit 0.6 asserts ISO strings for execution completedAt/resumeAt (see README).
    if v is None:
        return None
    return datetime.fromtimestamp(v / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default_out(v: Any) -> Any:
    return "" if v is None else v


_CONVERTERS: dict[str, Callable[[Any], Any] | None] = {
    "value": None,
    "computed": None,
    "json": _json_out,
    "bool": _bool_out,
    "iso": _iso_out,
    "text": _default_out,
}


def json_in(v: Any) -> str | None:
    """Encode a JSON column value for storage (a str, which both sqlite3 and asyncpg's jsonb accept)."""
    return None if v is None else msgspec.json.encode(v).decode()


@dataclass(frozen=True, slots=True)
class Field:
    """A wire field and the column (or SQL expression) behind it. Kind ``computed``: not stored, read as
    null (``column`` is ``NULL``) and filled in by the API (a task's ``tokensUsed``)."""

    wire: str
    column: str
    kind: str = "value"


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: resources are module constants, cache keys
class Resource:
    name: str
    table: str
    fields: tuple[Field, ...]
    #: Column scoping a list besides the account (executions by task, messages by conversation).
    parent: str | None = None
    #: Extra condition every API read adds (tasks being deleted are already gone for the API).
    visible: str = ""
    #: Adjusts the wire object in place after the columns are converted (derived states).
    derive: Callable[[dict[str, Any]], None] | None = None
    #: The same derived states as SQL (wire field -> expression over the row's columns, valid on both
    #: backends), for rows the database renders as JSON itself (`json_fields`); must agree with `derive`.
    derive_sql: tuple[tuple[str, str], ...] = ()
    #: A column every UPDATE of a row increments (tasks): list pages reuse a row's wire JSON while it holds.
    version: str | None = None

    @property
    def columns_sql(self) -> str:
        return _columns_sql(self)

    def values_to_wire(self, values: Any) -> dict[str, Any]:
        """`to_wire` for a row given as a sequence in `columns_sql` order (the hot fetch path)."""
        out = {wire: v if conv is None else conv(v) for (wire, conv), v in zip(_converters(self), values, strict=True)}
        if self.derive is not None:
            self.derive(out)
        return out

    def to_wire(self, row: Row, omit: frozenset[str] = frozenset()) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.wire in omit:
                continue
            conv = _CONVERTERS[f.kind]
            v = None if f.kind == "computed" else row[f.column]
            out[f.wire] = v if conv is None else conv(v)
        if self.derive is not None:
            self.derive(out)
        return out

    @property
    def json_fields(self) -> tuple[tuple[str, str, str], ...] | None:
        """(wire name, SQL expression, kind) of every field, for a database that writes the wire object of a
        row itself (`Dialect.json_row`: the same fields, order and values as `to_wire`); None when a field's
        kind has no such rendering (``iso``)."""
        return _json_fields(self)

    def has(self, wire: str) -> bool:
        """Whether ``wire`` is a stored field (computed ones are not written)."""
        return any(f.wire == wire and f.kind != "computed" for f in self.fields)

    def column_for(self, wire: str) -> str:
        for f in self.fields:
            if f.wire == wire:
                return f.column
        raise KeyError(wire)


@cache
def _columns_sql(res: Resource) -> str:
    return ", ".join(f.column for f in res.fields)


@cache
def _converters(res: Resource) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    return tuple((f.wire, _CONVERTERS[f.kind]) for f in res.fields)


@cache
def _json_fields(res: Resource) -> tuple[tuple[str, str, str], ...] | None:
    if any(f.kind == "iso" for f in res.fields):
        return None
    derived = dict(res.derive_sql)
    return tuple((f.wire, derived.get(f.wire, f.column), f.kind) for f in res.fields)


def _f(wire: str, column: str, kind: str = "value") -> Field:
    return Field(wire, column, kind)


_COMMON_HEAD = (_f("id", "id"), _f("name", "name", "text"), _f("description", "description", "text"))
_COMMON_TAIL = (_f("meta", "meta", "json"), _f("createdAt", "created_at"), _f("updatedAt", "updated_at"))

BOT = Resource(
    "bot",
    "bots",
    _COMMON_HEAD
    + (
        _f("alias", "alias"),
        _f("blueprintId", "blueprint_id"),
        _f("backstory", "backstory"),
        _f("model", "model"),
        _f("datasetId", "dataset_id"),
        _f("skillsetId", "skillset_id"),
        _f("privacy", "privacy", "bool"),
        _f("moderation", "moderation", "bool"),
        _f("visibility", "visibility"),
        _f("abilities", "abilities", "json"),
    )
    + _COMMON_TAIL,
)

CONTACT = Resource(
    "contact",
    "contacts",
    _COMMON_HEAD
    + (
        _f("fingerprint", "fingerprint"),
        _f("email", "email"),
        _f("phone", "phone"),
        _f("nick", "nick"),
        _f("preferences", "preferences"),
        _f("verifiedAt", "verified_at"),
    )
    + _COMMON_TAIL,
)

CONVERSATION = Resource(
    "conversation",
    "conversations",
    _COMMON_HEAD
    + (
        _f("botId", "bot_id"),
        _f("contactId", "contact_id"),
        _f("taskId", "task_id"),
        _f("expiresAt", "expires_at"),
    )
    + _COMMON_TAIL,
)

MESSAGE = Resource(
    "message",
    "messages",
    (_f("id", "id"), _f("type", "type"), _f("text", "text")) + _COMMON_TAIL,
    parent="conversation_id",
)


def _task_states(task: dict[str, Any]) -> None:
    """A task reads ``running`` / ``pending`` while a run is in flight (the contract's states); the column
    keeps the latest recorded outcome, which it shows again when the task is idle."""
    if task.get("status") == "running" and "outcome" in task:
        task["outcome"] = "pending"


TASK = Resource(
    "task",
    "tasks",
    _COMMON_HEAD
    + (
        _f("blueprintId", "blueprint_id"),
        _f("botId", "bot_id"),
        _f("contactId", "contact_id"),
        _f("schedule", "schedule"),
        _f("timezone", "timezone"),
        _f("sessionDuration", "session_duration"),
        _f("maxIterations", "max_iterations"),
        _f("maxTime", "max_time"),
        _f("status", "status"),
        _f("outcome", "outcome"),
        _f("lastRunAt", "last_run_at"),
        _f("nextRunAt", "next_run_at"),
        _f("expiresAt", "expires_at"),
        # Extensions (ignored by both official SDKs):
        _f("overlapPolicy", "overlap_policy"),
        _f("misfirePolicy", "misfire_policy"),
        _f("missedCount", "missed_count"),
        _f("pausedAt", "paused_at"),
        _f("pauseReason", "pause_reason"),
        _f("pausedUntil", "paused_until"),
        _f("tokenBudget", "token_budget", "json"),
        # computed on read from token_usage by the API (`api/tasks.token_usage`); null as stored
        _f("tokensUsed", "NULL", "computed"),
        _f("budgetResetsAt", "NULL", "computed"),
        _f("retryPolicy", "retry_policy", "json"),
        _f("pauseAfterFailures", "pause_after_failures"),
        _f("consecutiveFailures", "consecutive_failures"),
    )
    + _COMMON_TAIL,
    visible=" AND deleted_at IS NULL",
    version="version",
    derive=_task_states,
    derive_sql=(("outcome", "CASE WHEN status = 'running' THEN 'pending' ELSE outcome END"),),
)

#: Fields the contract leaves out of ``task/export`` (run state is not configuration).
TASK_EXPORT_OMIT = frozenset(
    {
        "status",
        "outcome",
        "lastRunAt",
        "nextRunAt",
        "expiresAt",
        "blueprintId",
        "missedCount",
        "consecutiveFailures",
        "tokensUsed",
        "budgetResetsAt",
    }
)

EXECUTION = Resource(
    "execution",
    "task_executions",
    _COMMON_HEAD
    + (
        _f("taskId", "task_id"),
        _f("conversationId", "conversation_id"),
        _f("status", "status"),
        _f("outcome", "outcome"),
        _f("summary", "summary"),
        _f("completedAt", "completed_at", "iso"),
        _f("resumeAt", "resume_at", "iso"),
        # Extensions:
        _f("trigger", "kind"),
        _f("reason", "reason"),
        _f("scheduledFor", "scheduled_for"),
        _f("missedCount", "missed_count"),
        _f("startedAt", "started_at"),
        # which run of its slot this is (the ``attempt`` column counts claims, for lease fencing)
        _f("attempt", "try_number"),
        _f("retryOf", "retry_of"),
        _f("inputTokens", "input_tokens"),
        _f("outputTokens", "output_tokens"),
        _f("modelRequests", "model_requests"),
    )
    + _COMMON_TAIL,
    parent="task_id",
)
