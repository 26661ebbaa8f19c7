"""The scheduler: fires due slots into queued executions, exactly once per (task, slot).

`Scheduler.tick(now)` is one unit of work (one batch, one transaction) and is what tests drive with an
injected clock; `Scheduler.run` is the thin loop around it. Firing is idempotent: an execution is unique
on ``(task_id, scheduled_for)`` and the task's ``next_run_at`` advances in the same transaction, so a
crash at any point either fires the slot once or not at all (and the next tick fires it).

Policies, per task:
- overlapPolicy (a slot comes due while an execution of the task is queued or running):
  ``skip`` (default: record a skipped execution with reason ``overlap``), ``queue`` (run after it),
  ``allow`` (run alongside), ``cancelPrevious`` (cancel it, then run).
- misfirePolicy (slots passed while nothing fired them, e.g. the service was down):
  ``coalesce`` (default: one catch-up run for the latest missed slot, ``missedCount`` recorded),
  ``skip`` (record one skipped execution, reason ``misfire``, and wait for the next slot),
  ``all`` (one run per missed slot inside ``misfire_window_ms``, at most 100; older ones counted as missed).
- account limits: a slot that would exceed the account's concurrent or daily cap is recorded as skipped
  with reason ``limits``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.schedule import ScheduleError
from agentcron.slots import next_slot, slots_between
from agentcron.store.db import Row
from agentcron.store.runs import NewExecution, RunStore
from agentcron.worker import Worker

log = logging.getLogger("agentcron.scheduler")

#: Upper bound on slots counted after an outage (a quarter-hourly task down for a year has 35k).
MAX_COUNTED_SLOTS = 10_000


#: Concurrent ticks on PostgreSQL (bench/scheduler.py, 10,000 slots due at once: 1 lane 9-11.7k fires/s,
#: p99 0.85-1.12 s; 2 lanes 12.7-13.7k, p99 0.73-0.79 s; 3 lanes 10-12k, p99 0.82-0.98 s).
PG_TICK_LANES = 2
#: How long a second tick lane waits for the local worker to have room before it queues its batch.
LANE_ROOM_WAIT_S = 0.05


@dataclass(slots=True)
class TickResult:
    fired: int = 0
    skipped: int = 0
    tasks: int = 0
    executions: list[NewExecution] = field(default_factory=list)

    def add(self, other: TickResult) -> None:
        self.fired += other.fired
        self.skipped += other.skipped
        self.tasks += other.tasks
        self.executions.extend(other.executions)


class Scheduler:
    def __init__(self, runs: RunStore, settings: Settings, clock: Clock) -> None:
        self.runs = runs
        self.settings = settings
        self.clock = clock
        self.wake = asyncio.Event()
        self.stopping = False
        #: called after a tick queued executions (wakes in-process workers)
        self.on_fired: Callable[[], None] | None = None
        #: a worker in this process: due runs go straight to it while it has room (see `tick`)
        self.local_worker: Worker | None = None
        #: called with execution ids this process cancelled (stops in-process runs at once)
        self.on_canceled: Callable[[list[str]], None] | None = None

    async def tick(self, now: int) -> TickResult:
        """Fire one batch of due tasks as of ``now``; returns what happened. Idempotent per slot."""
        result = TickResult()
        s = self.settings
        w = self.local_worker
        if w is not None and w.done and w.dispatch_room() < s.scheduler_batch:
            # Record the local worker's finished runs first: the capacity they free lets this batch go
            # straight to it instead of through the queue (a claim costs a second write per run).
            try:
                await w.flush(self.clock.now_ms())
            except Exception:  # the batch stays with the worker; its completer retries it
                log.exception("recording finished runs before a tick failed")
        # Capacity for direct dispatch is reserved for the whole tick: on PostgreSQL the worker's own
        # claim may run while this tick awaits the database, and must not take the same room.
        room = w.reserve(s.scheduler_batch) if w is not None else 0
        try:
            return await self._fire(now, room, result)
        finally:
            if w is not None:
                w.unreserve(room)

    async def _fire(self, now: int, room: int, result: TickResult) -> TickResult:
        """`tick`'s transaction: ``room`` runs may go straight to the local worker (already reserved)."""
        s = self.settings
        async with self.runs.db.tx(write=True) as tx:
            due = await self.runs.due_tasks(tx, now, s.scheduler_batch)
            if not due:
                return result
            result.tasks = len(due)
            accounts = sorted({t["account_id"] for t in due})
            active = await self.runs.active_by_task(tx, [t["id"] for t in due])
            usage = await self.runs.account_usage(
                tx, accounts, now, s.max_concurrent_executions, s.max_executions_per_day
            )
            running_now = {a: u[0] for a, u in usage.items()}
            today = {a: u[1] for a, u in usage.items()}
            new: list[NewExecution] = []
            canceled: list[str] = []
            started: dict[str, int] = {}
            direct: list[NewExecution] = []
            updates: list[tuple[str, int | None, int]] = []
            for task in due:
                fired, nxt, missed = self._plan(task, now)
                policy = task["overlap_policy"]
                acc = task["account_id"]
                # Overlap is judged against executions that existed before this tick, so the several
                # catch-up runs of misfirePolicy "all" queue behind each other instead of skipping.
                busy = active.get(task["id"], 0) > 0
                serial_started = False
                for ex in fired:
                    if ex.kind == "skip":
                        new.append(ex)
                        continue
                    if busy and policy == "skip":
                        new.append(
                            _skip(
                                ex, "overlap", "Skipped: the previous execution was still active (overlapPolicy skip)"
                            )
                        )
                        continue
                    over_concurrent = 0 < s.max_concurrent_executions <= running_now[acc]
                    if over_concurrent or 0 < s.max_executions_per_day <= today[acc]:
                        cap = "concurrent executions" if over_concurrent else "executions per day"
                        new.append(_skip(ex, "limits", f"Skipped: the account reached its limit of {cap}"))
                        continue
                    if policy == "cancelPrevious" and busy:
                        gone = await self.runs.cancel(
                            tx,
                            task["id"],
                            now,
                            summary="Canceled: a newer slot replaced it (overlapPolicy cancelPrevious)",
                            skip_locked=True,  # a run being recorded right now is finishing anyway
                        )
                        canceled.extend(gone)
                        # A run skipped as locked (being recorded, or a heartbeat renewing it) still runs:
                        # the new one must queue behind it, not start beside it.
                        busy = len(gone) < active.get(task["id"], 0)
                    # Direct dispatch: a local worker with room takes the run at once, skipping the queue,
                    # when doing so keeps the task's runs serial (or its policy allows overlap).
                    if room > 0 and (policy == "allow" or (not busy and not serial_started)):
                        direct.append(ex)
                        room -= 1
                        serial_started = True
                    else:
                        new.append(ex)
                        serial_started = True
                    running_now[acc] += 1
                    today[acc] += 1
                    started[acc] = started.get(acc, 0) + 1
                updates.append((task["id"], nxt, missed))
            await self.runs.insert_executions(tx, new, now)
            jobs = []
            if direct and self.local_worker is not None:
                w = self.local_worker
                jobs = await self.runs.dispatch(tx, direct, w.worker_id, now, self.settings.lease_ms)
            await self.runs.set_next_runs(tx, updates, {job.task["id"] for job in jobs})
            await self.runs.record_usage(tx, started, now)
        if jobs and self.local_worker is not None:
            self.local_worker.adopt(jobs)
        new = new + direct
        result.executions = new
        result.fired = sum(1 for e in new if e.kind != "skip")
        result.skipped = len(new) - result.fired
        if canceled and self.on_canceled is not None:
            self.on_canceled(canceled)
        if result.fired and self.on_fired is not None:
            self.on_fired()
        return result

    def _plan(self, task: Row, now: int) -> tuple[list[NewExecution], int | None, int]:
        """What to record for a due task: executions (incl. skips), the next slot, the missed count."""
        slot = int(task["next_run_at"])
        try:
            later = slots_between(task["schedule"], task["timezone"], slot, now, MAX_COUNTED_SLOTS)
            nxt = next_slot(task["schedule"], task["timezone"], now)
        except ScheduleError as e:  # a schedule valid when written but not now (e.g. tzdata changed)
            skip = NewExecution(task, "skip", slot, reason="schedule", summary=f"Skipped: {e}")
            return [skip], None, 0
        due = [slot, *later]
        missed = len(due) - 1
        late = now - due[-1] > self.settings.misfire_grace_ms
        policy = task["misfire_policy"]
        if policy == "all" and missed:
            window = [d for d in due if d >= now - self.settings.misfire_window_ms][-100:]
            kind = "catchup"
            return [NewExecution(task, kind, d) for d in window], nxt, len(due) - len(window)
        if policy == "skip" and (missed or late):
            return (
                [
                    NewExecution(
                        task,
                        "skip",
                        due[-1],
                        missed_count=missed + 1,
                        reason="misfire",
                        summary=f"Skipped: {missed + 1} slot(s) passed while the service was not firing "
                        "(misfirePolicy skip)",
                    )
                ],
                nxt,
                missed + 1,
            )
        kind = "catchup" if missed or late else "schedule"
        return [NewExecution(task, kind, due[-1], missed_count=missed)], nxt, missed

    async def run_until_idle(self, now: int) -> TickResult:
        """Tick until nothing is due at ``now`` (tests, and the loop's inner drain).

        On PostgreSQL `PG_TICK_LANES` ticks run at once, on their own connections: ``SKIP LOCKED`` gives
        them disjoint batches, and the server works on one while this process prepares the other. SQLite
        has one connection: ticks run one after another."""
        if not self.runs.pg:
            return await self._drain(now)
        total = TickResult()
        # Both lanes end before anything is raised: a failed lane must not leave the other running
        # unobserved while the caller retries with new lanes.
        lanes = await asyncio.gather(
            *(self._drain(now, first=i == 0) for i in range(PG_TICK_LANES)), return_exceptions=True
        )
        failed = [r for r in lanes if isinstance(r, BaseException)]
        for extra in failed[1:]:
            log.error("another tick lane failed too", exc_info=extra)
        if failed:
            raise failed[0]
        for r in lanes:
            assert isinstance(r, TickResult)
            total.add(r)
        return total

    async def _drain(self, now: int, first: bool = True) -> TickResult:
        total = TickResult()
        while True:
            w = self.local_worker
            if not first and w is not None and not w.done and w.dispatch_room() == 0:
                # The local worker is full: a second batch now would only be queued (a claim write per
                # run later). Wait briefly for room (no-op or quick runs free it within milliseconds);
                # with long runs the queue is the right place, and other workers may claim from it.
                await w.wait_for_room(LANE_ROOM_WAIT_S)
            r = await self.tick(now)
            # Let the runs just dispatched start (on SQLite nothing above suspends): a burst of due slots
            # would otherwise fill the local worker before any of them ran, and queue the rest.
            await asyncio.sleep(0)
            total.add(r)
            if r.tasks < self.settings.scheduler_batch:
                return total

    async def run(self) -> None:
        """Fire slots as they come due until `stop`. Sleeps until the next due slot (or the poll interval,
        to see tasks written by other processes), so slots fire within milliseconds of due."""
        poll = self.settings.poll_ms / 1000
        while not self.stopping:
            try:
                await self.run_until_idle(self.clock.now_ms())
                nxt = await self.runs.next_due_at()
            except Exception:
                log.exception("scheduler tick failed; retrying")
                nxt = None
                await asyncio.sleep(poll)
            now = self.clock.now_ms()
            delay = poll if nxt is None else min(poll, max(0.0, (nxt - now) / 1000))
            self.wake.clear()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), delay)

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()


def _skip(ex: NewExecution, reason: str, summary: str) -> NewExecution:
    return NewExecution(ex.task, "skip", ex.scheduled_for, ex.missed_count, reason, summary)
