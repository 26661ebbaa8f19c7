"""Plain typed values every layer shares: what a worker runs, what a run produced, and the states an
execution moves through. Nothing here touches the database, the network or the clock; the store parses
rows into these values once, and everything above it (scheduler, worker, engine, API) reads them.

State machine of an execution (``state``; the wire ``status``/``outcome`` in brackets):

    queued [idle/pending] --claim--> running [running/pending] --finish--> done [idle/success|failure]
    queued|running --cancel--> done [canceled/failure]
    done [failure] --retryPolicy--> a new execution (trigger retry): waiting [idle/pending] --not_before--> queued
    waiting --cancel / next slot fires--> done [canceled/failure] (reason ``superseded`` for the slot)
    running --lease lapses--> done [idle/failure, "Worker lost"]      (reaper)
    running --graceful shutdown--> queued (lease released; another worker resumes it)
    (skipped slots are born done [canceled/failure] with a ``reason``)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class ExecState(StrEnum):
    """Where an execution is in its life (column ``state``; not on the wire)."""

    QUEUED = "queued"
    #: a retry waiting for its ``not_before`` (the scheduler queues it then)
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"


class ExecStatus(StrEnum):
    """The wire ``status`` of an execution (and of a task: ``idle`` or ``running``)."""

    IDLE = "idle"
    RUNNING = "running"
    CANCELED = "canceled"


class Outcome(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


class RunKind(StrEnum):
    """Why an execution exists (column ``kind``)."""

    SCHEDULE = "schedule"
    CATCHUP = "catchup"
    TRIGGER = "trigger"
    BACKFILL = "backfill"
    RETRY = "retry"
    SKIP = "skip"


class SkipReason(StrEnum):
    """Why a slot was recorded as skipped instead of run (execution ``reason``)."""

    OVERLAP = "overlap"
    LIMITS = "limits"
    MISFIRE = "misfire"
    SCHEDULE = "schedule"
    #: the task's token budget (or the account's daily token cap) is used up for the period
    BUDGET = "budget"


class OverlapPolicy(StrEnum):
    SKIP = "skip"
    QUEUE = "queue"
    ALLOW = "allow"
    CANCEL_PREVIOUS = "cancelPrevious"


class MisfirePolicy(StrEnum):
    COALESCE = "coalesce"
    SKIP = "skip"
    ALL = "all"


#: The contract's runtime floor: a ``maxTime`` below 15 minutes (or none) runs with 15 minutes.
MAX_TIME_DEFAULT_MS = 15 * 60_000


@dataclass(slots=True)
class Deadline:
    """The wall time one run may take, and the limit that sets it (named in the summary of a run it ends).
    (Values here built once per run or per fired slot are not ``frozen``, whose ``__init__`` costs more.)"""

    seconds: float
    limit: str

    @staticmethod
    def of(max_time: int | None, session_duration: int | None) -> Deadline:
        """``sessionDuration`` when set (> 0) and shorter, else ``maxTime`` (at least 15 minutes)."""
        mt = max_time if isinstance(max_time, int) and max_time >= MAX_TIME_DEFAULT_MS else MAX_TIME_DEFAULT_MS
        if isinstance(session_duration, int) and 0 < session_duration < mt:
            return Deadline(session_duration / 1000, f"sessionDuration ({session_duration} ms)")
        return Deadline(mt / 1000, f"maxTime ({mt} ms)")


@dataclass(slots=True)
class TokenBudget:
    """A task's ``tokenBudget``: at most ``limit`` tokens (input + output, every execution) per ``period``
    (``day``, ``week`` or ``month``, in the task's timezone; see `agentcron.budget_periods`)."""

    limit: int
    period: str


@dataclass(slots=True)
class Allowance:
    """A token budget as one run sees it: ``used`` tokens of ``limit`` were used in the ``period`` before the
    run started (read when it was claimed); the run stops at its next model request once
    ``used`` plus its own tokens reach ``limit``. ``scope``: ``task`` (the task's ``tokenBudget``) or
    ``account`` (the account-wide daily cap, days in UTC). ``resets_at``: when the period ends (epoch ms)."""

    scope: str
    limit: int
    period: str
    used: int
    resets_at: int

    def reached(self, run_tokens: int = 0) -> bool:
        return self.used + run_tokens >= self.limit

    def sentence(self, run_tokens: int = 0) -> str:
        """What a run stopped by this budget, a skipped slot and a refused trigger say."""
        return budget_sentence(self.scope, self.used + run_tokens, self.limit, self.period)


def budget_sentence(scope: str, used: int, limit: int, period: str) -> str:
    """``Token budget reached: <used> of <limit> tokens this <period>`` (a task's budget), or the same
    sentence about the account's daily cap (``Account token budget reached: ... this day (UTC)``)."""
    if scope == "account":
        return f"Account token budget reached: {used} of {limit} tokens this day (UTC)"
    return f"Token budget reached: {used} of {limit} tokens this {period}"


@dataclass(slots=True)
class TaskConfig:
    """A task's configuration as of the moment a slot fired or a run was claimed (later edits apply to
    later runs). ``schedule``/``timezone`` are as stored (validated when written).

    Treated as immutable. Not ``frozen``: one is built per fired slot, and a frozen dataclass's
    ``__init__`` (an ``object.__setattr__`` per field) costs several times a plain one."""

    id: str
    account_id: str
    name: str
    description: str
    bot_id: str | None = None
    contact_id: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    max_iterations: int | None = None
    max_time: int | None = None
    session_duration: int | None = None
    max_calls: int | None = None
    overlap_policy: OverlapPolicy = OverlapPolicy.SKIP
    misfire_policy: MisfirePolicy = MisfirePolicy.COALESCE
    token_budget: TokenBudget | None = None
    #: the retry policy's ``maxAttempts`` (None: no retries)
    max_attempts: int | None = None

    @property
    def instruction(self) -> str:
        """The task's instruction to its bot: its name, then its description."""
        return f"{self.name}\n\n{self.description}".strip() or "(the task has no name or description)"

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def deadline(self) -> Deadline:
        return Deadline.of(self.max_time, self.session_duration)


@dataclass(frozen=True, slots=True)
class BotConfig:
    """The bot a run talks to: its model (``provider:model``; empty: the server's default), backstory
    (system prompt) and abilities (each ``{"type", "name"?, "config"?}``, decoded but not validated: the
    engine refuses an unusable one when the run starts)."""

    id: str
    model: str = ""
    backstory: str = ""
    abilities: tuple[Any, ...] = ()


@dataclass(slots=True)
class Job:
    """One claimed execution, as a worker runs it (treated as immutable; not frozen, as `TaskConfig`)."""

    execution_id: str
    attempt: int
    account_id: str
    conversation_id: str
    task: TaskConfig
    bot: BotConfig | None
    kind: RunKind = RunKind.SCHEDULE
    #: the slot this run is for (epoch ms; None for a manual trigger)
    scheduled_for: int | None = None
    #: the token budgets this run counts against (the task's, the account's), as of its claim
    allowances: tuple[Allowance, ...] = ()
    #: which run of its slot this is (1; 2, 3, ... for retries)
    try_number: int = 1
    #: a retry: the summary of the attempt before it
    previous_error: str | None = None
    #: a catch-up run: the slots it stands for that were missed, and the first of them (epoch ms)
    missed_count: int = 0
    missed_since: int | None = None

    @property
    def deadline(self) -> Deadline:
        return self.task.deadline

    @property
    def instruction(self) -> str:
        """The task's instruction, with what the run needs to know about why it runs: a backfill run is
        told which slot it stands for, a catch-up run how many runs were missed and since when, a retry
        which attempt it is and how the previous one failed."""
        notes = []
        if self.kind == RunKind.BACKFILL and self.scheduled_for is not None:
            notes.append(f"This is a backfill run for the slot of {_iso(self.scheduled_for)}.")
        elif self.kind == RunKind.CATCHUP and self.scheduled_for is not None:
            if self.missed_count > 0:
                since = self.missed_since if self.missed_since is not None else self.scheduled_for
                notes.append(
                    f"This is a catch-up run: the service was not running, and {self.missed_count} scheduled "
                    f"run{'s' if self.missed_count != 1 else ''} since {_iso(since)} did not happen. This run "
                    f"stands for them and for the slot of {_iso(self.scheduled_for)}."
                )
            else:
                notes.append(f"This run is late: it was due at {_iso(self.scheduled_for)}.")
        if self.try_number > 1:
            of = f" of {self.task.max_attempts}" if self.task.max_attempts else ""
            error = (self.previous_error or "").strip() or "(no summary)"
            if len(error) > PREVIOUS_ERROR_CHARS:
                error = error[:PREVIOUS_ERROR_CHARS] + "…"
            notes.append(f"This is attempt {self.try_number}{of}: the previous attempt failed: {error}")
        if not notes:
            return self.task.instruction
        return "\n\n".join([self.task.instruction, *notes])


#: how much of the previous attempt's summary a retry's instruction quotes
PREVIOUS_ERROR_CHARS = 1000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class RunResult:
    """What a run produced: its outcome, a summary, the conversation (``(type, text)`` pairs: ``user``,
    ``bot``, ``activity``) and its token usage."""

    outcome: Outcome
    summary: str
    messages: list[tuple[str, str]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    model_requests: int = 0
    #: a failure's code (``MODEL_ERROR``, ``TOOL_ERROR``, ...: `agentcron.retries` decides which are retried)
    error_code: str | None = None
    #: the vendor's Retry-After of a model error (ms)
    retry_after_ms: int | None = None


class RunInterrupted(asyncio.CancelledError):
    """Raised by a runner in place of the `asyncio.CancelledError` that interrupted it (a cancel, a time
    limit, a shutdown), carrying what the run did until then: a run ended by its time limit is recorded
    with this partial result, a cancelled one keeps its conversation. Being a `CancelledError`, it ends
    the run's task as cancelled, as the interruption would have."""

    def __init__(self, partial: RunResult) -> None:
        super().__init__()
        self.partial = partial


@dataclass(slots=True)
class Finished:
    """A run's result as the worker records it, fenced on ``(execution_id, attempt)``."""

    execution_id: str
    attempt: int
    task_id: str
    outcome: Outcome
    summary: str
    status: ExecStatus = ExecStatus.IDLE
    input_tokens: int = 0
    output_tokens: int = 0
    model_requests: int = 0
    messages: Sequence[tuple[str, str]] = ()
    account_id: str = ""
    conversation_id: str | None = None
    #: a failure's code and the vendor's Retry-After (see `RunResult`)
    error_code: str | None = None
    retry_after_ms: int | None = None
    #: set by the store when it recorded the outcome: the retry it scheduled (when it may start, epoch ms),
    #: and the pause reason when this failure paused the task (``pauseAfterFailures``)
    retry_at: int | None = None
    paused: str | None = None

    @staticmethod
    def of(job: Job, result: RunResult) -> Finished:
        return Finished(
            job.execution_id,
            job.attempt,
            job.task.id,
            result.outcome,
            result.summary,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            model_requests=result.model_requests,
            messages=result.messages,
            account_id=job.account_id,
            conversation_id=job.conversation_id,
            error_code=result.error_code,
            retry_after_ms=result.retry_after_ms,
        )


@dataclass(slots=True)
class PlannedRun:
    """An execution the scheduler (or a trigger) decided to record for ``task``: a run to queue or
    dispatch, or a skipped slot (``kind`` skip, with ``reason`` and ``summary``). ``execution_id`` is
    given when the row is written."""

    task: TaskConfig
    kind: RunKind
    scheduled_for: int | None
    missed_count: int = 0
    reason: SkipReason | None = None
    summary: str | None = None
    execution_id: str = ""
    #: a catch-up run: the first slot it stands for
    missed_since: int | None = None

    @property
    def skipped(self) -> bool:
        return self.kind == RunKind.SKIP


@dataclass(slots=True)
class DueTask:
    """A task whose next slot has come: its configuration and that slot (epoch ms)."""

    task: TaskConfig
    next_run_at: int


@dataclass(slots=True)
class Usage:
    """An account's usage as the limits see it: executions queued or running (counted up to the cap), and
    executions started in the rolling day (hourly buckets)."""

    active: int = 0
    today: int = 0
