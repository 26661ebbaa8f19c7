"""The event bus of several processes sharing a database that can notify (PostgreSQL).

A publish commits the event and a notification on `CHANNEL` carrying only ``"<task_id>:<seq>"``, since
a notification payload is small and bounded while event data is not. Every process holds one listener;
it fetches the events of the tasks it has subscribers for and fans them out, in the order the
notifications arrive (commit order). The publishing process hears its own notifications too, so its
streams are served by the same path as everyone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.events.bus import Event, FanOut, event_of, stop_task
from agentcron.store.base import Store
from agentcron.store.events import NewEvent

log = logging.getLogger("agentcron.events")

CHANNEL = "agentcron_events"


class NotifyEventBus(FanOut):
    def __init__(self, store: Store, clock: Clock, settings: Settings) -> None:
        super().__init__(store, clock, settings)
        # Notifications are delivered by one consumer, in the order they arrive.
        self._notified: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], Any] | None = None

    async def publish(self, account_id: str, task_id: str, execution_id: str | None, type_: str, data: Any) -> Event:
        """Persist the event (next sequence number of the task) and notify every listening process,
        this one included, once it commits."""
        now = self.clock.now_ms()
        seq = await self.store.events.append(account_id, task_id, execution_id, type_, data, now, channel=CHANNEL)
        return Event(task_id, seq, type_, now, data)

    async def publish_many(self, events: Sequence[NewEvent]) -> None:
        """Persist ``events`` in one write and notify every listening process of each once it commits."""
        await self.store.events.append_many(events, self.clock.now_ms(), channel=CHANNEL)

    async def start(self) -> None:
        """Open the process's one listener on `CHANNEL`, then start delivery and the ping ticker."""
        if self._unlisten is None:
            self._unlisten = await self.store.db.listen(CHANNEL, self._on_notify)
            self._consumer = asyncio.create_task(self._deliver_loop())
        await super().start()

    def _on_notify(self, payload: str) -> None:
        task_id, _, seq = payload.rpartition(":")
        if task_id in self.subscribers:  # nobody here watches the others: no fetch for them
            self._notified.put_nowait((task_id, int(seq)))

    async def _deliver_loop(self) -> None:
        while True:
            batch = [await self._notified.get()]
            delay = self._hold_window(batch[0][0])
            if delay:  # the hold window (see `FanOut._deliver`), spent before the fetch: one query per burst
                await asyncio.sleep(delay)
            while not self._notified.empty():  # everything notified meanwhile: one query per task
                batch.append(self._notified.get_nowait())
            wanted: dict[str, list[int]] = defaultdict(list)
            for task_id, seq in batch:
                wanted[task_id].append(seq)
            try:
                rows = await self.store.events.by_seqs(wanted)
                for task_id, task_rows in rows.items():  # tasks in the order they were first notified
                    self._fan_out(task_id, [event_of(task_id, row) for row in task_rows])
            except Exception:
                log.exception("delivering %d events failed", len(batch))

    async def close(self) -> None:
        """Release what is held, stop delivery and the ticker, and close the listener."""
        await super().close()
        consumer, self._consumer = self._consumer, None
        await stop_task(consumer)
        unlisten, self._unlisten = self._unlisten, None
        if unlisten is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone; nothing to undo
                await unlisten()
