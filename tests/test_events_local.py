"""`agentcron.events.local`: the one-process bus (SQLite) persists, then delivers in-process at once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.events import open_event_bus
from agentcron.events.local import LocalEventBus
from agentcron.store.base import Store, open_store

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    store = await open_store(sqlite_url)
    try:
        yield store
    finally:
        await store.close()


async def test_sqlite_gets_the_local_bus_and_it_starts_without_a_listener(sqlite_store: Store) -> None:
    """SQLite cannot listen (it raises): starting the local bus must not ask it to."""
    bus = open_event_bus(sqlite_store, FakeClock(NOW), Settings())
    assert isinstance(bus, LocalEventBus)
    await bus.start()
    await bus.close()
    await bus.close()  # twice is harmless


async def test_publish_persists_then_delivers_in_process_at_once(sqlite_store: Store) -> None:
    clock = FakeClock(NOW)
    bus = LocalEventBus(sqlite_store, clock, Settings())
    sub = bus.subscribe("task-a")
    first = await bus.publish("acct", "task-a", "exec-1", "operationBegin", {"id": "op-1"})
    assert (first.task_id, first.seq, first.type, first.created_at, first.data) == (
        "task-a",
        1,
        "operationBegin",
        NOW,
        {"id": "op-1"},
    )
    assert sub.backlog == [first]  # queued before publish returns: no listener, no round trip
    clock.advance(5)
    second = await bus.publish("acct", "task-a", None, "operationEnd", {"id": "op-1"})
    assert second.seq == 2 and second.created_at == NOW + 5
    assert [e.seq for e in await sub.take()] == [1, 2]
    persisted = await bus.history("task-a", 10)
    assert [(e.seq, e.type, e.created_at, e.data) for e in persisted] == [
        (1, "operationBegin", NOW, {"id": "op-1"}),
        (2, "operationEnd", NOW + 5, {"id": "op-1"}),
    ]


async def test_a_stream_hears_only_what_is_published_after_it_subscribed(sqlite_store: Store) -> None:
    bus = LocalEventBus(sqlite_store, FakeClock(NOW), Settings())
    await bus.publish("acct", "task-a", None, "operationBegin", {})
    sub = bus.subscribe("task-a")
    assert sub.backlog == []  # the past comes from history
    await bus.publish("acct", "task-a", None, "operationEnd", {})
    assert [e.seq for e in sub.backlog] == [2]
    assert [e.seq for e in await bus.history("task-a", 1)] == [2]
