"""`agentcron.events.bus`: `Subscription`, `Event` lines, and the `FanOut` both buses share (ordering,
batching, the burst hold window, the slow-subscriber cut-off, pings, close), driven through the SQLite
bus; plus the `EventBus` contract (sequence numbers, retention, replay) on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest

import agentcron.events.bus as bus_mod
from agentcron.clock import SystemClock
from agentcron.config import Settings
from agentcron.events import HISTORY_MAX, QUEUE_MAX, Event, Subscription, line_of, open_event_bus
from agentcron.events.local import LocalEventBus
from agentcron.store.base import Store, open_store

pytestmark = pytest.mark.anyio

HOLD_MIN_STREAMS = Settings().event_hold_min_streams


@asynccontextmanager
async def local_bus(url: str, settings: Settings) -> AsyncIterator[LocalEventBus]:
    """A started SQLite bus with ``settings``, closed (with its store) on the way out."""
    store = await open_store(url)
    b = LocalEventBus(store, SystemClock(), settings)
    await b.start()
    try:
        yield b
    finally:
        await b.close()
        await store.close()


@pytest.fixture
async def bus(sqlite_url: str) -> AsyncIterator[LocalEventBus]:
    """A SQLite bus: in-process fan-out, the path every delivery ends in."""
    async with local_bus(sqlite_url, Settings()) as b:
        yield b


async def _drain(sub: Subscription, n: int) -> list[list[int]]:
    """Batches of seqs as `take` returns them, until ``n`` events arrived."""
    batches: list[list[int]] = []
    async with asyncio.timeout(10):
        while sum(map(len, batches)) < n:
            batch = await sub.take()
            if batch:
                batches.append([e.seq for e in batch])
    return batches


def _event(seq: int) -> Event:
    return Event("task-a", seq, "operationBegin", 1_700_000_000_000, {"i": seq})


# -- Event and Subscription -------------------------------------------------------------------------------


def test_a_line_is_the_wire_shape_encoded_once() -> None:
    event = _event(1)
    line = event.line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert msgspec.json.decode(line) == {"type": "operationBegin", "createdAt": 1_700_000_000_000, "data": {"i": 1}}
    assert line == line_of(event.type, event.created_at, event.data)
    assert event.line() is line  # one encoding however many streams it reaches


async def test_a_subscription_backlog_is_bounded() -> None:
    sub = Subscription("task-a", 0.0)
    assert all(sub.offer(_event(i)) for i in range(1, QUEUE_MAX + 1))
    assert not sub.offer(_event(QUEUE_MAX + 1))  # refused, not queued
    assert [e.seq for e in await sub.take()] == list(range(1, QUEUE_MAX + 1))
    assert sub.backlog == [] and sub.last_active > 0
    assert sub.offer(_event(QUEUE_MAX + 1))  # drained: room again


async def test_take_wakes_for_an_event_a_ping_or_a_drop() -> None:
    sub = Subscription("task-a", 0.0)
    waiter = asyncio.ensure_future(sub.take())
    await asyncio.sleep(0)
    assert not waiter.done()
    sub.ping()
    assert await asyncio.wait_for(waiter, 5) == [] and sub.ping_due
    sub.ping_due = False
    waiter = asyncio.ensure_future(sub.take())
    await asyncio.sleep(0)
    sub.drop()
    assert await asyncio.wait_for(waiter, 5) == [] and sub.dropped


async def test_a_disconnected_stream_does_not_break_delivery() -> None:
    """A stream cancelled while waiting leaves a done future behind; the next offer must not trip on it."""
    sub = Subscription("task-a", 0.0)
    waiter = asyncio.ensure_future(sub.take())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert sub.offer(_event(1))
    assert [e.seq for e in await sub.take()] == [1]


# -- fan-out ----------------------------------------------------------------------------------------------


async def test_events_queued_meanwhile_come_out_in_one_batch_in_order(bus: LocalEventBus) -> None:
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


async def test_unsubscribed_streams_get_nothing_and_empty_tasks_are_forgotten(bus: LocalEventBus) -> None:
    sub = bus.subscribe("task-a")
    bus.unsubscribe(sub)
    assert "task-a" not in bus.subscribers
    bus.unsubscribe(sub)  # twice is harmless
    await bus.publish("acct", "task-a", None, "operationBegin", {})
    assert sub.backlog == []


async def test_a_large_audience_gets_a_burst_in_one_write(bus: LocalEventBus) -> None:
    """With event_hold_min_streams streams, events of a burst are held for the short window and each stream
    takes the burst at once; a stream that joins meanwhile still gets them in order."""
    subs = [bus.subscribe("task-a") for _ in range(HOLD_MIN_STREAMS)]
    for i in range(3):
        await bus.publish("acct", "task-a", None, "operationBegin", {"i": i})
    assert all(s.backlog == [] for s in subs)  # held, not yet written
    late = bus.subscribe("task-a")
    await bus.publish("acct", "task-a", None, "operationEnd", {})
    for sub in [*subs, late]:
        assert await _drain(sub, 4) == [[1, 2, 3, 4]]


async def test_the_hold_window_follows_the_settings(sqlite_url: str) -> None:
    settings = Settings(event_hold_per_stream_us=10, event_hold_max_us=35, event_hold_min_streams=2)
    async with local_bus(sqlite_url, settings) as b:
        assert b._hold_window("task-a") == 0.0  # no audience
        b.subscribe("task-a")
        assert b._hold_window("task-a") == 0.0  # below event_hold_min_streams
        b.subscribe("task-a")
        assert b._hold_window("task-a") == pytest.approx(20e-6)  # per stream
        b.subscribe("task-a")
        assert b._hold_window("task-a") == pytest.approx(30e-6)
        b.subscribe("task-a")
        assert b._hold_window("task-a") == pytest.approx(35e-6)  # capped
        assert b._hold_window("task-b") == 0.0  # per task


async def test_the_default_hold_window(bus: LocalEventBus) -> None:
    for _ in range(HOLD_MIN_STREAMS - 1):
        bus.subscribe("task-a")
    assert bus._hold_window("task-a") == 0.0
    bus.subscribe("task-a")
    assert bus._hold_window("task-a") == pytest.approx(HOLD_MIN_STREAMS * 5e-6)
    for _ in range(2000):
        bus.subscribe("task-a")
    assert bus._hold_window("task-a") == pytest.approx(0.005)


async def test_no_hold_when_it_is_switched_off(sqlite_url: str) -> None:
    async with local_bus(sqlite_url, Settings(event_hold_max_us=0)) as b:
        subs = [b.subscribe("task-a") for _ in range(HOLD_MIN_STREAMS)]
        await b.publish("acct", "task-a", None, "operationBegin", {})
        assert all([e.seq for e in s.backlog] == [1] for s in subs)  # written at once


async def test_close_releases_held_events(bus: LocalEventBus) -> None:
    subs = [bus.subscribe("task-a") for _ in range(HOLD_MIN_STREAMS)]
    for i in range(2):
        await bus.publish("acct", "task-a", None, "operationBegin", {"i": i})
    assert all(s.backlog == [] for s in subs)
    await bus.close()
    assert all([e.seq for e in s.backlog] == [1, 2] for s in subs)
    assert not bus._held


async def test_a_subscriber_that_falls_behind_is_cut_off_with_its_backlog_kept(
    bus: LocalEventBus, caplog: pytest.LogCaptureFixture
) -> None:
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
    warnings = [r for r in caplog.records if r.name == "agentcron.events" and r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == [
        f"dropping a subscriber of task task-a that fell {QUEUE_MAX} events behind"
    ]


async def test_idle_streams_are_asked_for_a_ping(bus: LocalEventBus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus_mod, "PING_SECONDS", 0.05)
    await bus.close()
    await bus.start()  # the ticker picks up the short interval
    sub = bus.subscribe("task-a")
    async with asyncio.timeout(5):
        assert await sub.take() == []
    assert sub.ping_due and not sub.dropped


async def test_a_busy_stream_is_not_pinged(bus: LocalEventBus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus_mod, "PING_SECONDS", 0.6)
    await bus.close()
    await bus.start()
    sub = bus.subscribe("task-a")
    for i in range(6):  # an event every 0.1 s: never 0.6 s of silence
        await asyncio.sleep(0.1)
        await bus.publish("acct", "task-a", None, "operationBegin", {"i": i})
        assert [e.seq for e in await sub.take()] == [i + 1]
        assert not sub.ping_due


# -- the contract on both backends -------------------------------------------------------------------------


async def test_publish_numbers_keeps_and_replays_the_most_recent_events(store: Store) -> None:
    """Sequence numbers are contiguous per task; retention keeps HISTORY_MAX..HISTORY_MAX+99 of them; history
    is the most recent ``limit``, oldest first, as published."""
    bus = open_event_bus(store, SystemClock(), Settings())
    n = 1234
    published = [
        await bus.publish("acct", "task-a", "exec-1", "operationBegin", {"id": f"e{i + 1}", "action": {}})
        for i in range(n)
    ]
    assert [e.seq for e in published] == list(range(1, n + 1))
    other = await bus.publish("acct", "task-b", None, "operationEnd", {})
    assert other.seq == 1  # numbered per task
    kept = await bus.history("task-a", 10 * HISTORY_MAX)
    assert [e.seq for e in kept] == list(range(kept[0].seq, n + 1)), "persisted seqs are contiguous up to the last"
    assert HISTORY_MAX <= len(kept) < HISTORY_MAX + 100, f"retention keeps 1000..1099, kept {len(kept)}"
    last = await bus.history("task-a", HISTORY_MAX)
    assert [e.data["id"] for e in last] == [f"e{i}" for i in range(n - 999, n + 1)]
    two = await bus.history("task-a", 2)
    assert [(e.task_id, e.seq, e.type, e.created_at, e.data) for e in two] == [
        (e.task_id, e.seq, e.type, e.created_at, e.data) for e in published[-2:]
    ]
    assert [e.line() for e in two] == [e.line() for e in published[-2:]]  # replay = what went out live
    assert await bus.history("task-a", 0) == []
    assert await bus.history("task-none", 5) == []
