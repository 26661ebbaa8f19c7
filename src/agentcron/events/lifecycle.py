"""The life of each execution on its task's stream: ``executionBegin`` before the run's first event,
``executionEnd`` after its last, and an ``operationEnd`` carrying ``error`` for every operation a run left
open when it was cancelled, reached its time limit, lost its worker or was handed back at shutdown.

`RunEvents` observes the lifecycle signals. Begins (`ExecutionsStarted`) and ends (`ExecutionsFinished`)
of many runs are written by one writer, in order, each queue of them as one transaction: a burst of a
thousand runs costs a few writes rather than two thousand. A run's own events go through its
`RunEmitter`, which waits until the run's begin is written, so a stream always reads begin, operations,
end. Who closes a run that did not end by itself:

- its time limit: the worker, before recording the outcome (`RunEmitter.interrupt`, ``TIME_LIMIT``);
- a cancel: the worker that ran it, once the bot stopped (`RunEmitter.end`, ``CANCELED``);
- a lost worker: whoever reaped it, from the event log (`reaped`, ``WORKER_LOST``), since the worker's
  memory is gone with it;
- a shutdown that hands runs back to the queue: the worker (``SHUTDOWN``; the run begins again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec

from agentcron.domain import ExecStatus, Job, Outcome
from agentcron.events.bus import EventBus
from agentcron.signals import ExecutionsFinished, ExecutionsStarted, RunsReaped, Signals
from agentcron.store.events import EventLog, NewEvent
from agentcron.store.housekeeping import WORKER_LOST

log = logging.getLogger("agentcron.events")

BEGIN = "executionBegin"
END = "executionEnd"
OP_BEGIN = "operationBegin"
OP_END = "operationEnd"

#: ``data.error.code`` of an operation closed because its run stopped, by why it stopped
CANCELED = "CANCELED"
TIME_LIMIT = "TIME_LIMIT"
LOST = "WORKER_LOST"
SHUTDOWN = "SHUTDOWN"
_MESSAGES = {
    CANCELED: "The execution was cancelled while this operation ran.",
    TIME_LIMIT: "The execution reached its time limit while this operation ran.",
    LOST: "The worker running the execution was lost while this operation ran.",
    SHUTDOWN: "The worker shut down while this operation ran; the execution was handed back to the queue.",
}
#: events one write takes at most (a burst of ten thousand runs is written in a few transactions, each short)
WRITE_CHUNK = 1000
HANDED_BACK = "Handed back to the queue at shutdown: the execution runs again."

_decode = msgspec.json.Decoder().decode


def begin_data(job: Job) -> dict[str, Any]:
    return {
        "executionId": job.execution_id,
        "taskId": job.task.id,
        "trigger": str(job.kind),
        "scheduledFor": job.scheduled_for,
        "attempt": job.attempt,
    }


def end_data(execution_id: str, task_id: str, attempt: int, status: str, outcome: str, summary: str) -> dict[str, Any]:
    return {
        "executionId": execution_id,
        "taskId": task_id,
        "attempt": attempt,
        "status": status,
        "outcome": outcome,
        "summary": summary,
    }


def closing(op: dict[str, Any], code: str) -> dict[str, Any]:
    """The ``operationEnd`` of an operation its run left open (``op`` is its ``operationBegin`` data)."""
    return {**op, "error": {"code": code, "message": _MESSAGES[code]}}


class RunEmitter:
    """One run's `agentcron.engine.runner.Emit`: publishes after the run's begin is written and keeps the
    operations still open, so whoever stops the run can close them."""

    __slots__ = ("_bus", "_job", "_gate", "open", "ended", "silenced")

    def __init__(self, bus: EventBus, job: Job, gate: asyncio.Future[None]) -> None:
        self._bus = bus
        self._job = job
        self._gate = gate
        self.open: dict[str, dict[str, Any]] = {}  # operation id -> its operationBegin data
        self.ended = False
        #: the execution ended elsewhere (cancelled, reaped): what the stopping bot still emits is dropped,
        #: since whoever ended it closes its stream
        self.silenced = False

    async def __call__(self, type_: str, data: dict[str, Any]) -> None:
        await self.ready()
        if self.silenced:
            return
        if type_ == OP_BEGIN:
            self.open[str(data.get("id"))] = data
        elif type_ == OP_END:
            self.open.pop(str(data.get("id")), None)
        job = self._job
        await self._bus.publish(job.account_id, job.task.id, job.execution_id, type_, data)

    def closings(self, code: str) -> list[NewEvent]:
        """The ``operationEnd`` (``error.code`` = ``code``) of every operation still open; they count as
        closed from now on."""
        ops, self.open = list(self.open.values()), {}
        job = self._job
        return [NewEvent(job.account_id, job.task.id, job.execution_id, OP_END, closing(op, code)) for op in ops]

    def ending(self, code: str, status: str, outcome: str, summary: str) -> list[NewEvent]:
        """`closings`, then the run's ``executionEnd`` (once), for a run that did not end through the
        outcome writer (cancelled, handed back)."""
        out = self.closings(code)
        if not self.ended:
            self.ended = True
            job = self._job
            data = end_data(job.execution_id, job.task.id, job.attempt, status, outcome, summary)
            out.append(NewEvent(job.account_id, job.task.id, job.execution_id, END, data))
        return out

    async def ready(self) -> None:
        """Wait until the run's begin is written (or its write failed)."""
        if not self._gate.done():
            await asyncio.shield(self._gate)

    async def interrupt(self, code: str) -> None:
        """Write `closings` (the run stopped inside those operations)."""
        await self.ready()
        await self._bus.publish_many(self.closings(code))

    async def end(self, code: str, status: str, outcome: str, summary: str) -> None:
        """Write `ending`."""
        await self.ready()
        await self._bus.publish_many(self.ending(code, status, outcome, summary))


class RunEvents:
    """Writes the begin and end of every run of this process's worker, and closes runs this process's
    janitor reaped. Connects itself to ``signals``; `start` it, and `close` it after the worker stopped."""

    def __init__(self, bus: EventBus, log_: EventLog, signals: Signals) -> None:
        self.bus = bus
        self.log = log_
        self._gates: dict[str, asyncio.Future[None]] = {}
        #: batches to write, in order: (events, gates resolved once they are written)
        self._queue: list[tuple[list[NewEvent], list[asyncio.Future[None]]]] = []
        self._ready = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._reaps: set[asyncio.Task[None]] = set()
        signals.connect(ExecutionsStarted, self.started)
        signals.connect(ExecutionsFinished, self.finished)
        signals.connect(RunsReaped, self.reaped)

    # -- what the worker holds ------------------------------------------------------------------------

    def emitter(self, job: Job) -> RunEmitter:
        """The run's `RunEmitter`; call before `ExecutionsStarted` names the job (the worker's adopt does)."""
        gate = self._gates.get(job.execution_id)
        if gate is None:
            gate = self._gates[job.execution_id] = asyncio.get_running_loop().create_future()
        return RunEmitter(self.bus, job, gate)

    # -- observers ------------------------------------------------------------------------------------

    def started(self, sig: ExecutionsStarted) -> None:
        events = [NewEvent(j.account_id, j.task.id, j.execution_id, BEGIN, begin_data(j)) for j in sig.jobs]
        gates = [g for j in sig.jobs if (g := self._gates.pop(j.execution_id, None)) is not None]
        self._submit(events, gates)

    def finished(self, sig: ExecutionsFinished) -> None:
        events = [
            NewEvent(
                f.account_id,
                f.task_id,
                f.execution_id,
                END,
                end_data(f.execution_id, f.task_id, f.attempt, str(f.status), str(f.outcome), f.summary),
            )
            for f in (r.result for r in sig.runs)
        ]
        self._submit(events, [])

    def reaped(self, sig: RunsReaped) -> None:
        runs: dict[str, list[str]] = {}
        for execution_id, task_id in zip(sig.execution_ids, sig.task_ids, strict=True):
            runs.setdefault(task_id, []).append(execution_id)
        close = asyncio.get_running_loop().create_task(self._close_reaped(runs))
        self._reaps.add(close)
        close.add_done_callback(self._reaps.discard)

    # -- writing --------------------------------------------------------------------------------------

    def _submit(self, events: list[NewEvent], gates: list[asyncio.Future[None]]) -> None:
        if events or gates:
            self._queue.append((events, gates))
            self._ready.set()
            if self._writer is None or self._writer.done():  # (a test driving a worker by hand never starts us)
                self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def _write_loop(self) -> None:
        """Write what is queued, oldest first, one transaction per wake-up; ends once closed and empty."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                queued, self._queue = self._queue, []
                await self._write(queued)
            if self._closing:
                return

    async def _write(self, queued: list[tuple[list[NewEvent], list[asyncio.Future[None]]]]) -> None:
        events = [e for batch, _ in queued for e in batch]
        try:
            for i in range(0, len(events), WRITE_CHUNK):
                await self.bus.publish_many(events[i : i + WRITE_CHUNK])
        except Exception:
            log.exception("writing the begin/end of %d executions failed; their streams miss them", len(events))
        finally:  # a run waits for its begin, written or not: the stream is no reason to hold a run
            for _, gates in queued:
                for gate in gates:
                    if not gate.done():
                        gate.set_result(None)

    async def _close_reaped(self, runs: dict[str, list[str]]) -> None:
        """Close the operations and the run of each reaped execution that its stream shows still open."""
        try:
            rows = await self.log.of_executions(runs)
            # execution -> (account, task, attempt, its open operations), reset by each begin (a run handed
            # back begins again), cleared by an end. (A run whose begin was trimmed from the log, past
            # `HISTORY_MAX` events of its task, is not closed.)
            state: dict[str, tuple[str, str, int, dict[str, dict[str, Any]]] | None] = {}
            for row in rows:
                eid, kind = row["execution_id"], row["type"]
                data = _decode(row["data"]) if isinstance(row["data"], str | bytes) else row["data"]
                if kind == BEGIN:
                    state[eid] = (row["account_id"], row["task_id"], int(data.get("attempt") or 1), {})
                elif kind == END:
                    state[eid] = None
                elif (open_ := state.get(eid)) is not None:
                    if kind == OP_BEGIN:
                        open_[3][str(data.get("id"))] = data
                    elif kind == OP_END:
                        open_[3].pop(str(data.get("id")), None)
            events: list[NewEvent] = []
            for eid, open_ in state.items():
                if open_ is None:
                    continue
                account_id, task_id, attempt, ops = open_
                events += [NewEvent(account_id, task_id, eid, OP_END, closing(op, LOST)) for op in ops.values()]
                data = end_data(eid, task_id, attempt, ExecStatus.IDLE.value, Outcome.FAILURE.value, WORKER_LOST)
                events.append(NewEvent(account_id, task_id, eid, END, data))
            await self.bus.publish_many(events)
        except Exception:
            log.exception("closing the streams of %d reaped executions failed", sum(map(len, runs.values())))

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._closing = False
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop())

    async def close(self) -> None:
        """Write what is queued (never cut mid-write), wait up to 5 s for reaped runs being closed, and
        stop the writer. Runs ending later are still written, by a writer started on demand."""
        self._closing = True
        self._ready.set()
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer
        if self._reaps:
            await asyncio.wait(self._reaps, timeout=5)
