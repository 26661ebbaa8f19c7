"""The PostgreSQL read pool (`store.read_pool.ReadPool`, behind `PostgresDatabase.read_rows`): bounded
connections (lanes), FIFO hand-off, and no lane reused after a cancelled statement or a lost connection.
Real PostgreSQL, real backends terminated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest

from agentcron.store.postgres import PostgresDatabase
from agentcron.store.read_pool import ReadPool

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pgdb(pg_url: str) -> AsyncIterator[PostgresDatabase]:
    db = await PostgresDatabase.connect(pg_url, min_size=1, max_size=2)
    try:
        yield db
    finally:
        await db.close()


async def read_row(db: PostgresDatabase, sql: str, *args: Any) -> Sequence[Any] | None:
    rows = await db.read_rows(sql, args)
    return rows[0] if rows else None


async def _backends(db: PostgresDatabase) -> int:
    async with db.tx() as tx:
        row = await tx.fetchrow("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database()")
    assert row is not None
    return int(row["n"])


async def test_many_concurrent_reads_share_a_bounded_set_of_lanes(pgdb: PostgresDatabase) -> None:
    assert pgdb.reads is not None and pgdb.reads.size == 2
    rows = await asyncio.gather(*(read_row(pgdb, "SELECT $1::int AS n, pg_sleep(0.01)", i) for i in range(40)))
    assert [r[0] for r in rows if r is not None] == list(range(40))
    assert pgdb.reads.opened == 2 and len(pgdb.reads.free) == 2 and not pgdb.reads.waiters


async def test_a_refused_statement_keeps_its_lane(pgdb: PostgresDatabase) -> None:
    assert pgdb.reads is not None
    await read_row(pgdb, "SELECT 1")
    with pytest.raises(asyncpg.PostgresError):
        await read_row(pgdb, "SELECT 1 / $1::int", 0)
    assert pgdb.reads.opened == 1
    assert await read_row(pgdb, "SELECT 2") == (2,)


async def test_a_cancelled_read_never_hands_out_its_busy_connection(pgdb: PostgresDatabase) -> None:
    assert pgdb.reads is not None
    slow = asyncio.ensure_future(read_row(pgdb, "SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert pgdb.reads.opened == 0  # discarded, not returned mid-statement
    rows = await asyncio.gather(*(read_row(pgdb, "SELECT $1::int", i) for i in range(5)))
    assert rows == [(i,) for i in range(5)]


async def test_a_lane_whose_backend_died_is_replaced(pgdb: PostgresDatabase) -> None:
    assert pgdb.reads is not None
    pid = (await read_row(pgdb, "SELECT pg_backend_pid()") or (0,))[0]
    async with pgdb.tx() as tx:
        await tx.execute("SELECT pg_terminate_backend($1)", pid)
    # The read on the dead connection fails (how depends on when asyncpg notices: a FATAL message, a
    # closed socket or a protocol state error); the lane is then discarded, never handed out again.
    with pytest.raises(Exception):  # noqa: B017
        await read_row(pgdb, "SELECT 1")
    assert await read_row(pgdb, "SELECT 3") == (3,)
    assert (await read_row(pgdb, "SELECT pg_backend_pid()") or (0,))[0] != pid


async def test_waiters_get_lanes_in_arrival_order_and_close_releases_everything(pg_url: str) -> None:
    db = await PostgresDatabase.connect(pg_url, min_size=1, max_size=1)
    assert db.reads is not None
    order: list[int] = []

    async def read(i: int) -> None:
        await read_row(db, "SELECT pg_sleep(0.02)")
        order.append(i)

    tasks = [asyncio.ensure_future(read(i)) for i in range(5)]
    await asyncio.gather(*tasks)
    assert order == list(range(5))
    before = await _backends(db)
    await db.close()
    assert db.reads.closed and not db.reads.free
    probe = await PostgresDatabase.connect(pg_url, min_size=1, max_size=1)
    try:
        for _ in range(50):  # backends exit asynchronously after their connection closes
            if await _backends(probe) <= before - 2 + 1:
                break
            await asyncio.sleep(0.05)
        assert await _backends(probe) <= before - 2 + 1
    finally:
        await probe.close()


async def test_a_failed_connect_passes_its_slot_on(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a lane fails (say, too many connections): the caller gets the error, and a reader queued
    behind it is woken to try for itself instead of waiting forever."""
    pool = ReadPool(pg_url, 1)

    async def refused(url: str) -> None:
        await asyncio.sleep(0.05)
        raise OSError("connection refused")

    monkeypatch.setattr(asyncpg, "connect", refused)
    first = asyncio.ensure_future(pool.fetch("SELECT 1", ()))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(pool.fetch("SELECT 1", ()))
    async with asyncio.timeout(5):
        results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results), results
    assert pool.opened == 0 and not pool.waiters


async def test_close_fails_waiting_and_later_reads(pg_url: str) -> None:
    db = await PostgresDatabase.connect(pg_url, min_size=1, max_size=1)
    assert db.reads is not None
    busy = asyncio.ensure_future(read_row(db, "SELECT pg_sleep(0.2), 7"))
    await asyncio.sleep(0.05)
    waiting = asyncio.ensure_future(read_row(db, "SELECT 1"))
    await asyncio.sleep(0.01)
    await db.close()
    async with asyncio.timeout(5):
        with pytest.raises(asyncpg.InterfaceError):
            await waiting
        row = await busy  # a statement under way finishes; its lane is closed behind it
    assert row is not None and row[1] == 7
    with pytest.raises(asyncpg.InterfaceError):
        await read_row(db, "SELECT 2")
    assert db.reads.opened == 0 and not db.reads.free


async def test_a_reader_cancelled_as_a_slot_reaches_it_passes_the_slot_on(pgdb: PostgresDatabase) -> None:
    """A lane is discarded (its read cancelled) and the freed slot goes to the first waiter, which is
    cancelled before it resumes: it must not read anyway, and the next waiter must get the slot."""
    pool = pgdb.reads
    assert pool is not None
    pool.size = 1
    slow = asyncio.ensure_future(read_row(pgdb, "SELECT pg_sleep(5)"))
    await asyncio.sleep(0.1)
    first = asyncio.ensure_future(read_row(pgdb, "SELECT 41"))
    second = asyncio.ensure_future(read_row(pgdb, "SELECT 42"))
    await asyncio.sleep(0.05)
    assert len(pool.waiters) == 2
    slow.cancel()
    while pool.opened == 1:  # noqa: ASYNC110  # step the loop until the slow lane is discarded
        await asyncio.sleep(0)
    first.cancel()
    async with asyncio.timeout(5):
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == (42,)
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert pool.opened == 1 and len(pool.free) == 1 and not pool.waiters
