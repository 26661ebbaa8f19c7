"""The worker: claims queued executions under a lease, runs them, heartbeats, records outcomes.

`Worker.claim_once`, `heartbeat_once` and `flush` are single steps (tests drive them); `run` is the loop.
Outcomes are written in batches (one transaction per batch), fenced on (id, attempt): by one completer
on SQLite, by `FLUSH_LANES_PG` at once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, replace

from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.engine.runner import Emit, Runner, RunResult
from agentcron.events import EventBus
from agentcron.store.runs import Claimed, Finished, RunStore

log = logging.getLogger("agentcron.worker")

#: Contract: maxTime below 15 minutes falls back to the 15-minute default at run time.
MAX_TIME_DEFAULT_MS = 15 * 60_000
#: Outcome batches written at once on PostgreSQL, each in its own transaction on its own connection.
#: One at a time, recording outcomes was the pipeline's bottleneck: the tick lanes waited on it while
#: the server had a core to spare (bench/scheduler.py at 30,000 due: 12-13k fires/s with one).
#: Concurrent batches are safe as concurrent workers are: disjoint executions, task rows settled in
#: id order. SQLite has one connection, so there it stays one.
FLUSH_LANES_PG = 2


@dataclass(slots=True, eq=False)
class _Running:
    job: Claimed
    task: asyncio.Task[None] | None = None
    #: the run's time limit, armed as one timer handle (an ``asyncio.timeout`` context per run cost ~9% of
    #: a no-op run in bench/scheduler.py)
    timer: asyncio.TimerHandle | None = None
    #: set when the timer fired: which limit ended the run
    expired: str | None = None
    #: counted in `Worker.active` (until its bot is done)
    active: bool = True


def run_deadline(task: dict[str, object]) -> tuple[float, str]:
    """(seconds, which limit) bounding one run: ``sessionDuration`` when set (> 0), else ``maxTime``
    (at least 15 minutes, as the contract's runtime floor)."""
    max_time = task.get("max_time")
    mt = int(max_time) if isinstance(max_time, int) and max_time >= MAX_TIME_DEFAULT_MS else MAX_TIME_DEFAULT_MS
    session = task.get("session_duration")
    if isinstance(session, int) and 0 < session < mt:
        return session / 1000, f"sessionDuration ({session} ms)"
    return mt / 1000, f"maxTime ({mt} ms)"


def _finished(job: Claimed, result: RunResult) -> Finished:
    """What the worker records of ``job``'s run."""
    return Finished(
        job.execution_id,
        job.attempt,
        job.task["id"],
        result.outcome,
        result.summary,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        model_requests=result.model_requests,
        messages=result.messages,
        account_id=job.account_id,
        conversation_id=job.conversation_id,
    )


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
        worker_id: str | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.runs = runs
        self.events = events
        self.settings = settings
        self.clock = clock
        self.runner = runner
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.running: dict[str, _Running] = {}
        self.done: list[Finished] = []
        self.wake = asyncio.Event()
        self._done_event = asyncio.Event()
        self._room = asyncio.Event()  # set whenever capacity may have grown (see `wait_for_room`)
        self._lanes = FLUSH_LANES_PG if runs.pg else 1
        self._writing = asyncio.Semaphore(self._lanes)
        self._recording: set[str] = set()  # ids in the batches being written by `flush`
        self._renewing = asyncio.Lock()  # held by `heartbeat_once` while it renews leases
        self._side_writes: set[asyncio.Task[bool]] = set()  # see `_keep_canceled`
        self._releasing = False  # shutdown is handing the runs left back to the queue
        self._reserved = 0
        self._active = 0  # run tasks not yet ended (see `active`)
        self.stopping = False
        self._loops: list[asyncio.Task[None]] = []

    @property
    def capacity(self) -> int:
        """Runs this worker may still take: concurrency minus runs still running minus capacity reserved
        by a claim or a direct dispatch in flight.

        A finished run whose outcome is not written yet holds no capacity (its bot is done), so new runs
        need not wait for that write: on PostgreSQL, recording one batch and firing the next proceed in
        parallel on two connections. At most ``worker_concurrency`` such runs are held; beyond that the
        worker takes nothing until its writes catch up (the database being away cannot grow them without
        bound)."""
        limit = self.settings.worker_concurrency
        unrecorded = len(self.done) + len(self._recording)
        return max(0, limit - self.active - max(0, unrecorded - limit) - self._reserved)

    @property
    def active(self) -> int:
        """Runs whose bot is still running (held runs minus those finished, recorded or not yet)."""
        return self._active

    async def claim_once(self, now: int) -> int:
        """Claim up to the free capacity and start the runs; returns how many were started."""
        want = 0 if self.stopping else self.capacity
        if want == 0:
            return 0
        # Reserved while the claim awaits the database, so the scheduler's direct dispatch in this
        # process cannot hand over the same capacity meanwhile.
        self._reserved += want
        try:
            jobs = await self.runs.claim(self.worker_id, now, self.settings.lease_ms, want)
        finally:
            self._reserved -= want
        self.adopt(jobs)
        return len(jobs)

    def dispatch_room(self) -> int:
        """How many runs the scheduler in this process may hand over directly (0 while stopping)."""
        return 0 if self.stopping else self.capacity

    def reserve(self, limit: int) -> int:
        """Hold up to ``limit`` of the free capacity for a direct dispatch being prepared; returns how much.
        Every call must be matched by `unreserve` with the same number (runs adopted meanwhile count as
        running)."""
        room = min(limit, self.dispatch_room())
        self._reserved += room
        return room

    def unreserve(self, room: int) -> None:
        self._reserved -= room
        self._room.set()

    async def wait_for_room(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for free capacity; True when there is some."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.dispatch_room() == 0:
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), left)
        return True

    def adopt(self, jobs: list[Claimed]) -> None:
        """Start runs the scheduler already claimed for this worker (direct dispatch)."""
        loop = asyncio.get_running_loop()
        for job in jobs:
            run = _Running(job)
            run.task = loop.create_task(self._run_one(run))
            self._active += 1  # until the run's task ends, however (even cancelled before it started)
            run.task.add_done_callback(functools.partial(self._ended, run))
            seconds, limit = run_deadline(job.task)
            run.timer = loop.call_later(seconds, _expire, run, limit)
            self.running[job.execution_id] = run

    def _ended(self, run: _Running, _task: object = None) -> None:
        """The run's bot is done (its body ended, or its task was cancelled before it started)."""
        if run.active:
            run.active = False
            self._active -= 1
            self._room.set()

    async def _run_one(self, run: _Running) -> None:
        job = run.job
        try:
            result = await self.runner.run(job, self._emitter(job))
        except asyncio.CancelledError:
            if run.expired is None:
                # Cancelled through the API (its outcome already recorded), lease lost or shut down: the
                # outcome is not ours to write. What the run did until then is kept for a cancel.
                self.running.pop(job.execution_id, None)
                if job.partial is not None and not self._releasing:
                    self._keep_canceled(job)
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # our own limit: record it
            summary = f"Run ended: it exceeded its {run.expired}."
            # Keep what the run did until then: its conversation so far, and the tokens it used.
            partial = job.partial or RunResult("failure", "")
            result = replace(partial, outcome="failure", summary=summary)
        except Exception as e:  # a runner bug must not take the worker down; record it on the run
            log.exception("execution %s failed", job.execution_id)
            result = RunResult("failure", f"Run failed: {type(e).__name__}: {e}")
        finally:
            self._ended(run)
            if run.timer is not None:
                run.timer.cancel()
        self.done.append(_finished(job, result))
        self._done_event.set()

    def _keep_canceled(self, job: Claimed) -> None:
        """Write a cancelled run's partial result in the background (`RunStore.keep_canceled` decides
        whether it was a cancel); `drain` and `shutdown` wait for these writes."""
        assert job.partial is not None
        partial = _finished(job, job.partial)
        write = asyncio.get_running_loop().create_task(self.runs.keep_canceled(partial, self.clock.now_ms()))
        self._side_writes.add(write)
        write.add_done_callback(self._side_write_done)

    def _side_write_done(self, write: asyncio.Task[bool]) -> None:
        self._side_writes.discard(write)
        if not write.cancelled() and write.exception() is not None:
            log.error("keeping a cancelled run's conversation failed", exc_info=write.exception())

    def _emitter(self, job: Claimed) -> Emit:
        events = self.events

        async def emit(type_: str, data: dict[str, object]) -> None:
            if events is not None:
                await events.publish(job.account_id, job.task["id"], job.execution_id, type_, data)

        return emit

    async def flush(self, now: int) -> int:
        """Record finished runs (one transaction); returns how many were recorded. At most one flush
        (SQLite) or `FLUSH_LANES_PG` (PostgreSQL) write at once, each its own batch: the completer's and
        the scheduler's pre-tick ones.

        A batch the database refuses is retried run by run, so one unwritable outcome cannot hold the
        others (and the worker's capacity) hostage; a run refused on its own is recorded as a failure
        without its messages. When every run fails alone too (the database is away), all are kept for
        the completer to retry."""
        async with self._writing:
            if self._renewing.locked():  # wait for the heartbeat's renewal (see `heartbeat_once`)
                async with self._renewing:
                    pass
            if not self.done:
                return 0
            batch, self.done = self.done, []
            ids = {r.execution_id for r in batch}
            self._recording |= ids
            try:
                try:
                    recorded = await self.runs.finish(batch, now)
                except Exception:
                    if len(batch) == 1:
                        raise
                    log.exception("recording %d outcomes failed; retrying them one by one", len(batch))
                    recorded = await self._finish_one_by_one(batch, now)
            except BaseException:
                self.done[:0] = batch  # keep them, and make sure the completer retries
                self._done_event.set()
                raise
            finally:
                self._recording -= ids
            for r in batch:
                self.running.pop(r.execution_id, None)
            if batch:
                self.wake.set()  # capacity freed
                self._room.set()
            return len(recorded)

    async def _writes_done(self) -> None:
        """Wait until no flush is writing (each lane taken once, then handed back)."""
        for _ in range(self._lanes):
            await self._writing.acquire()
        for _ in range(self._lanes):
            self._writing.release()

    async def _finish_one_by_one(self, batch: list[Finished], now: int) -> list[str]:
        recorded: list[str] = []
        refused: list[Finished] = []
        for r in batch:
            try:
                recorded += await self.runs.finish([r], now)
            except Exception:
                refused.append(r)
        if len(refused) == len(batch):
            raise RuntimeError("no outcome of the batch could be recorded")
        for r in refused:
            log.error("execution %s: its outcome was refused; recording a failure instead", r.execution_id)
            stub = replace(r, outcome="failure", summary="Run ended, but its outcome could not be stored.", messages=())
            recorded += await self.runs.finish([stub], now)
        return recorded

    async def heartbeat_once(self, now: int) -> set[str]:
        """Renew leases; stop runs that are no longer ours (cancelled elsewhere or reaped)."""
        # Runs that finished but whose outcome is not written yet keep their lease too: under load the
        # completer may lag, and a lapsed lease would let the reaper turn a success into "worker lost".
        # Runs being recorded right now are left out: that transaction holds their rows, and on
        # PostgreSQL locking the same rows in another order could deadlock; disjoint sets cannot.
        # While it renews, no flush takes a new batch (`_renewing`): such a batch could hold rows it is
        # renewing, and the two statements could lock them in different orders.
        leases = sorted((e, r.job.attempt) for e, r in self.running.items() if e not in self._recording)
        async with self._renewing:
            lost = await self.runs.heartbeat(leases, now, self.settings.lease_ms)
        self.cancel_local(lost)
        return lost

    def cancel_local(self, execution_ids: Iterable[str]) -> None:
        """Interrupt in-process runs at once (their outcome is already recorded by whoever cancelled)."""
        for e in execution_ids:
            r = self.running.pop(e, None)
            if r is not None:
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
            if self._recording:  # another flush writes runs still listed in `running`: wait for it to end
                await self._writes_done()
        if self._side_writes:
            await asyncio.gather(*self._side_writes, return_exceptions=True)

    # -- loops ------------------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        poll = self.settings.poll_ms / 1000
        while not self.stopping:
            try:
                started = await self.claim_once(self.clock.now_ms())
            except Exception:
                log.exception("claim failed; retrying")
                started = 0
            if started and self.capacity:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), poll)

    async def _complete_loop(self) -> None:
        while True:
            await self._done_event.wait()
            self._done_event.clear()
            await asyncio.sleep(0.002)  # gather a batch
            try:
                await self.flush(self.clock.now_ms())
            except Exception:
                log.exception("recording outcomes failed; retrying")
                await asyncio.sleep(0.5)
                self._done_event.set()

    async def _heartbeat_loop(self) -> None:
        interval = min(self.settings.lease_ms / 3, 1000) / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat_once(self.clock.now_ms())
            except Exception:
                log.exception("heartbeat failed")

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop()),
            asyncio.create_task(self._complete_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]

    async def shutdown(self, grace_ms: int) -> None:
        """Stop claiming, let runs finish for up to ``grace_ms``, then hand the rest back to the queue."""
        self.stopping = True
        self.wake.set()
        pending = self._pending()
        if pending:
            await asyncio.wait(pending, timeout=grace_ms / 1000)
        with contextlib.suppress(Exception):
            await self.flush(self.clock.now_ms())
        # A batch another lane (the completer, a tick) is writing is still listed in `running`: let it
        # commit before the loops are cancelled, or `release` below would requeue runs that succeeded.
        await self._writes_done()
        with contextlib.suppress(Exception):
            await self.flush(self.clock.now_ms())  # what such a batch put back, had it failed
        if self._side_writes:
            await asyncio.wait(self._side_writes, timeout=5)
        leftover = [(e, r.job.attempt) for e, r in self.running.items()]
        self._releasing = True
        for r in self.running.values():
            _cancel(r)
        for loop in self._loops:
            loop.cancel()
        if leftover:
            with contextlib.suppress(Exception):
                await self.runs.release(leftover, self.clock.now_ms())
        self.running.clear()
