"""Task workflow events: persisted per task with a sequence number (the last `HISTORY_MAX` kept for
replay) and fanned out live to subscribers.

`open_event_bus` picks the bus the database calls for: `LocalEventBus` (`local`) where one process
serves every subscriber (SQLite), `NotifyEventBus` (`notify`) where processes share the database and it
can notify them (PostgreSQL LISTEN/NOTIFY). Both build on `FanOut` (`bus`): bounded subscriber backlogs,
the hold of a burst for a large audience, and the ping ticker. The events' SQL lives in
`agentcron.store.events`.

`PING_SECONDS` is re-exported for reading; to change it, set ``agentcron.events.bus.PING_SECONDS``.
"""

from __future__ import annotations

from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.events.bus import PING_SECONDS, QUEUE_MAX, Event, EventBus, Subscription, line_of
from agentcron.events.local import LocalEventBus
from agentcron.events.notify import NotifyEventBus
from agentcron.store.base import Store
from agentcron.store.events import HISTORY_MAX

__all__ = [
    "HISTORY_MAX",
    "PING_SECONDS",
    "QUEUE_MAX",
    "Event",
    "EventBus",
    "Subscription",
    "line_of",
    "open_event_bus",
]


def open_event_bus(store: Store, clock: Clock, settings: Settings) -> EventBus:
    """The event bus for ``store``'s database, not started yet: ``start()`` it before serving streams."""
    if store.caps.cross_process_notify:
        return NotifyEventBus(store, clock, settings)
    return LocalEventBus(store, clock, settings)
