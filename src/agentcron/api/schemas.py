"""Request bodies, as msgspec Structs: types, ranges and unknown fields are rejected while decoding, with
messages that name the field (``Expected `int` <= 3600000 - at `$.sessionDuration```).

Every field defaults to UNSET so partial updates can tell "absent" from ``null``. Every number has a range
(an instant: `Ms`), and free JSON (``meta``, an ability's ``config``) a depth and a number range, checked by
`agentcron.api.wire.read_body` after decoding (`MAX_DEPTH`, `MAX_NUMBER`): no valid JSON body reaches a column
it does not fit.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from agentcron import retries
from agentcron.api.wire import MAX_DEPTH
from agentcron.engine.ability_config import ABILITY_TYPES

#: the last instant an ``Ms`` field takes, 9999-12-31T23:59:59.999Z: Python's `datetime` ends there, and the
#: columns are 64-bit
MAX_MS = 253_402_300_799_999
#: the largest count a 32-bit ``integer`` column holds (PostgreSQL)
MAX_INT32 = 2_147_483_647
_FREE_JSON = (
    f"free JSON: objects and arrays nest at most {MAX_DEPTH} levels (this value the first); numbers finite and "
    "within ±1.7976931348623157e308"
)

Str = Annotated[str, Meta(max_length=65_536)]
Name = Annotated[str, Meta(max_length=1_024)]
Id = Annotated[str, Meta(max_length=64)]
#: an instant, epoch milliseconds from 1970-01-01 to 9999-12-31T23:59:59.999Z
Ms = Annotated[int, Meta(ge=0, le=MAX_MS, description="epoch milliseconds, 0 (1970) to 253402300799999 (year 9999)")]
MetaObj = Annotated[dict[str, Any], Meta(description=_FREE_JSON)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class Empty(_Body):
    """Body of delete/cancel calls: the SDKs send ``{}``."""


#: the largest token budget a task takes (its usage is a 64-bit column)
MAX_TOKEN_BUDGET = 10**15


class TokenBudgetBody(msgspec.Struct, forbid_unknown_fields=True):
    """A task's ``tokenBudget`` (extension): at most ``limit`` tokens (input + output of every execution)
    per calendar ``day``, ISO ``week`` (from Monday) or ``month``, in the task's timezone."""

    limit: Annotated[int, Meta(ge=1, le=MAX_TOKEN_BUDGET)]
    period: Literal["day", "week", "month"]


_DelayMs = Annotated[int, Meta(ge=retries.MIN_DELAY_MS, le=retries.MAX_DELAY_LIMIT_MS)]


class RetryPolicy(msgspec.Struct, forbid_unknown_fields=True):
    """How a failed run is retried (extension): up to ``maxAttempts`` runs per slot (the first included),
    after an exponential delay with full jitter (``maxDelayMs`` at least ``initialDelayMs``)."""

    maxAttempts: Annotated[int, Meta(ge=retries.MIN_ATTEMPTS, le=retries.MAX_ATTEMPTS)]
    initialDelayMs: _DelayMs = retries.DEFAULT_INITIAL_DELAY_MS
    maxDelayMs: _DelayMs = retries.DEFAULT_MAX_DELAY_MS
    multiplier: Annotated[float, Meta(ge=1, le=retries.MAX_MULTIPLIER)] = retries.DEFAULT_MULTIPLIER

    def policy(self) -> retries.RetryPolicy:
        return retries.RetryPolicy(self.maxAttempts, self.initialDelayMs, self.maxDelayMs, self.multiplier)


class TaskWrite(_Body):
    name: Name | None | UnsetType = UNSET
    description: Str | None | UnsetType = UNSET
    blueprintId: Id | None | UnsetType = UNSET
    botId: Id | None | UnsetType = UNSET
    contactId: Id | None | UnsetType = UNSET
    schedule: Annotated[str, Meta(max_length=256)] | None | UnsetType = UNSET
    timezone: Annotated[str, Meta(max_length=64)] | None | UnsetType = UNSET
    expiresAt: Ms | None | UnsetType = UNSET
    sessionDuration: Annotated[int, Meta(ge=0, le=3_600_000)] | None | UnsetType = UNSET
    maxIterations: Annotated[int, Meta(ge=0, le=100_000)] | None | UnsetType = UNSET
    maxTime: Annotated[int, Meta(ge=0, le=86_400_000)] | None | UnsetType = UNSET
    maxCalls: Annotated[int, Meta(ge=0, le=100_000)] | None | UnsetType = UNSET
    meta: MetaObj | None | UnsetType = UNSET
    # Extensions:
    overlapPolicy: Literal["skip", "queue", "allow", "cancelPrevious"] | UnsetType = UNSET
    misfirePolicy: Literal["coalesce", "skip", "all"] | UnsetType = UNSET
    tokenBudget: TokenBudgetBody | None | UnsetType = UNSET
    retryPolicy: RetryPolicy | None | UnsetType = UNSET
    pauseAfterFailures: Annotated[int, Meta(ge=1, le=100)] | None | UnsetType = UNSET


class TaskImport(TaskWrite):
    """One row of ``task/import`` (extension): the fields of `TaskWrite` plus those ``task/export`` (and
    ``task/list``) write besides them. The pause fields are restored; ``id`` and ``createdAt`` only order
    the new tasks; ``updatedAt`` and the run state (``status`` to ``consecutiveFailures``) are ignored."""

    id: Id | None | UnsetType = UNSET
    createdAt: Ms | None | UnsetType = UNSET
    updatedAt: Ms | None | UnsetType = UNSET
    pausedAt: Ms | None | UnsetType = UNSET
    pauseReason: Annotated[str, Meta(max_length=1_024)] | None | UnsetType = UNSET
    pausedUntil: Ms | None | UnsetType = UNSET
    status: Annotated[str, Meta(max_length=16)] | None | UnsetType = UNSET
    outcome: Annotated[str, Meta(max_length=16)] | None | UnsetType = UNSET
    lastRunAt: Ms | None | UnsetType = UNSET
    nextRunAt: Ms | None | UnsetType = UNSET
    missedCount: Annotated[int, Meta(ge=0, le=MAX_INT32)] | None | UnsetType = UNSET
    tokensUsed: Annotated[int, Meta(ge=0)] | None | UnsetType = UNSET
    budgetResetsAt: Ms | None | UnsetType = UNSET
    consecutiveFailures: Annotated[int, Meta(ge=0, le=MAX_INT32)] | None | UnsetType = UNSET


class Ability(msgspec.Struct, forbid_unknown_fields=True):
    """One tool a bot may use (extension). ``type`` selects the tool; ``config`` is its settings (the keys
    each type takes are in the README). A bot whose ability has an unknown type or a config that cannot work
    is refused when it is written (400, naming the field and what is accepted)."""

    type: Annotated[str, Meta(max_length=64, extra_json_schema={"enum": list(ABILITY_TYPES)})]
    name: Annotated[str, Meta(max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")] | None = None
    description: Str | None = None
    config: MetaObj = msgspec.field(default_factory=dict)


class BotWrite(_Body):
    name: Name | None | UnsetType = UNSET
    description: Str | None | UnsetType = UNSET
    alias: Name | None | UnsetType = UNSET
    blueprintId: Id | None | UnsetType = UNSET
    backstory: Str | None | UnsetType = UNSET
    model: Annotated[str, Meta(max_length=256)] | None | UnsetType = UNSET
    datasetId: Id | None | UnsetType = UNSET
    skillsetId: Id | None | UnsetType = UNSET
    privacy: bool | None | UnsetType = UNSET
    moderation: bool | None | UnsetType = UNSET
    visibility: Literal["private", "protected", "public"] | None | UnsetType = UNSET
    abilities: Annotated[list[Ability], Meta(max_length=64)] | None | UnsetType = UNSET
    meta: MetaObj | None | UnsetType = UNSET


class ContactWrite(_Body):
    name: Name | None | UnsetType = UNSET
    description: Str | None | UnsetType = UNSET
    fingerprint: Annotated[str, Meta(max_length=256)] | None | UnsetType = UNSET
    email: Annotated[str, Meta(max_length=320)] | None | UnsetType = UNSET
    phone: Annotated[str, Meta(max_length=64)] | None | UnsetType = UNSET
    nick: Name | None | UnsetType = UNSET
    preferences: Str | None | UnsetType = UNSET
    verifiedAt: Ms | None | UnsetType = UNSET
    meta: MetaObj | None | UnsetType = UNSET


class ConversationMessage(msgspec.Struct, forbid_unknown_fields=True):
    type: Literal["user", "bot", "context", "instruction", "backstory", "activity"]
    text: Str


class ConversationWrite(_Body):
    name: Name | None | UnsetType = UNSET
    description: Str | None | UnsetType = UNSET
    botId: Id | None | UnsetType = UNSET
    contactId: Id | None | UnsetType = UNSET
    taskId: Id | None | UnsetType = UNSET
    meta: MetaObj | None | UnsetType = UNSET
    messages: Annotated[list[ConversationMessage], Meta(max_length=1000)] | UnsetType = UNSET


class PauseBody(_Body):
    """Body of ``task/{id}/pause`` (extension): why, and until when (epoch ms in the future; none: until
    resumed)."""

    reason: Annotated[str, Meta(max_length=1_024)] | None = None
    until: Ms | None = None


class BackfillBody(_Body):
    """Body of ``task/{id}/backfill`` (extension): the slots in ``[from, to)``, epoch ms, ``to`` not later
    than now."""

    from_: Ms = msgspec.field(name="from")
    to: Ms


class PreviewBody(_Body):
    """Body of ``schedule/preview`` (extension)."""

    schedule: Annotated[str, Meta(max_length=256)]
    timezone: Annotated[str, Meta(max_length=64)] | None = None
    take: Annotated[int, Meta(ge=1, le=100)] = 10
    after: Ms | None = None


class SubscribeBody(_Body):
    historyLength: Annotated[int, Meta(ge=0, le=1000)] = 0


def present(body: msgspec.Struct) -> dict[str, Any]:
    """The fields the client actually sent (UNSET ones dropped), by wire name."""
    return {f: v for f in body.__struct_fields__ if (v := getattr(body, f)) is not UNSET}


def clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Drop keys starting with ``_`` or another non-word character (contract: such keys are reserved)."""
    return {k: v for k, v in meta.items() if k and (k[0].isalnum())}
