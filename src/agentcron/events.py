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
_encoder = msgspec.json.Encoder()


@dataclass(slots=True, eq=False)
class Event:
    task_id: str
    seq: int
    type: str
    created_at: int
    data: Any
    encoded: bytes | None = field(default=None, repr=False)

    def line(self) -> bytes:
        """The JSONL line a subscriber receives: ``{"type","createdAt","data"}`` plus newline. Encoded once
        per event, however many subscribers it reaches."""
        if self.encoded is None:
            self.encoded = _encoder.encode({"type": self.type, "createdAt": self.created_at, "data": self.data}) + b"\n"
        return self.encoded


class Subscription:
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_MAX)

    def offer(self, event: Event | None) -> bool:
        try:
            self.queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            return False


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
            self._fan_out(event)
        return event

    def _fan_out(self, event: Event) -> None:
        for sub in list(self.subscribers.get(event.task_id, ())):
            if not sub.offer(event):
                log.warning("dropping a subscriber of task %s that fell %d events behind", event.task_id, QUEUE_MAX)
                self.unsubscribe(sub)
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.get_nowait()
                sub.offer(None)

    # -- subscribing ----------------------------------------------------------------------------------

    def subscribe(self, task_id: str) -> Subscription:
        sub = Subscription(task_id)
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

    async def start(self) -> None:
        """On PostgreSQL, open the process's one LISTEN connection."""
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
                        for r in rows:
                            data = msgspec.json.decode(r["data"])
                            self._fan_out(Event(task_id, int(r["seq"]), r["type"], int(r["created_at"]), data))
            except Exception:
                log.exception("delivering %d events failed", len(batch))

    async def close(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            self._consumer = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
