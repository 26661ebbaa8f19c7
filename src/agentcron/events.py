"""Task workflow events: persisted per task with a sequence number (the last 1000 kept for replay) and
fanned out live to subscribers.

On SQLite (one process) fan-out is in-process. On PostgreSQL every process holds ONE listening
connection; a publish commits the row and a ``NOTIFY agentcron_events, '<task_id>:<seq>'`` carrying only
ids (the payload limit is 8000 B), and each process fetches and fans out events of tasks it has
subscribers for. Subscriber queues are bounded: a subscriber that falls 1000 events behind is dropped
(its stream ends; reconnecting with ``historyLength`` catches up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import msgspec

from agentcron.clock import Clock
from agentcron.store.base import Store
from agentcron.store.resources import json_in

log = logging.getLogger("agentcron.events")

CHANNEL = "agentcron_events"
HISTORY_MAX = 1000
QUEUE_MAX = 1000
# Delivery to a large audience waits a little for the rest of a burst before fanning out, so each stream
# gets one write per burst instead of one per event (a write to 1,000 streams costs the API process 4-13 ms
# and the readers as much again). The wait scales with the audience: ~5 us per stream, capped at 5 ms, none
# below 100 streams. bench/events.py, 1,000 subscribers: PostgreSQL burst p99 231 -> 74 ms.
COALESCE_PER_STREAM_S = 5e-6
COALESCE_MAX_S = 0.005
COALESCE_MIN_STREAMS = 100
PING_SECONDS = 15.0  # an idle stream gets a ping line after this long without one (read at each tick)
_encoder = msgspec.json.Encoder()
_decode = msgspec.json.Decoder().decode


@dataclass(slots=True, eq=False)
class Event:
    task_id: str
    seq: int
    type: str
    created_at: int
    data: Any
    encoded: bytes | None = field(default=None, repr=False)

    def line(self) -> bytes:
        """The event's `line_of`, encoded once however many subscribers it reaches."""
        if self.encoded is None:
            self.encoded = line_of(self.type, self.created_at, self.data)
        return self.encoded


def line_of(type_: str, created_at: int, data: Any) -> bytes:
    """The JSONL line a subscriber receives: ``{"type","createdAt","data"}`` plus newline."""
    return _encoder.encode({"type": type_, "createdAt": created_at, "data": data}) + b"\n"


class Subscription:
    """One subscriber's bounded backlog of events, drained by the stream's task.

    `offer` never blocks or allocates a timer: the hot path of a fan-out to 1,000 streams is one list
    append and, when the stream is waiting, one future resolved. Pings are requested by the bus's one
    ticker (`EventBus._ping_loop`) instead of a timeout per wait.
    """

    __slots__ = ("task_id", "backlog", "dropped", "ping_due", "last_active", "_waiter")

    def __init__(self, task_id: str, now: float) -> None:
        self.task_id = task_id
        self.backlog: list[Event] = []
        self.dropped = False  # fell QUEUE_MAX events behind: the stream must end
        self.ping_due = False
        self.last_active = now  # loop time of the last delivery (or ping)
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, event: Event) -> bool:
        """Queue ``event``; False (nothing queued) when the backlog is full."""
        if len(self.backlog) >= QUEUE_MAX:
            return False
        self.backlog.append(event)
        self._wake()
        return True

    def drop(self) -> None:
        self.dropped = True
        self._wake()

    def ping(self) -> None:
        self.ping_due = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # a cancelled (disconnected) stream leaves a done future behind
                waiter.set_result(None)

    async def take(self) -> list[Event]:
        """Wait until there is something for the stream, then return every queued event (oldest first)
        and clear the backlog. Returns an empty list when only ``ping_due`` or ``dropped`` woke it."""
        loop = asyncio.get_running_loop()
        while not self.backlog and not self.dropped and not self.ping_due:
            self._waiter = loop.create_future()
            await self._waiter
        batch, self.backlog = self.backlog, []
        if batch:
            self.last_active = loop.time()
        return batch


class EventBus:
    def __init__(self, store: Store, clock: Clock, database_url: str = "") -> None:
        self.store = store
        self.clock = clock
        self.database_url = database_url
        self.pg = store.dialect == "postgresql"
        self.subscribers: dict[str, set[Subscription]] = defaultdict(set)
        # In INSERT ... SELECT the parameters' types cannot come from the target columns: PostgreSQL
        # needs them spelled out (SQLite has no such casts and needs none).
        casts = ("::varchar", "::varchar", "::varchar", "::varchar", "::jsonb", "::bigint") if self.pg else ("",) * 6
        self._insert_sql = (
            "INSERT INTO task_events (task_id, seq, account_id, execution_id, type, data, created_at) "
            f"SELECT $1{casts[0]}, COALESCE(MAX(seq), 0) + 1, $2{casts[1]}, $3{casts[2]}, $4{casts[3]}, "
            f"$5{casts[4]}, $6{casts[5]} FROM task_events WHERE task_id = $1 RETURNING seq"
        )
        self._listener: Any = None
        # Notifications are delivered by one consumer, in the order they arrive (commit order).
        self._notified: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        #: task -> (events held for the coalescing window, the timer that releases them); see `_deliver`
        self._held: dict[str, tuple[list[Event], asyncio.TimerHandle]] = {}

    # -- publishing -----------------------------------------------------------------------------------

    async def publish(self, account_id: str, task_id: str, execution_id: str | None, type_: str, data: Any) -> Event:
        """Persist the event (next sequence number of the task) and deliver it to subscribers."""
        now = self.clock.now_ms()
        for _attempt in range(5):
            try:
                async with self.store.db.tx(write=True) as tx:
                    row = await tx.fetchrow(
                        self._insert_sql,
                        task_id,
                        account_id,
                        execution_id,
                        type_,
                        json_in(data),
                        now,
                    )
                    assert row is not None
                    seq = int(row["seq"])
                    if seq % 100 == 0:  # keep the replay window bounded, amortised
                        await tx.execute(
                            "DELETE FROM task_events WHERE task_id = $1 AND seq <= $2", task_id, seq - HISTORY_MAX
                        )
                    if self.pg:
                        await tx.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{task_id}:{seq}")
                break
            except Exception as e:  # two publishers raced for the same seq (PostgreSQL): take the next one
                if not self.pg or "duplicate key" not in str(e):
                    raise
        event = Event(task_id, seq, type_, now, data)
        if not self.pg:
            self._deliver(event)
        return event

    def _deliver(self, event: Event) -> None:
        """Hand ``event`` to its task's streams: at once for a small audience, else held for the
        coalescing window together with whatever else the task emits meanwhile (order kept)."""
        held = self._held.get(event.task_id)
        if held is not None:  # behind events already held, whatever the audience is now
            held[0].append(event)
            return
        delay = self._window(event.task_id)
        if not delay:
            self._fan_out(event.task_id, [event])
            return
        timer = asyncio.get_running_loop().call_later(delay, self._release, event.task_id)
        self._held[event.task_id] = ([event], timer)

    def _window(self, task_id: str) -> float:
        """Seconds to hold the task's events for coalescing: 0 for an audience below COALESCE_MIN_STREAMS."""
        streams = len(self.subscribers.get(task_id, ()))
        return min(COALESCE_MAX_S, streams * COALESCE_PER_STREAM_S) if streams >= COALESCE_MIN_STREAMS else 0.0

    def _release(self, task_id: str) -> None:
        held = self._held.pop(task_id, None)
        if held is not None:
            held[1].cancel()  # no-op when the timer is what called us
            self._fan_out(task_id, held[0])

    def _fan_out(self, task_id: str, events: list[Event]) -> None:
        for sub in list(self.subscribers.get(task_id, ())):
            for event in events:
                if not sub.offer(event):
                    break
            else:
                continue
            log.warning("dropping a subscriber of task %s that fell %d events behind", task_id, QUEUE_MAX)
            self.unsubscribe(sub)
            sub.drop()

    # -- subscribing ----------------------------------------------------------------------------------

    def subscribe(self, task_id: str) -> Subscription:
        sub = Subscription(task_id, asyncio.get_running_loop().time())
        self.subscribers[task_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self.subscribers.get(sub.task_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                self.subscribers.pop(sub.task_id, None)

    async def history(self, task_id: str, limit: int) -> list[Event]:
        """The most recent ``limit`` persisted events of the task, oldest first."""
        if limit <= 0:
            return []
        async with self.store.db.tx() as tx:
            rows = await tx.fetch(
                "SELECT seq, type, data, created_at FROM task_events WHERE task_id = $1 ORDER BY seq DESC LIMIT $2",
                task_id,
                limit,
            )
        return [
            Event(task_id, int(r["seq"]), r["type"], int(r["created_at"]), msgspec.json.decode(r["data"]))
            for r in reversed(rows)
        ]

    # -- cross-process (PostgreSQL) -------------------------------------------------------------------

    async def _ping_loop(self) -> None:
        """One ticker for every stream of the process: a stream that delivered nothing for PING_SECONDS is
        asked for a ping line (so a ping follows 1-1.33 x PING_SECONDS of silence)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PING_SECONDS / 3)
            now = loop.time()
            for subs in list(self.subscribers.values()):
                for sub in subs:
                    if now - sub.last_active >= PING_SECONDS:
                        sub.last_active = now
                        sub.ping()

    async def start(self) -> None:
        """Start the ping ticker; on PostgreSQL, open the process's one LISTEN connection."""
        self._pinger = asyncio.create_task(self._ping_loop())
        if not self.pg:
            return
        import asyncpg

        self._listener = await asyncpg.connect(self.database_url)
        await self._listener.add_listener(CHANNEL, self._on_notify)
        self._consumer = asyncio.create_task(self._deliver_loop())

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        task_id, _, seq = payload.rpartition(":")
        if task_id in self.subscribers:
            self._notified.put_nowait((task_id, int(seq)))

    async def _deliver_loop(self) -> None:
        while True:
            batch = [await self._notified.get()]
            delay = self._window(batch[0][0])
            if delay:  # the coalescing window (see `_deliver`), spent before the fetch: one query per burst
                await asyncio.sleep(delay)
            while not self._notified.empty():  # everything notified meanwhile: one query per task
                batch.append(self._notified.get_nowait())
            by_task: dict[str, list[int]] = defaultdict(list)
            for task_id, seq in batch:
                by_task[task_id].append(seq)
            try:
                async with self.store.db.tx() as tx:
                    for task_id, seqs in by_task.items():
                        rows = await tx.fetch(
                            "SELECT seq, type, data, created_at FROM task_events "
                            "WHERE task_id = $1 AND seq = ANY($2::bigint[]) ORDER BY seq",
                            task_id,
                            seqs,
                        )
                        events = [
                            Event(task_id, int(r["seq"]), r["type"], int(r["created_at"]), _decode(r["data"]))
                            for r in rows
                        ]
                        self._fan_out(task_id, events)
            except Exception:
                log.exception("delivering %d events failed", len(batch))

    async def close(self) -> None:
        for task_id in list(self._held):  # what is held goes out now, not after the bus is gone
            self._release(task_id)
        for task in (self._consumer, self._pinger):
            if task is not None:
                task.cancel()
        self._consumer = self._pinger = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
