"""The outcome writer: records finished runs in batches, fenced on ``(id, attempt)``.

Runs end one by one; their outcomes are written together (one transaction per batch), by up to
``writers`` batches at once where the database takes concurrent writers. Concurrent batches are safe as
concurrent workers are: disjoint executions, task rows settled in id order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

from agentcron.domain import Finished, Outcome
from agentcron.signals import ExecutionsFinished, FinishedRun, Signals, settled
from agentcron.store.runs import RunStore

log = logging.getLogger("agentcron.worker")

UNSTORABLE = "Run ended, but its outcome could not be stored."


class OutcomeWriter:
    def __init__(
        self,
        runs: RunStore,
        signals: Signals,
        writers: int,
        batch_wait_s: float,
        on_written: Callable[[Sequence[FinishedRun], Sequence[Finished]], None],
    ) -> None:
        self.runs = runs
        self.signals = signals
        self.writers = writers
        self.batch_wait_s = batch_wait_s
        #: called after each batch with the runs recorded (the fence may have dropped some of the batch: their
        #: execution ended elsewhere): those runs are off our hands
        self.on_written = on_written
        self.done: list[FinishedRun] = []  # ended, waiting for a batch
        self.recording: set[str] = set()  # execution ids in the batches being written
        self._ready = asyncio.Event()
        self._writing = asyncio.Semaphore(writers)
        self._renewing = asyncio.Lock()  # held while leases are renewed (see `renewing`)
        self._side_writes: set[asyncio.Task[object]] = set()  # see `side_write`
        self._closing = False

    def __len__(self) -> int:
        """Outcomes not written yet (waiting or being written)."""
        return len(self.done) + len(self.recording)

    def add(self, run: FinishedRun) -> None:
        self.done.append(run)
        self._ready.set()

    @contextlib.asynccontextmanager
    async def renewing(self) -> AsyncIterator[None]:
        """Held while the heartbeat renews leases: no batch is taken meanwhile (such a batch could hold rows
        being renewed, and the two statements could lock them in different orders)."""
        async with self._renewing:
            yield

    async def flush(self, now: int) -> int:
        """Write the outcomes waiting now as one batch; returns how many were recorded.

        A batch the database refuses is retried run by run, so one unwritable outcome cannot hold the
        others (and the worker's capacity) hostage; a run refused on its own is recorded as a failure
        without its messages. When every run fails alone too (the database is away), all are kept and the
        writer's loop retries them."""
        async with self._writing:
            if self._renewing.locked():
                async with self._renewing:
                    pass
            if not self.done:
                return 0
            batch, self.done = self.done, []
            ids = {r.result.execution_id for r in batch}
            self.recording |= ids
            results = [r.result for r in batch]
            try:
                try:
                    recorded = await self.runs.finish(results, now)
                except Exception:
                    if len(batch) == 1:
                        raise
                    log.exception("recording %d outcomes failed; retrying them one by one", len(batch))
                    recorded = await self._one_by_one(results, now)
            except BaseException:
                self.done[:0] = batch  # keep them, and make sure the loop retries
                self._ready.set()
                raise
            finally:
                self.recording -= ids
            self.on_written(batch, recorded)
            settled(self.signals, recorded)
            if recorded and self.signals.observed(ExecutionsFinished):
                if len(recorded) == len(batch):
                    runs = batch  # the usual case: the fence let every outcome of the batch through
                else:
                    durations = {r.result.execution_id: r.duration_ms for r in batch}
                    runs = [FinishedRun(f, durations.get(f.execution_id, 0)) for f in recorded]
                self.signals.emit(ExecutionsFinished(runs))
            return len(recorded)

    async def _one_by_one(self, batch: list[Finished], now: int) -> list[Finished]:
        recorded: list[Finished] = []
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
            stub = replace(r, outcome=Outcome.FAILURE, summary=UNSTORABLE, messages=())
            recorded += await self.runs.finish([stub], now)
        return recorded

    async def idle(self) -> None:
        """Wait until no batch is being written (each writer slot taken once, then handed back)."""
        for _ in range(self.writers):
            await self._writing.acquire()
        for _ in range(self.writers):
            self._writing.release()

    def side_write(self, write: Coroutine[Any, Any, object]) -> None:
        """Run ``write`` (what a cancelled run leaves behind: its conversation so far, its stream's end) in
        the background; `side_writes_done` waits for these writes."""
        task = asyncio.get_running_loop().create_task(write)
        self._side_writes.add(task)
        task.add_done_callback(self._side_write_done)

    def _side_write_done(self, write: asyncio.Task[object]) -> None:
        self._side_writes.discard(write)
        if not write.cancelled() and write.exception() is not None:
            log.error("recording what a cancelled run left failed", exc_info=write.exception())

    async def side_writes_done(self, within_s: float | None = None) -> None:
        if self._side_writes:
            await asyncio.wait(self._side_writes, timeout=within_s)

    def close(self) -> None:
        """Let `run` end after the batch it is writing (never cancelled mid-write); the caller flushes the rest."""
        self._closing = True
        self._ready.set()

    async def run(self, clock_ms: Callable[[], int]) -> None:
        """Write batches as runs end, until `close`; a failed write is retried after half a second."""
        while not self._closing:
            await self._ready.wait()
            self._ready.clear()
            if self._closing:
                return
            await asyncio.sleep(self.batch_wait_s)  # gather a batch
            try:
                await self.flush(clock_ms())
            except Exception:
                log.exception("recording outcomes failed; retrying")
                await asyncio.sleep(0.5)
                self._ready.set()
