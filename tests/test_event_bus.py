"""`EventBus` and `Subscription` on a real store: ordering, batching, the slow-subscriber cut-off, pings,
and cross-process delivery through PostgreSQL LISTEN/NOTIFY (two buses = two processes' listeners)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import agentcron.events as events_mod
from agentcron.clock import SystemClock
from agentcron.events import COALESCE_MIN_STREAMS, QUEUE_MAX, EventBus, Subscription
from agentcron.store.base import open_store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def bus(sqlite_url: str) -> AsyncIterator[EventBus]:
    """A SQLite bus: in-process fan-out, the path every delivery ends in."""
    store = await open_store(sqlite_url)
    b = EventBus(store, SystemClock(), sqlite_url)
    await b.start()
    try:
        yield b
    finally:
        await b.close()
        await store.close()


async def _drain(sub: Subscription, n: int) -> list[list[int]]:
    """Batches of seqs as `take` returns them, until ``n`` events arrived."""
    batches: list[list[int]] = []
    async with asyncio.timeout(10):
        while sum(map(len, batches)) < n:
            batch = await sub.take()
            if batch:
                batches.append([e.seq for e in batch])
    return batches


async def test_events_queued_meanwhile_come_out_in_one_batch_in_order(bus: EventBus) -> None:
    sub = bus.subscribe("task-a")
    other = bus.subscribe("task-b")
    for i in range(5):
        await bus.publish("acct", "task-a", None, "operationBegin", {"i": i})
    assert await _drain(sub, 5) == [[1, 2, 3, 4, 5]]
    assert other.backlog == []  # another task's stream hears nothing
    # a stream that is already waiting is woken by the next event
    waiter = asyncio.ensure_future(sub.take())
    await asyncio.sleep(0)
    await bus.publish("acct", "task-a", None, "operationEnd", {})
    assert [e.seq for e in await asyncio.wait_for(waiter, 5)] == [6]


async def test_a_large_audience_gets_a_burst_in_one_write(bus: EventBus) -> None:
    """With COALESCE_MIN_STREAMS streams, events of a burst are held for the short window and each stream
    takes the burst at once; a stream that joins meanwhile still gets them in order."""
    subs = [bus.subscribe("task-a") for _ in range(COALESCE_MIN_STREAMS)]
    for i in range(3):
        await bus.publish("acct", "task-a", None, "operationBegin", {"i": i})
    assert all(s.backlog == [] for s in subs)  # held, not yet written
    late = bus.subscribe("task-a")
    await bus.publish("acct", "task-a", None, "operationEnd", {})
    for sub in [*subs, late]:
        assert await _drain(sub, 4) == [[1, 2, 3, 4]]


async def test_a_subscriber_that_falls_behind_is_cut_off_with_its_backlog_kept(bus: EventBus) -> None:
    slow = bus.subscribe("task-a")
    fast = bus.subscribe("task-a")
    for i in range(QUEUE_MAX + 3):
        await bus.publish("acct", "task-a", None, "operationBegin", {"i": i})
        if i % 100 == 0:
            await fast.take()
    assert slow.dropped and len(slow.backlog) == QUEUE_MAX
    assert [e.seq for e in slow.backlog[:2]] == [1, 2]  # oldest kept, newest refused
    assert slow not in bus.subscribers.get("task-a", set()) and fast in bus.subscribers["task-a"]
    assert not fast.dropped
    assert await slow.take()  # the stream still gets what it had, then sees `dropped`


async def test_idle_streams_are_asked_for_a_ping(bus: EventBus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_mod, "PING_SECONDS", 0.05)
    await bus.close()
    await bus.start()  # the ticker picks up the short interval
    sub = bus.subscribe("task-a")
    async with asyncio.timeout(5):
        assert await sub.take() == []
    assert sub.ping_due and not sub.dropped


async def test_cross_process_delivery_is_complete_and_ordered(pg_url: str) -> None:
    """Two buses on PostgreSQL are two processes' listeners: a burst published on one reaches every
    stream of the other, in order, and with enough streams the burst is coalesced into few writes."""
    store, worker_store = await open_store(pg_url), await open_store(pg_url)
    api = EventBus(store, SystemClock(), pg_url)
    worker = EventBus(worker_store, SystemClock(), pg_url)
    await api.start()
    try:
        subs = [api.subscribe("task-a") for _ in range(COALESCE_MIN_STREAMS)]
        n = 40
        for i in range(n):
            await worker.publish("acct", "task-a", "exec-1", "operationBegin", {"i": i})
        results = await asyncio.gather(*(_drain(s, n) for s in subs))
        for batches in results:
            assert [seq for b in batches for seq in b] == list(range(1, n + 1))
        # 40 events published back to back: delivered in far fewer than 40 writes per stream
        assert max(len(b) for b in results) < n / 2, results[0]
    finally:
        await api.close()
        await worker.close()
        await worker_store.close()
        await store.close()
