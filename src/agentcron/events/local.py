"""The event bus of a single process (SQLite): every subscriber lives here, so a publish is delivered
in-process right after its row is committed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentcron.events.bus import Event, FanOut
from agentcron.store.events import NewEvent


class LocalEventBus(FanOut):
    async def publish(self, account_id: str, task_id: str, execution_id: str | None, type_: str, data: Any) -> Event:
        """Persist the event (next sequence number of the task) and deliver it to this process's streams."""
        now = self.clock.now_ms()
        seq = await self.store.events.append(account_id, task_id, execution_id, type_, data, now)
        event = Event(task_id, seq, type_, now, data)
        self._deliver(event)
        return event

    async def publish_many(self, events: Sequence[NewEvent]) -> None:
        """Persist ``events`` in one write and deliver them to this process's streams, in order."""
        now = self.clock.now_ms()
        seqs = await self.store.events.append_many(events, now)
        for e, seq in zip(events, seqs, strict=True):
            if e.task_id in self.subscribers or e.task_id in self._held:
                self._deliver(Event(e.task_id, seq, e.type, now, e.data))
