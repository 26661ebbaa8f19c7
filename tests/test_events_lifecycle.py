"""The life of each execution on its task's stream (``executionBegin`` / ``executionEnd`` and the closing of
operations a run left open), over real HTTP on both backends for what the API drives (a run, a cancel, a
time limit), and on the store with an injected clock for what a lost or stopping worker leaves behind."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from agentcron.api.subscribe import REVOKED
from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.events import open_event_bus
from agentcron.events.lifecycle import RunEvents
from agentcron.janitor import Janitor
from agentcron.signals import Signals
from agentcron.store.accounts import AUTH_RECHECK_S, hash_secret
from agentcron.store.base import Store, open_store
from agentcron.store.events import NewEvent
from agentcron.store.housekeeping import WORKER_LOST
from tests.conftest import Server, account_of_task, new_account, new_token, wait_until
from tests.http_helpers import API, new_task, wait_bot
from tests.runs_helpers import cancel, make_bot, make_task, make_worker, ms, queue_trigger
from tests.stream_helpers import Lines, subscribe

WAIT = "wait"


def _trigger(c: httpx.Client, task_id: str) -> None:
    r = c.post(f"{API}/task/{task_id}/trigger", json={})
    assert r.status_code == 200, r.text


def _is(kind: str, name: str | None = None) -> Any:
    def match(e: dict[str, Any]) -> bool:
        return e["type"] == kind and (name is None or e["data"]["action"]["name"] == name)

    return match


def _check_frame(events: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One execution's events: begin first, end last, every operation begun is ended once in between;
    returns (begin data, end data)."""
    begin, end = events[0], events[-1]
    assert begin["type"] == "executionBegin" and end["type"] == "executionEnd", events
    execution_id = begin["data"]["executionId"]
    assert end["data"]["executionId"] == execution_id
    open_ops: set[str] = set()
    for e in events[1:-1]:
        assert e["type"] in ("operationBegin", "operationEnd", "error"), e
        if e["type"] == "operationBegin":
            open_ops.add(e["data"]["id"])
        elif e["type"] == "operationEnd":
            open_ops.remove(e["data"]["id"])
    assert not open_ops, f"left open: {open_ops}"
    return begin["data"], end["data"]


def test_a_run_is_framed_by_begin_and_end_and_the_task_reads_running_pending_meanwhile(c: httpx.Client) -> None:
    task_id = new_task(c, botId=wait_bot(c, 1.0))
    # historyLength: events persisted before the stream registered are replayed (duplicates are cut by seq)
    with subscribe(c, task_id, {"historyLength": 1000}) as r:
        lines = Lines(r)
        _trigger(c, task_id)
        (begin,) = lines.until(_is("executionBegin"))
        inside = lines.until(_is("operationBegin", WAIT))
        during = c.get(f"{API}/task/{task_id}/fetch").json()
        assert (during["status"], during["outcome"]) == ("running", "pending")
        live = [begin, *inside, *lines.until(_is("executionEnd"))]
    start, end = _check_frame(live)
    (ex,) = c.get(f"{API}/task/{task_id}/execution/list").json()["items"]
    assert start == {
        "executionId": ex["id"],
        "taskId": task_id,
        "trigger": "trigger",
        "scheduledFor": None,
        "attempt": 1,
    }
    assert end == {
        "executionId": ex["id"],
        "taskId": task_id,
        "attempt": 1,
        "status": "idle",
        "outcome": "success",
        "summary": ex["summary"],
    }
    assert [e["type"] for e in live if e["type"].startswith("operation")].count("operationBegin") >= 2  # model, wait
    after = wait_until(lambda: (t := c.get(f"{API}/task/{task_id}/fetch").json())["status"] == "idle" and t)
    assert after["outcome"] == "success"
    with subscribe(c, task_id, {"historyLength": 1000}) as r:  # replay holds the same events
        assert Lines(r).events(len(live)) == live


def test_a_cancel_closes_the_open_operation_then_ends_the_execution(c: httpx.Client) -> None:
    task_id = new_task(c, botId=wait_bot(c, 30))
    with subscribe(c, task_id, {"historyLength": 1000}) as r:
        lines = Lines(r)
        _trigger(c, task_id)
        before = lines.until(_is("operationBegin", WAIT))
        execution_id = before[0]["data"]["executionId"]
        cancel = c.post(f"{API}/task/{task_id}/execution/{execution_id}/cancel", json={})
        assert cancel.status_code == 200, cancel.text
        after = lines.until(_is("executionEnd"))
    _, end = _check_frame(before + after)
    wait_op = before[-1]["data"]
    closing = [e["data"] for e in after if e["type"] == "operationEnd"]
    assert closing == [{**wait_op, "error": {"code": "CANCELED", "message": closing[0]["error"]["message"]}}]
    assert "cancelled" in closing[0]["error"]["message"]
    assert (end["status"], end["outcome"]) == ("canceled", "failure")


def test_a_time_limit_closes_the_open_operation_with_time_limit(c: httpx.Client) -> None:
    task_id = new_task(c, botId=wait_bot(c, 30), sessionDuration=1500)  # (maxTime is at least 15 minutes)
    with subscribe(c, task_id, {"historyLength": 1000}) as r:
        lines = Lines(r)
        _trigger(c, task_id)
        events = lines.until(_is("executionEnd"))
    _, end = _check_frame(events)
    (closing,) = [e["data"] for e in events if e["type"] == "operationEnd" and "error" in e["data"]]
    assert closing["action"]["name"] == WAIT and closing["error"]["code"] == "TIME_LIMIT"
    assert (end["status"], end["outcome"]) == ("idle", "failure")
    assert "sessionDuration" in end["summary"]


# -- a lost or stopping worker (store level, injected clock) ------------------------------------------------


async def _stream(store: Store, task_id: str) -> list[tuple[str, dict[str, Any]]]:
    bus = open_event_bus(store, FakeClock(0), Settings())
    return [(e.type, e.data) for e in await bus.history(task_id, 1000)]


async def _running_wait(store: Store, seconds: float) -> tuple[str, FakeClock, Any]:
    """A task whose run sits inside a ``wait`` operation under a started worker (BasicRunner)."""
    now = ms("2026-06-01T10:00:00Z")
    clock = FakeClock(now)
    acc = await store.accounts.create_account("a", now)
    bot = await make_bot(store, acc, now, [{"type": "wait", "config": {"seconds": seconds}}])
    task_id = await make_task(store, acc, now, None, bot_id=bot)
    await queue_trigger(store, task_id, now)
    worker = make_worker(store, clock, Settings(lease_ms=30_000))
    assert await worker.claim_once(now) == 1

    async def inside_wait() -> bool:
        return [t for t, _ in await _stream(store, task_id)] == ["executionBegin", "operationBegin"]

    for _ in range(200):
        if await inside_wait():
            break
        await asyncio.sleep(0.02)
    assert await inside_wait()
    return task_id, clock, worker


@pytest.mark.anyio
async def test_a_reaped_run_gets_worker_lost_closings_from_the_reaper(store: Store) -> None:
    task_id, clock, worker = await _running_wait(store, 30)
    signals = Signals()  # the janitor's process: it knows nothing of the worker's memory
    run_events = RunEvents(open_event_bus(store, clock, Settings()), store.events, signals)
    janitor = Janitor(store.housekeeping, Settings(lease_ms=30_000), clock, signals)
    (execution_id,) = await janitor.reap_once(clock.now_ms() + 31_000)
    await run_events.close()
    events = await _stream(store, task_id)
    assert [t for t, _ in events] == ["executionBegin", "operationBegin", "operationEnd", "executionEnd"]
    assert events[2][1] == {
        **events[1][1],
        "error": {"code": "WORKER_LOST", "message": events[2][1]["error"]["message"]},
    }
    assert events[3][1] == {
        "executionId": execution_id,
        "taskId": task_id,
        "attempt": 1,
        "status": "idle",
        "outcome": "failure",
        "summary": WORKER_LOST,
    }
    # A second reap of the same run (another janitor) finds it closed and writes nothing.
    await run_events._close_reaped({task_id: [execution_id]})
    assert len(await _stream(store, task_id)) == 4
    # The lost worker, still alive, learns it at its heartbeat and stops without writing to the stream.
    assert await worker.heartbeat_once(clock.now_ms() + 32_000) == {execution_id}
    await worker.drain()
    await worker.outcomes.side_writes_done()
    assert len(await _stream(store, task_id)) == 4


@pytest.mark.anyio
async def test_a_run_handed_back_at_shutdown_ends_its_stream_and_begins_again(store: Store) -> None:
    task_id, clock, worker = await _running_wait(store, 30)
    await worker.shutdown(grace_ms=0)
    await worker.run_events.close()
    events = await _stream(store, task_id)
    assert [t for t, _ in events] == ["executionBegin", "operationBegin", "operationEnd", "executionEnd"]
    assert events[2][1]["error"]["code"] == "SHUTDOWN"
    assert (events[3][1]["status"], events[3][1]["outcome"]) == ("idle", "pending")
    # Claimed again, the run begins again as attempt 2.
    again = make_worker(store, clock, Settings(lease_ms=30_000), worker_id="w2")
    assert await again.claim_once(clock.now_ms()) == 1
    for _ in range(200):
        if len(await _stream(store, task_id)) > 4:
            break
        await asyncio.sleep(0.02)
    begin = (await _stream(store, task_id))[4]
    assert begin[0] == "executionBegin" and begin[1]["attempt"] == 2
    await again.shutdown(grace_ms=0)
    await again.run_events.close()


@pytest.mark.anyio
async def test_a_run_cancelled_after_its_bot_returned_still_ends_its_stream(store: Store) -> None:
    """The bot returned, but a cancel committed before its outcome: the fence drops the outcome, so no
    `ExecutionsFinished` names the run; the worker closes its stream as cancelled instead."""
    now = ms("2026-06-01T10:00:00Z")
    clock = FakeClock(now)
    acc = await store.accounts.create_account("a", now)
    task_id = await make_task(store, acc, now, None, bot_id=await make_bot(store, acc, now))
    await queue_trigger(store, task_id, now)
    worker = make_worker(store, clock)  # not started: outcomes wait for `flush`
    assert await worker.claim_once(now) == 1
    for _ in range(200):
        if worker.unrecorded:
            break
        await asyncio.sleep(0.01)
    assert worker.unrecorded == 1
    (canceled,) = await cancel(store, task_id, now + 10)
    assert await worker.flush(now + 20) == 0  # fenced off
    await worker.outcomes.side_writes_done()
    await worker.run_events.close()
    events = await _stream(store, task_id)
    assert [t for t, _ in events] == ["executionBegin", "executionEnd"]
    assert events[1][1]["executionId"] == canceled
    assert (events[1][1]["status"], events[1][1]["outcome"]) == ("canceled", "failure")


@pytest.mark.anyio
async def test_concurrent_batches_of_the_same_tasks_number_their_events_without_gaps(store: Store) -> None:
    """Batches naming the same tasks in opposite orders, written at once next to single appends, all land
    (no collision or deadlock) and every task's numbers run 1..n in the order each writer gave them."""
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tasks = [f"t{i:03d}" for i in range(40)]

    async def batch(k: int) -> None:
        names = tasks if k % 2 else list(reversed(tasks))
        await store.events.append_many([NewEvent(acc, t, None, "nop", {"k": k}) for t in names], now)

    async def single(k: int) -> None:
        await store.events.append(acc, tasks[k % len(tasks)], None, "nop", {"single": k}, now)

    await asyncio.gather(*(batch(k) for k in range(8)), *(single(k) for k in range(40)))
    for t in tasks:
        seqs = [e.seq for e in await open_event_bus(store, FakeClock(0), Settings()).history(t, 1000)]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 8 + 1, (t, seqs)


def test_a_stream_ends_when_its_secret_is_revoked(server: Server) -> None:
    """A subscription outlives no revocation: the stream checks its secret with each delivery (and ping),
    so after a revoke the next event ends it with an error record instead of reaching the revoked client."""
    secret = new_account(server.db_url, "stream-revoked")
    with server.client(secret) as c:
        task_id = new_task(c, botId=wait_bot(c))
    other = new_token(server.db_url, account_of_task(server.db_url, task_id))

    async def revoke() -> None:
        store = await open_store(server.db_url, run_migrations=False)
        try:
            async with store.db.tx(write=True) as tx:
                await tx.execute("DELETE FROM api_tokens WHERE secret_hash = $1", hash_secret(secret))
        finally:
            await store.close()

    with server.client(secret) as c, subscribe(c, task_id) as r:
        lines = Lines(r)
        asyncio.run(revoke())
        time.sleep(AUTH_RECHECK_S + 0.1)
        with server.client(other) as c2:
            _trigger(c2, task_id)
        events = lines.until(lambda e: e["type"] in ("error", "executionEnd"))
    assert events[-1] == {"type": "error", "createdAt": events[-1]["createdAt"], "data": REVOKED}
    assert not any(e["type"].startswith("execution") for e in events)
