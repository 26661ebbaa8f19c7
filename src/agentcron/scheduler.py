"""The scheduler: fires due slots into executions, exactly once per (task, slot).

`Scheduler.tick(now)` is one unit of work (one batch, one transaction) and is what tests drive with an
injected clock; `Scheduler.run` is the thin loop around it. Firing is idempotent: an execution is unique
on ``(task_id, scheduled_for)`` and the task's ``next_run_at`` advances in the same transaction, so a
crash at any point either fires the slot once or not at all (and the next tick fires it). What to fire is
decided by the pure functions of `agentcron.policy` (misfire, overlap, account limits), and by the token
budgets the store reads for the batch (a task or account whose budget is used up has its slots recorded as
skipped, reason ``budget``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.domain import Job, PlannedRun, SkipReason, Usage
from agentcron.policy import (
    OVERLAP_SKIPPED,
    PREVIOUS_CANCELED,
    Overlap,
    limit_reached,
    limit_skipped,
    may_start_now,
    on_overlap,
    plan_slots,
    skipped,
)
from agentcron.signals import (
    ExecutionsCanceled,
    ExecutionsQueued,
    Signals,
    SlotsSkipped,
    TaskPaused,
    TasksResumed,
)
from agentcron.store.base import Store
from agentcron.store.settle import cancel_runs

log = logging.getLogger("agentcron.scheduler")


class LocalDispatch(Protocol):
    """A worker in the scheduler's own process: due runs go straight to it while it has room, skipping the
    queue (a claim would cost a second write per run)."""

    worker_id: str

    @property
    def unrecorded(self) -> int:
        """Runs that ended and wait for their outcome to be written."""
        ...

    def room(self) -> int: ...

    def reserve(self, limit: int) -> int:
        """Hold up to ``limit`` of its room for a dispatch being prepared; must be matched by `unreserve`."""
        ...

    def unreserve(self, room: int) -> None: ...

    async def wait_for_room(self, seconds: float) -> bool: ...

    async def flush(self, now: int) -> int:
        """Write the outcomes of runs that ended (freeing their room)."""
        ...

    def adopt(self, jobs: Sequence[Job]) -> None:
        """Start runs dispatched to it (already running under its lease)."""
        ...


@dataclass(slots=True)
class TickResult:
    fired: int = 0
    skipped: int = 0
    tasks: int = 0
    executions: list[PlannedRun] = field(default_factory=list)

    def add(self, other: TickResult) -> None:
        self.fired += other.fired
        self.skipped += other.skipped
        self.tasks += other.tasks
        self.executions.extend(other.executions)


class Scheduler:
    def __init__(
        self, store: Store, settings: Settings, clock: Clock, signals: Signals, local: LocalDispatch | None = None
    ) -> None:
        self.store = store
        self.firing = store.firing
        self.settings = settings
        self.clock = clock
        self.signals = signals
        #: a worker in this process (see `LocalDispatch`)
        self.local = local
        self.concurrent_ticks = settings.concurrent_ticks(store.caps.concurrent_writes)
        self.wake = asyncio.Event()
        self.stopping = False
        #: a tick fired a full batch and more slots are due now: set until the drain fires the last of them
        #: (the in-process webhook deliverer holds back meanwhile)
        self.behind = False

    async def tick(self, now: int) -> TickResult:
        """Fire one batch of due tasks as of ``now``; returns what happened. Idempotent per slot."""
        s = self.settings
        w = self.local
        if w is not None and w.unrecorded and w.room() < s.scheduler_batch:
            # Record the local worker's finished runs first: the room they free lets this batch go
            # straight to it instead of through the queue.
            try:
                await w.flush(self.clock.now_ms())
            except Exception:  # the batch stays with the worker; its writer retries it
                log.exception("recording finished runs before a tick failed")
        # Room for direct dispatch is reserved for the whole tick: the worker's own claim may run while this
        # tick awaits the database, and must not take the same room.
        room = w.reserve(s.scheduler_batch) if w is not None else 0
        try:
            return await self._fire(now, room)
        finally:
            if w is not None:
                w.unreserve(room)

    async def _fire(self, now: int, room: int) -> TickResult:
        """`tick`'s transaction: ``room`` runs may go straight to the local worker (already reserved)."""
        s = self.settings
        result = TickResult()
        firing = self.firing
        jobs: list[Job] = []
        async with self.store.transaction() as tx:
            due = await firing.due_tasks(tx, now, s.scheduler_batch)
            if not due:
                return result
            result.tasks = len(due)
            # Retries of these tasks still waiting are dropped: their next slot fires now. A task paused by
            # the failed slots this makes fires nothing.
            superseded = await firing.supersede_retries(tx, [d.task.id for d in due], now)
            paused = superseded.paused
            if paused:
                due = [d for d in due if d.task.id not in paused]
            accounts = sorted({d.task.account_id for d in due})
            active = await firing.active_by_task(tx, [d.task.id for d in due])
            budgets = await self.store.budgets.allowances(tx, [d.task for d in due], now)
            usage = await firing.account_usage(tx, accounts, now, s.max_concurrent_executions, s.max_executions_per_day)
            running_now = {a: u.active for a, u in usage.items()}
            today = {a: u.today for a, u in usage.items()}
            queued: list[PlannedRun] = []
            canceled: list[str] = []
            started: dict[str, int] = {}
            direct: list[PlannedRun] = []
            updates: list[tuple[str, int | None, int]] = []
            for d in due:
                task = d.task
                plan = plan_slots(d, now, s.misfire_grace_ms, s.misfire_window_ms)
                acc = task.account_id
                # Overlap is judged against executions that existed before this tick, so the several
                # catch-up runs of misfirePolicy "all" queue behind each other instead of skipping.
                busy = active.get(task.id, 0) > 0
                started_in_tick = False
                spent = next((b for b in budgets.get(task.id, ()) if b.reached()), None) if budgets else None
                for run in plan.runs:
                    if run.skipped:
                        queued.append(run)
                        continue
                    if spent is not None:
                        queued.append(skipped(run, SkipReason.BUDGET, f"Skipped: {spent.sentence()}"))
                        continue
                    overlap = on_overlap(task.overlap_policy, busy)
                    if overlap is Overlap.SKIP:
                        queued.append(skipped(run, SkipReason.OVERLAP, OVERLAP_SKIPPED))
                        continue
                    limit = limit_reached(
                        Usage(running_now[acc], today[acc]), s.max_concurrent_executions, s.max_executions_per_day
                    )
                    if limit is not None:
                        queued.append(skipped(run, SkipReason.LIMITS, limit_skipped(limit)))
                        continue
                    if overlap is Overlap.CANCEL_PREVIOUS:
                        # A run being recorded right now is finishing anyway: skipped as locked.
                        gone = await cancel_runs(tx, task.id, now, summary=PREVIOUS_CANCELED, skip_locked=True)
                        canceled.extend(gone)
                        # A run skipped as locked (being recorded, or a heartbeat renewing it) still runs:
                        # the new one must queue behind it, not start beside it.
                        busy = len(gone) < active.get(task.id, 0)
                    if room > 0 and may_start_now(task.overlap_policy, busy, started_in_tick):
                        direct.append(run)
                        room -= 1
                    else:
                        queued.append(run)
                    started_in_tick = True
                    running_now[acc] += 1
                    today[acc] += 1
                    started[acc] = started.get(acc, 0) + 1
                updates.append((task.id, plan.next_run_at, plan.missed))
            await firing.insert_executions(tx, queued, now)
            if direct and self.local is not None:
                jobs = await firing.dispatch(tx, direct, self.local.worker_id, now, s.lease_ms)
            await firing.set_next_runs(tx, updates, {job.task.id for job in jobs})
            await firing.record_usage(tx, started, now)
        if jobs and self.local is not None:
            self.local.adopt(jobs)
        runs = queued + direct
        result.executions = runs
        skips = [r for r in queued if r.skipped]
        result.skipped = len(skips)
        result.fired = len(runs) - result.skipped
        for task_id, reason in paused.items():
            self.signals.emit(TaskPaused(task_id, None, reason))
        if canceled:
            self.signals.emit(ExecutionsCanceled(canceled))
        if skips:
            self.signals.emit(SlotsSkipped(skips))
        if len(queued) > len(skips):
            self.signals.emit(ExecutionsQueued([r for r in queued if not r.skipped]))
        return result

    async def queue_retries(self, now: int) -> list[PlannedRun]:
        """Queue the retries whose time has come (`ExecutionsQueued` wakes the local worker); returns them."""
        queued: list[PlannedRun] = []
        while True:
            batch = await self.firing.queue_retries(now, self.settings.scheduler_batch)
            queued += batch
            if len(batch) < self.settings.scheduler_batch:
                break
        if queued:
            self.signals.emit(ExecutionsQueued(queued))
        return queued

    async def run_until_idle(self, now: int) -> TickResult:
        """Tick until nothing is due at ``now`` (tests, and the loop's inner drain), then queue the retries
        due (after the ticks: a slot firing now supersedes its task's retries instead).

        `Settings.concurrent_ticks` ticks run at once, each on its own connection: locked rows are skipped,
        so they take disjoint batches, and the database works on one while this process prepares the other."""
        try:
            result = await self._drain_all(now)
        finally:
            self.behind = False
        await self.queue_retries(now)
        return result

    async def _drain_all(self, now: int) -> TickResult:
        if self.concurrent_ticks == 1:
            return await self._drain(now)
        total = TickResult()
        # Every tick ends before anything is raised: a failed one must not leave the others running
        # unobserved while the caller retries with new ones.
        ticks = await asyncio.gather(
            *(self._drain(now, first=i == 0) for i in range(self.concurrent_ticks)), return_exceptions=True
        )
        failed = [r for r in ticks if isinstance(r, BaseException)]
        for extra in failed[1:]:
            log.error("another concurrent tick failed too", exc_info=extra)
        if failed:
            raise failed[0]
        for r in ticks:
            assert isinstance(r, TickResult)
            total.add(r)
        return total

    async def _drain(self, now: int, first: bool = True) -> TickResult:
        total = TickResult()
        wait = self.settings.dispatch_wait_ms / 1000
        while True:
            w = self.local
            if not first and w is not None and not w.unrecorded and w.room() == 0:
                # The local worker is full: a second batch now would only be queued (a claim write per run
                # later). Wait briefly for room (quick runs free it within milliseconds); with long runs
                # the queue is the right place, and other workers may claim from it.
                await w.wait_for_room(wait)
            r = await self.tick(now)
            # Let the runs just dispatched start (on SQLite nothing above suspends): a burst of due slots
            # would otherwise fill the local worker before any of them ran, and queue the rest.
            await asyncio.sleep(0)
            total.add(r)
            if r.tasks < self.settings.scheduler_batch:
                return total
            self.behind = True

    async def run(self) -> None:
        """Fire slots as they come due until `stop`. Sleeps until the next due slot (or the poll interval,
        to see tasks written by other processes), so slots fire within milliseconds of due."""
        poll = self.settings.poll_ms / 1000
        while not self.stopping:
            self.wake.clear()  # before the ticks: a wake-up arriving during them is not lost
            try:
                resumed = await self.firing.resume_due(self.clock.now_ms())
                if resumed:
                    self.signals.emit(TasksResumed(resumed))
                await self.run_until_idle(self.clock.now_ms())
                nxt = await self.firing.next_due_at()
            except Exception:
                log.exception("scheduler tick failed; retrying")
                nxt = None
                await asyncio.sleep(poll)
            now = self.clock.now_ms()
            delay = poll if nxt is None else min(poll, max(0.0, (nxt - now) / 1000))
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), delay)

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
