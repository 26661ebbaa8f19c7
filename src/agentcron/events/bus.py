"""What every event bus shares: the `Event`, the `EventBus` protocol the rest of the app holds, the
`Subscription` a stream drains, and `FanOut`, the per-process fan-out both implementations build on.

`FanOut` keeps the subscribers of each task, hands events to their bounded backlogs (a subscriber that
falls `QUEUE_MAX` events behind is dropped: its stream ends, and reconnecting with ``historyLength``
catches up), holds a burst for a large audience so each stream gets one write per burst instead of one
per event, and runs the process's one ping ticker. How an event reaches the process (published here, or
notified by another process) is the subclass's business.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.store.base import Store
from agentcron.store.db import Row
from agentcron.store.events import NewEvent

log = logging.getLogger("agentcron.events")

#: events a subscriber may have queued; one more and it is dropped
QUEUE_MAX = 1000
#: an idle stream gets a ping line after this long without one. Read at each tick of the ticker, so a
#: process may lower it before starting (tests do, through this module: a re-export is a copy).
PING_SECONDS = 15.0

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


def event_of(task_id: str, row: Row) -> Event:
    """An `Event` from a stored row of `agentcron.store.events.EventLog` (``data`` is JSON text)."""
    return Event(task_id, int(row["seq"]), row["type"], int(row["created_at"]), _decode(row["data"]))


class Subscription:
    """One subscriber's bounded backlog of events, drained by the stream's task.

    `offer` never blocks or allocates a timer, because a fan-out calls it once per stream of the task: it
    is one list append and, when the stream is waiting, one future resolved. Pings are requested by the
    bus's one ticker (`FanOut._ping_loop`) instead of a timeout per wait.
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


class EventBus(Protocol):
    """Task workflow events: persisted per task with a sequence number and delivered live to the
    subscribers of the task in any process. Made by `agentcron.events.open_event_bus`."""

    async def publish(self, account_id: str, task_id: str, execution_id: str | None, type_: str, data: Any) -> Event:
        """Persist the event as the task's next sequence number and deliver it to the task's subscribers."""
        ...

    async def publish_many(self, events: Sequence[NewEvent]) -> None:
        """`publish` for many events in one write (each task's in the given order)."""
        ...

    def subscribe(self, task_id: str) -> Subscription:
        """A new stream of the task's live events (from now on: replay comes from `history`)."""
        ...

    def unsubscribe(self, sub: Subscription) -> None: ...

    async def history(self, task_id: str, limit: int) -> list[Event]:
        """The most recent ``limit`` persisted events of the task, oldest first."""
        ...

    async def start(self) -> None:
        """Start delivery machinery (the ping ticker; a listener where events cross processes)."""
        ...

    async def close(self) -> None:
        """Stop it; events held for a burst go out first."""
        ...


class FanOut:
    """The fan-out of one process, shared by both buses (which add `publish` and, for the cross-process
    one, a listener). Not thread-safe: everything runs on the event loop."""

    def __init__(self, store: Store, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        self.subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._hold_per_stream_us = settings.event_hold_per_stream_us
        self._hold_max_us = settings.event_hold_max_us
        self._hold_min_streams = settings.event_hold_min_streams
        #: task -> (events held for the burst, the timer that releases them); see `_deliver`
        self._held: dict[str, tuple[list[Event], asyncio.TimerHandle]] = {}
        self._pinger: asyncio.Task[None] | None = None

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
        return [event_of(task_id, row) for row in await self.store.events.history(task_id, limit)]

    # -- delivering -----------------------------------------------------------------------------------

    def _hold_window(self, task_id: str) -> float:
        """Seconds to hold the task's events so a burst goes out together. A write to every stream of a
        large audience costs this process and each reader a write per event, so waiting a little for the
        rest of the burst pays off there; it scales with the audience, is capped, and is none below
        ``event_hold_min_streams`` (the measurements behind the defaults are in docs/benchmarks.md)."""
        streams = len(self.subscribers.get(task_id, ()))
        if streams < self._hold_min_streams:
            return 0.0
        return min(self._hold_max_us, streams * self._hold_per_stream_us) / 1e6

    def _deliver(self, event: Event) -> None:
        """Hand ``event`` to its task's streams: at once for a small audience, else held for the hold
        window together with whatever else the task emits meanwhile (order kept)."""
        held = self._held.get(event.task_id)
        if held is not None:  # behind events already held, whatever the audience is now
            held[0].append(event)
            return
        delay = self._hold_window(event.task_id)
        if not delay:
            self._fan_out(event.task_id, [event])
            return
        timer = asyncio.get_running_loop().call_later(delay, self._release, event.task_id)
        self._held[event.task_id] = ([event], timer)

    def _release(self, task_id: str) -> None:
        held = self._held.pop(task_id, None)
        if held is not None:
            held[1].cancel()  # no-op when the timer is what called us
            self._fan_out(task_id, held[0])

    def _fan_out(self, task_id: str, events: list[Event]) -> None:
        """Queue ``events`` (in order) on every stream of the task; a stream whose backlog is full is
        dropped rather than slowing the others or growing without bound."""
        for sub in list(self.subscribers.get(task_id, ())):
            for event in events:
                if not sub.offer(event):
                    break
            else:
                continue
            log.warning("dropping a subscriber of task %s that fell %d events behind", task_id, QUEUE_MAX)
            self.unsubscribe(sub)
            sub.drop()

    # -- lifecycle ------------------------------------------------------------------------------------

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
        """Start the ping ticker."""
        if self._pinger is None:
            self._pinger = asyncio.create_task(self._ping_loop())

    async def close(self) -> None:
        """Release what is held (it goes out now, not after the bus is gone) and stop the ticker."""
        for task_id in list(self._held):
            self._release(task_id)
        pinger, self._pinger = self._pinger, None
        await stop_task(pinger)


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has ended, so nothing it holds outlives the bus."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
