"""Coalesced primary-key reads (`store.keyed_reads.KeyedReads`, behind `Store.get`), on SQLite and PostgreSQL:
reads issued in one event-loop turn share one statement, yet each sees every write committed before it, a
failed statement fails only its own batch, and a cancelled read leaves the others of its batch alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest

from agentcron import ids
from agentcron.store.base import Store, open_store
from agentcron.store.keyed_reads import KeyedReads
from agentcron.store.postgres import PostgresDatabase
from agentcron.store.resources import TASK

pytestmark = pytest.mark.anyio

T0 = 1_790_000_000_000


async def _tasks(store: Store, n: int) -> tuple[str, list[str]]:
    """A new account and ``n`` of its tasks, named t0, t1, ..."""
    account_id = await store.accounts.create_account("a", T0)
    out = []
    for i in range(n):
        tid = ids.new_id(T0 + i)
        row = {"id": tid, "account_id": account_id, "name": f"t{i}", "description": ""}
        await store.insert(TASK, {**row, "created_at": T0 + i, "updated_at": T0 + i})
        out.append(tid)
    return account_id, out


class Counting:
    """The real `read_rows`, recording the ids each statement asked for and how many rows came back."""

    def __init__(self, store: Store) -> None:
        self.db = store.db
        self.asked: list[list[str]] = []
        self.returned: list[int] = []

    async def __call__(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        keys = args[0]
        self.asked.append(keys if isinstance(keys, list) else json.loads(keys) if "json_each" in sql else [keys])
        rows = await self.db.read_rows(sql, args)
        self.returned.append(len(rows))
        return rows


def _reader(store: Store, fetch: Any = None, table: str = TASK.table) -> KeyedReads:
    return KeyedReads(fetch or store.db.read_rows, store.db.sql, table, "name", TASK.visible)


def _names(rows: Sequence[Any]) -> list[str | None]:
    return [r[0] if isinstance(r, Sequence) else None for r in rows]


async def test_reads_of_one_turn_share_one_statement(store: Store) -> None:
    a, tids = await _tasks(store, 40)
    counting = Counting(store)
    reader = _reader(store, counting)
    rows = await asyncio.gather(*(reader.get(t, a) for t in tids + tids[:3]), reader.get(tids[0], "other-account"))
    assert _names(rows) == [f"t{i}" for i in range(40)] + ["t0", "t1", "t2", None]
    assert len(counting.asked) == 1 and sorted(counting.asked[0]) == sorted(tids)  # duplicates asked once
    # a lone read uses the single-key statement
    assert _names([await reader.get(tids[5], a)]) == ["t5"]
    assert counting.asked[1] == [tids[5]]


async def test_another_accounts_row_is_not_read_at_all(store: Store) -> None:
    """The account is part of the statement: fetching another account's id reads what a missing id reads
    (nothing), so the two cannot be told apart by how long they take."""
    a, (mine,) = await _tasks(store, 1)
    _, (theirs,) = await _tasks(store, 1)
    counting = Counting(store)
    reader = _reader(store, counting)
    assert await reader.get(theirs, a) is None
    assert await reader.get("c" + "0" * 24, a) is None
    assert counting.returned == [0, 0]
    assert _names(await asyncio.gather(reader.get(theirs, a), reader.get(mine, a))) == [None, "t0"]
    assert counting.returned[-1] == 1  # (one statement for both: only the own row came back)


async def test_a_batch_is_bounded(store: Store) -> None:
    a, tids = await _tasks(store, 10)
    counting = Counting(store)
    reader = _reader(store, counting)
    reader.MAX_BATCH = 4
    assert _names(await asyncio.gather(*(reader.get(t, a) for t in tids))) == [f"t{i}" for i in range(10)]
    assert [len(keys) for keys in counting.asked] == [4, 4, 2]


async def test_every_read_sees_writes_committed_before_it_by_another_process(store: Store, db_url: str) -> None:
    a, (tid,) = await _tasks(store, 1)
    other = await open_store(db_url, run_migrations=False)  # another process's store: no shared memory
    try:
        for i in range(20):
            assert await other.update(TASK, a, tid, {"name": f"v{i}"})
            got = await asyncio.gather(*(store.get(TASK, a, tid) for _ in range(3)))
            assert [g["name"] if g else None for g in got] == [f"v{i}"] * 3
        assert await other.delete(TASK, a, tid)
        assert await store.get(TASK, a, tid) is None
    finally:
        await other.close()


async def test_a_failed_statement_fails_its_batch_only(store: Store) -> None:
    a, tids = await _tasks(store, 3)
    broken = _reader(store, table="no_such_table")
    results = await asyncio.gather(*(broken.get(t, a) for t in tids), return_exceptions=True)
    assert all(isinstance(r, Exception) and "no_such_table" in str(r) for r in results), results
    assert _names(await asyncio.gather(*(_reader(store).get(t, a) for t in tids))) == ["t0", "t1", "t2"]
    if isinstance(store.db, PostgresDatabase):
        assert store.db.reads is not None and store.db.reads.opened >= 1  # a refused statement keeps its connection


async def test_a_cancelled_read_leaves_its_batch_alone(store: Store) -> None:
    a, tids = await _tasks(store, 3)

    async def slow(sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        await asyncio.sleep(0.05)
        return await store.db.read_rows(sql, args)

    reader = _reader(store, slow)
    reads = [asyncio.ensure_future(reader.get(t, a)) for t in tids]
    await asyncio.sleep(0.01)  # the batch is in flight
    reads[1].cancel()
    done = await asyncio.gather(*reads, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError) and _names([done[0], done[2]]) == ["t0", "t2"]
    # cancelled before its batch was sent: the statement leaves it out
    counting = Counting(store)
    reader = _reader(store, counting)
    reads = [asyncio.ensure_future(reader.get(t, a)) for t in tids]
    await asyncio.sleep(0)  # every read has joined; the flush has not run yet
    reads[0].cancel()
    done = await asyncio.gather(*reads, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError) and _names(done[1:]) == ["t1", "t2"]
    assert sorted(counting.asked[0]) == sorted(tids[1:])


async def test_keyed_reads_flush_cancelled_before_it_ran(store: Store) -> None:
    acc, (tid,) = await _tasks(store, 1)
    reader = KeyedReads(store.db.read_rows, store.db.sql, TASK.table, "name", TASK.visible)
    first = asyncio.ensure_future(reader.get(tid, acc))
    await asyncio.sleep(0)  # `first` has queued its flush task
    for t in list(reader._flushing):
        t.cancel()  # e.g. a cancel-all-tasks sweep, or a cancel scope around the task that created it
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(first, 1)
    # a read issued afterwards, by a request that was never cancelled, must still be answered
    assert await asyncio.wait_for(reader.get(tid, acc), 2) is not None
