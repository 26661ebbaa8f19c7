"""Run-lifecycle signals: one typed in-process hook that observers (logs, metrics, the live stream,
notifications, in-process wake-ups) subscribe to.

Each signal is emitted once, at the single place the thing happens, after its transaction committed, and
per batch where the work is batched (a tick, an outcome batch, a reap). Emitting with no observer costs
one dict lookup. Observers run synchronously inside `Signals.emit`: they must be quick and must not
await; one that raises is logged and the others still run (an observer can never fail the run, the tick
or the request that emitted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agentcron.domain import Finished, Job, PlannedRun

log = logging.getLogger("agentcron.signals")


@dataclass(frozen=True, slots=True)
class ExecutionsQueued:
    """Executions were written to the queue (a tick, a trigger): a worker may claim them."""

    runs: Sequence[PlannedRun]


@dataclass(frozen=True, slots=True)
class ExecutionsStarted:
    """Executions moved to running under this process's worker (claimed, or dispatched by its scheduler)."""

    jobs: Sequence[Job]


@dataclass(slots=True)
class FinishedRun:
    """One recorded outcome, with how long its bot ran (ms). (Not frozen: one is built per run.)"""

    result: Finished
    duration_ms: int


@dataclass(frozen=True, slots=True)
class ExecutionsFinished:
    """Outcomes were recorded (fenced writes that won: a run reaped or cancelled meanwhile is not here)."""

    runs: Sequence[FinishedRun]


@dataclass(frozen=True, slots=True)
class SlotsSkipped:
    """Slots were recorded as skipped executions; each run's ``reason`` says why (overlap, limits, misfire,
    schedule)."""

    runs: Sequence[PlannedRun]


@dataclass(frozen=True, slots=True)
class ExecutionsCanceled:
    """Executions were cancelled (by the API, a task delete, or ``cancelPrevious``): running bots must stop."""

    execution_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class RunsReaped:
    """Running executions whose lease lapsed were ended as failures ("Worker lost")."""

    execution_ids: Sequence[str]
    #: the task of each (same order)
    task_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class RunsHandedBack:
    """A shutting-down worker released these running executions back to the queue."""

    execution_ids: Sequence[str]


@dataclass(slots=True)
class OperationEnded:
    """An operation of a run of this process's worker ended: a model request (``action.name``
    ``model:<provider:model>``) or a tool call. ``data`` is its ``operationEnd`` event: ``result``, or
    ``error`` when it failed. (Not frozen: one is built per operation.)"""

    job: Job
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScheduleChanged:
    """A task's next slot was written (created, rescheduled): the scheduler should look again."""

    task_id: str


@dataclass(frozen=True, slots=True)
class TaskPaused:
    """A task was paused (no scheduled slot fires until it is resumed)."""

    task_id: str
    until: int | None
    #: why (the pause's reason; ``"Paused after N consecutive failures"`` for an automatic pause)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TasksResumed:
    """Paused tasks were resumed, by hand or because their ``pausedUntil`` came."""

    task_ids: Sequence[str]


def settled(signals: Signals, results: Sequence[Finished]) -> None:
    """What recording these outcomes did besides (`Finished.retry_at`, `Finished.paused`): a retry
    scheduled wakes the scheduler (`ScheduleChanged`), a task paused after its failures is announced
    (`TaskPaused`). Emitted by whoever recorded them (the outcome writer, the reaper)."""
    for r in results:
        if r.retry_at is not None:
            signals.emit(ScheduleChanged(r.task_id))
        if r.paused is not None:
            signals.emit(TaskPaused(r.task_id, None, r.paused))


@dataclass(slots=True)
class WebhookAttempt:
    """One delivery attempt of a webhook notification, as recorded: ``status`` delivered, pending (to be
    retried) or failed (given up); ``error`` says why it did not succeed. (Not frozen: one per attempt.)"""

    delivery_id: str
    webhook_id: str
    account_id: str
    event_type: str
    attempt: int
    status: str
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class WebhooksAttempted:
    """Webhook delivery attempts were recorded (a batch, by this process's deliverer)."""

    attempts: Sequence[WebhookAttempt]


S = TypeVar("S")


class Signals:
    """The hub: ``connect(ExecutionsFinished, handler)``, then ``emit(ExecutionsFinished(...))``."""

    __slots__ = ("_handlers",)

    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[[Any], None]]] = {}

    def connect(self, kind: type[S], handler: Callable[[S], None]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def observed(self, kind: type) -> bool:
        """Whether anyone listens for ``kind`` (lets an emitter skip building a signal nobody reads)."""
        return kind in self._handlers

    def emit(self, signal: object) -> None:
        handlers = self._handlers.get(type(signal))
        if handlers is None:
            return
        for handler in handlers:
            try:
                handler(signal)
            except Exception:
                log.exception("an observer of %s failed", type(signal).__name__)
