"""`agentcron.events.notify`: the cross-process bus on PostgreSQL. Two buses on two stores are two
processes' listeners; delivery goes through LISTEN/NOTIFY and a fetch by sequence numbers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from agentcron.clock import SystemClock
from agentcron.config import Settings
from agentcron.events import Subscription, open_event_bus
from agentcron.events.notify import NotifyEventBus
from agentcron.store.base import open_store
from agentcron.store.db import Row

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

HOLD_MIN_STREAMS = Settings().event_hold_min_streams


@pytest.fixture
async def buses(pg_url: str) -> AsyncIterator[tuple[NotifyEventBus, NotifyEventBus]]:
    """(api, worker): two processes' buses on one database; only the api one is started (it listens)."""
    store, worker_store = await open_store(pg_url), await open_store(pg_url)
    api = open_event_bus(store, SystemClock(), Settings())
    worker = open_event_bus(worker_store, SystemClock(), Settings())
    assert isinstance(api, NotifyEventBus) and isinstance(worker, NotifyEventBus)
    await api.start()
    try:
        yield api, worker
    finally:
        await api.close()
        await worker.close()
        await worker_store.close()
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


def _count_fetches(bus: NotifyEventBus, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, list[int]]]:
    """Record every `by_seqs` request of ``bus`` (task -> seqs), still fetching for real."""
    calls: list[dict[str, list[int]]] = []
    real = bus.store.events.by_seqs

    async def by_seqs(wanted: Mapping[str, Sequence[int]]) -> dict[str, list[Row]]:
        calls.append({t: list(s) for t, s in wanted.items()})
        return await real(wanted)

    monkeypatch.setattr(bus.store.events, "by_seqs", by_seqs)
    return calls


async def test_cross_process_delivery_is_complete_and_ordered(buses: tuple[NotifyEventBus, NotifyEventBus]) -> None:
    """A burst published on one bus reaches every stream of the other, in order, and with enough streams
    the burst is held into few writes."""
    api, worker = buses
    subs = [api.subscribe("task-a") for _ in range(HOLD_MIN_STREAMS)]
    n = 40
    for i in range(n):
        await worker.publish("acct", "task-a", "exec-1", "operationBegin", {"i": i})
    results = await asyncio.gather(*(_drain(s, n) for s in subs))
    for batches in results:
        assert [seq for b in batches for seq in b] == list(range(1, n + 1))
    # 40 events published back to back: delivered in far fewer than 40 writes per stream
    assert max(len(b) for b in results) < n / 2, results[0]


async def test_events_arrive_intact(buses: tuple[NotifyEventBus, NotifyEventBus]) -> None:
    api, worker = buses
    sub = api.subscribe("task-a")
    data: dict[str, Any] = {"id": "op-1", "action": {"name": "time", "input": {"tz": "UTC", "n": [1, 2.5, None]}}}
    published = await worker.publish("acct", "task-a", "exec-1", "operationBegin", data)
    async with asyncio.timeout(10):
        (got,) = await sub.take()
    assert (got.task_id, got.seq, got.type, got.created_at, got.data) == (
        "task-a",
        published.seq,
        "operationBegin",
        published.created_at,
        data,
    )
    # jsonb may reorder keys, so the line is compared with the replayed one: live and replay agree byte for byte
    assert [got.line()] == [e.line() for e in await api.history("task-a", 1)]


async def test_the_publishing_process_serves_its_own_streams_through_the_listener(
    buses: tuple[NotifyEventBus, NotifyEventBus],
) -> None:
    api, _ = buses
    sub = api.subscribe("task-a")
    event = await api.publish("acct", "task-a", None, "operationBegin", {})
    assert sub.backlog == []  # not in-process: it comes back as a notification
    assert await _drain(sub, 1) == [[event.seq]]


async def test_a_bus_that_is_not_started_delivers_nothing(buses: tuple[NotifyEventBus, NotifyEventBus]) -> None:
    api, worker = buses  # worker never started: it does not listen
    sub = worker.subscribe("task-a")
    seen = api.subscribe("task-a")
    await worker.publish("acct", "task-a", None, "operationBegin", {})
    assert await _drain(seen, 1) == [[1]]
    assert sub.backlog == []


async def test_only_tasks_with_local_streams_are_fetched_in_notification_order(
    buses: tuple[NotifyEventBus, NotifyEventBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, worker = buses
    calls = _count_fetches(api, monkeypatch)
    a, b = api.subscribe("task-a"), api.subscribe("task-b")
    for task in ("task-x", "task-b", "task-x", "task-a", "task-b"):
        await worker.publish("acct", task, None, "operationBegin", {"task": task})
    assert await _drain(a, 1) == [[1]]
    assert [seq for batch in await _drain(b, 2) for seq in batch] == [1, 2]
    fetched = [task for call in calls for task in call]
    assert "task-x" not in fetched  # nobody here watches it
    assert sorted(seq for call in calls for seq in call.get("task-b", [])) == [1, 2]
    if len(calls) == 1:  # all notified before the consumer ran: one fetch, tasks in first-notified order
        assert list(calls[0]) == ["task-b", "task-a"]


async def test_the_hold_window_is_spent_before_one_fetch(
    buses: tuple[NotifyEventBus, NotifyEventBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a large audience the consumer waits out the hold window, then fetches the burst in one query."""
    api, worker = buses
    calls = _count_fetches(api, monkeypatch)
    monkeypatch.setattr(api, "_hold_max_us", 200_000)  # a window long enough to hold the whole burst
    monkeypatch.setattr(api, "_hold_per_stream_us", 200_000)
    subs = [api.subscribe("task-a") for _ in range(HOLD_MIN_STREAMS)]
    n = 5
    for i in range(n):
        await worker.publish("acct", "task-a", None, "operationBegin", {"i": i})
    for sub in subs:
        assert await _drain(sub, n) == [[1, 2, 3, 4, 5]]
    assert calls == [{"task-a": [1, 2, 3, 4, 5]}]


async def test_a_failed_fetch_is_logged_and_delivery_goes_on(
    buses: tuple[NotifyEventBus, NotifyEventBus], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    api, worker = buses
    real = api.store.events.by_seqs
    failed = asyncio.Event()

    async def by_seqs(wanted: Mapping[str, Sequence[int]]) -> dict[str, list[Row]]:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("connection lost")
        return await real(wanted)

    monkeypatch.setattr(api.store.events, "by_seqs", by_seqs)
    sub = api.subscribe("task-a")
    await worker.publish("acct", "task-a", None, "operationBegin", {})
    async with asyncio.timeout(10):
        await failed.wait()  # the consumer logs before it can yield to this task
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == ["delivering 1 events failed"]
    await worker.publish("acct", "task-a", None, "operationEnd", {})
    assert await _drain(sub, 1) == [[2]]  # the lost one is for history to replay


async def test_close_stops_listening(buses: tuple[NotifyEventBus, NotifyEventBus]) -> None:
    api, worker = buses
    sub = api.subscribe("task-a")
    await api.close()
    await api.close()  # twice is harmless
    await worker.publish("acct", "task-a", None, "operationBegin", {})
    await asyncio.sleep(0.3)
    assert sub.backlog == []
    await api.start()  # and it can listen again
    await worker.publish("acct", "task-a", None, "operationEnd", {})
    assert await _drain(sub, 1) == [[2]]
