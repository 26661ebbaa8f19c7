"""The worker: claims queued executions under a lease, runs them, heartbeats, hands outcomes to the
`OutcomeWriter`, and shuts down gracefully.

`claim_once`, `heartbeat_once` and `flush` are single steps (tests drive them); `start` runs the loops.
The scheduler in the same process hands runs over directly (`adopt`) through the `LocalDispatch`
protocol it declares, which this class implements.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from agentcron import retries
from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.domain import ExecStatus, Finished, Job, Outcome, RunInterrupted, RunResult
from agentcron.engine.runner import Runner
from agentcron.events.lifecycle import CANCELED, HANDED_BACK, SHUTDOWN, TIME_LIMIT, RunEmitter, RunEvents
from agentcron.signals import ExecutionsStarted, FinishedRun, RunsHandedBack, Signals
from agentcron.store.runs import RunStore
from agentcron.worker.capacity import Capacity
from agentcron.worker.outcomes import OutcomeWriter

log = logging.getLogger("agentcron.worker")


@dataclass(slots=True, eq=False)
class _Running:
    job: Job
    started: float  # loop time
    emit: RunEmitter
    task: asyncio.Task[None] | None = None
    #: the run's time limit, armed as one timer handle (cheaper per run than an ``asyncio.timeout`` context)
    timer: asyncio.TimerHandle | None = None
    #: set when the timer fired: which limit ended the run
    expired: str | None = None
    #: counted in `Capacity.active` (until its bot is done)
    active: bool = True


def _cancel(run: _Running) -> None:
    if run.timer is not None:
        run.timer.cancel()
    if run.task is not None:
        run.task.cancel()


def _expire(run: _Running, limit: str) -> None:
    """Timer callback: the run reached its time limit; its task records a failure naming ``limit``."""
    if run.task is not None and not run.task.done():
        run.expired = limit
        run.task.cancel()


class Worker:
    def __init__(
        self,
        runs: RunStore,
        settings: Settings,
        clock: Clock,
        runner: Runner,
        run_events: RunEvents,
        signals: Signals,
        concurrent_writes: bool,
        worker_id: str | None = None,
    ) -> None:
        self.runs = runs
        self.run_events = run_events
        self.signals = signals
        self.settings = settings
        self.clock = clock
        self.runner = runner
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.running: dict[str, _Running] = {}
        self.wake = asyncio.Event()
        self.outcomes = OutcomeWriter(
            runs,
            signals,
            settings.outcome_writer_count(concurrent_writes),
            settings.outcome_batch_wait_ms / 1000,
            self._written,
        )
        self.capacity = Capacity(settings.worker_concurrency, self.outcomes.__len__)
        self._releasing = False  # shutdown is handing the runs left back to the queue
        self._loops: list[asyncio.Task[None]] = []  # claims, heartbeats
        self._writer: asyncio.Task[None] | None = None

    # -- the scheduler's direct dispatch (LocalDispatch) ----------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.capacity.stopping

    def reserve(self, limit: int) -> int:
        return self.capacity.reserve(limit)

    def unreserve(self, room: int) -> None:
        self.capacity.unreserve(room)

    def room(self) -> int:
        return self.capacity.room()

    async def wait_for_room(self, seconds: float) -> bool:
        return await self.capacity.wait_for_room(seconds)

    @property
    def unrecorded(self) -> int:
        """Runs that ended and wait for their outcome to be written."""
        return len(self.outcomes.done)

    async def flush(self, now: int) -> int:
        """Write the outcomes of runs that ended (one batch); returns how many were recorded."""
        return await self.outcomes.flush(now)

    def adopt(self, jobs: Sequence[Job]) -> None:
        """Start runs already claimed for this worker (by `claim_once`, or dispatched by the scheduler)."""
        if not jobs:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for job in jobs:
            # The emitter before the signal: the run's events wait for the begin the signal writes.
            run = _Running(job, now, self.run_events.emitter(job))
            run.task = loop.create_task(self._run_one(run))
            self.capacity.active += 1  # until the run's task ends, however (even cancelled before it started)
            run.task.add_done_callback(functools.partial(self._ended, run))
            deadline = job.deadline
            run.timer = loop.call_later(deadline.seconds, _expire, run, deadline.limit)
            self.running[job.execution_id] = run
        self.signals.emit(ExecutionsStarted(jobs))

    # -- runs -----------------------------------------------------------------------------------------

    async def claim_once(self, now: int) -> int:
        """Claim up to the free capacity and start the runs; returns how many were started."""
        want = self.capacity.room()
        if want == 0:
            return 0
        # Reserved while the claim awaits the database, so the scheduler's direct dispatch in this
        # process cannot hand over the same capacity meanwhile.
        self.capacity.reserved += want
        try:
            jobs = await self.runs.claim(self.worker_id, now, self.settings.lease_ms, want)
        finally:
            self.capacity.unreserve(want)  # (room it did not fill is free again: wakes a waiting tick)
        self.adopt(jobs)
        return len(jobs)

    def _ended(self, run: _Running, _task: object = None) -> None:
        """The run's bot is done (its body ended, or its task was cancelled before it started)."""
        if run.active:
            run.active = False
            self.capacity.active -= 1
            self.capacity.grew()

    async def _run_one(self, run: _Running) -> None:
        job = run.job
        try:
            result = await self.runner.run(job, run.emit)
        except asyncio.CancelledError as e:
            partial = e.partial if isinstance(e, RunInterrupted) else None
            if run.expired is None:
                # Cancelled through the API (its outcome already recorded), lease lost or shut down: the
                # outcome is not ours to write. What the run did until then is kept for a cancel.
                self.running.pop(job.execution_id, None)
                if not self._releasing:
                    kept = Finished.of(job, partial) if partial is not None else None
                    self.outcomes.side_write(self._canceled(job, run.emit, kept, self.clock.now_ms()))
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # our own limit: record it
            # Keep what the run did until then: its conversation so far, and the tokens it used.
            summary = f"Run ended: it exceeded its {run.expired}."
            result = replace(
                partial or RunResult(Outcome.FAILURE, ""),
                outcome=Outcome.FAILURE,
                summary=summary,
                error_code=retries.TIME_LIMIT,  # (never retried)
                retry_after_ms=None,
            )
            try:
                await run.emit.interrupt(TIME_LIMIT)
            except asyncio.CancelledError:  # ended elsewhere meanwhile (a cancel): that path closes it
                self.outcomes.side_write(self._canceled(job, run.emit, None, self.clock.now_ms()))
                raise
            except Exception:  # (the stream is no reason not to record the outcome)
                log.exception("execution %s: closing its stream's operations failed", job.execution_id)
        except Exception as e:  # a runner bug must not take the worker down; record it on the run
            log.exception("execution %s failed", job.execution_id)
            result = RunResult(Outcome.FAILURE, f"Run failed: {type(e).__name__}: {e}", error_code=retries.RUN_ERROR)
        finally:
            self._ended(run)
            if run.timer is not None:
                run.timer.cancel()
        duration = int((asyncio.get_running_loop().time() - run.started) * 1000)
        self.outcomes.add(FinishedRun(Finished.of(job, result), duration))

    async def _canceled(self, job: Job, emit: RunEmitter, partial: Finished | None, now: int) -> None:
        """After a run stopped because its execution ended elsewhere: if that was a cancel, keep what the
        run did (its conversation so far, its tokens) and close its stream (``CANCELED``). A reaped run is
        closed by its reaper, which may be another process."""
        if partial is not None:
            await self.runs.keep_canceled(partial, now)
        row = await self.runs.canceled(job.execution_id, job.attempt)
        if row is not None:
            await emit.end(CANCELED, row["status"], row["outcome"], row["summary"] or "")

    def _written(self, batch: Sequence[FinishedRun], recorded: Sequence[Finished]) -> None:
        """A batch of outcomes was written (or fenced off): those runs are done here. A run fenced off
        ended elsewhere after its bot returned: if that was a cancel, its stream is closed here."""
        fenced = len(recorded) < len(batch)
        kept = {f.execution_id for f in recorded} if fenced else set()
        for r in batch:
            run = self.running.pop(r.result.execution_id, None)
            if fenced and run is not None and r.result.execution_id not in kept:
                self.outcomes.side_write(self._canceled(run.job, run.emit, None, self.clock.now_ms()))
        if batch:
            self.wake.set()  # capacity freed
            self.capacity.grew()

    async def heartbeat_once(self, now: int) -> set[str]:
        """Renew leases; stop runs that are no longer ours (cancelled elsewhere or reaped)."""
        # Runs that finished but whose outcome is not written yet keep their lease too: under load the
        # writer may lag, and a lapsed lease would let the reaper turn a success into "worker lost". Runs
        # being recorded right now are left out: that transaction holds their rows, and locking the same
        # rows in another order could deadlock; disjoint sets cannot.
        recording = self.outcomes.recording
        leases = sorted((e, r.job.attempt) for e, r in self.running.items() if e not in recording)
        async with self.outcomes.renewing():
            lost = await self.runs.heartbeat(leases, now, self.settings.lease_ms)
        self.cancel_local(lost)
        return lost

    def cancel_local(self, execution_ids: Iterable[str]) -> None:
        """Interrupt in-process runs at once (their outcome is already recorded by whoever cancelled; their
        stream is closed by the cancel's side write or the reaper, so what the bot still emits is dropped)."""
        for e in execution_ids:
            r = self.running.pop(e, None)
            if r is not None:
                r.emit.silenced = True
                _cancel(r)

    def _pending(self) -> list[asyncio.Task[None]]:
        return [r.task for r in self.running.values() if r.task is not None and not r.task.done()]

    async def drain(self) -> None:
        """Tests: wait for every started run, then record them."""
        while self.running:
            pending = self._pending()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            await self.flush(self.clock.now_ms())
            if self.outcomes.recording:  # another batch holds runs still listed in `running`: let it end
                await self.outcomes.idle()
        await self.outcomes.side_writes_done()

    # -- loops ----------------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        poll = self.settings.poll_ms / 1000
        while not self.stopping:
            self.wake.clear()  # before the claim: a wake-up arriving during it is not lost
            try:
                started = await self.claim_once(self.clock.now_ms())
            except Exception:
                log.exception("claim failed; retrying")
                started = 0
            if started and self.capacity.free:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), poll)

    async def _heartbeat_loop(self) -> None:
        interval = min(self.settings.lease_ms / 3, 1000) / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat_once(self.clock.now_ms())
            except Exception:
                log.exception("heartbeat failed")

    def start(self) -> None:
        self._writer = asyncio.create_task(self.outcomes.run(self.clock.now_ms))
        self._loops = [asyncio.create_task(self._claim_loop()), asyncio.create_task(self._heartbeat_loop())]

    async def shutdown(self, grace_ms: int) -> None:
        """Stop claiming, let runs finish for up to ``grace_ms``, then hand the rest back to the queue."""
        self.capacity.stopping = True
        self.wake.set()
        pending = self._pending()
        if pending:
            await asyncio.wait(pending, timeout=grace_ms / 1000)
        if self._writer is not None:  # its batch in flight commits; what is left is flushed here
            self.outcomes.close()
            with contextlib.suppress(Exception):
                await self._writer
        with contextlib.suppress(Exception):
            await self.flush(self.clock.now_ms())
        # A batch another writer (the loop, a tick) is writing is still listed in `running`: let it commit
        # before the loops are cancelled, or `release` below would requeue runs that succeeded.
        await self.outcomes.idle()
        with contextlib.suppress(Exception):
            await self.flush(self.clock.now_ms())  # what such a batch put back, had it failed
        await self.outcomes.side_writes_done(within_s=5)
        leftover = [(e, r.job.attempt) for e, r in self.running.items()]
        leaving = list(self.running.values())
        self._releasing = True
        for r in leaving:
            _cancel(r)
        for loop in self._loops:
            loop.cancel()
        if leftover:
            # Their streams end before they go back to the queue: once released, another worker may claim
            # one and begin it again, and this end must not follow that begin.
            await self._handing_back(leaving)
            try:
                released = await self.runs.release(leftover, self.clock.now_ms())
            except Exception:
                log.exception("handing %d running executions back to the queue failed", len(leftover))
            else:
                if released:
                    self.signals.emit(RunsHandedBack(released))
        self.running.clear()

    async def _handing_back(self, runs: Sequence[_Running]) -> None:
        """End the streams of runs about to be handed back (each begins again when it is claimed), in one
        write, once their bots unwound (at most a second), so nothing they emit follows the end."""
        bots = [r.task for r in runs if r.task is not None]
        if bots:
            await asyncio.wait(bots, timeout=1)
        ends = []
        try:
            for r in runs:
                r.emit.silenced = True
                await r.emit.ready()  # (its begin first)
                ends += r.emit.ending(SHUTDOWN, ExecStatus.IDLE.value, Outcome.PENDING.value, HANDED_BACK)
            await self.run_events.bus.publish_many(ends)
        except Exception:
            log.exception("ending the streams of %d runs handed back failed", len(runs))
