"""Database adapters: one small async interface over stdlib `sqlite3` and over an asyncpg pool.

SQL is written once in PostgreSQL's ``$n`` placeholder style; the SQLite adapter rewrites it to ``?n``.
SQLite statements run inline on the event loop thread (no thread hops: measured 2.5-5x better p99 than
a thread pool, see perf-stack.md), serialised by an asyncio lock so a transaction that awaits can never
interleave with another coroutine's statements on the one shared connection.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any, Protocol

Row = dict[str, Any]


class Tx(Protocol):
    """A unit of work on one connection. Statements run in one transaction when opened with write=True."""

    dialect: str

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in ``columns`` order) into ``table`` by the backend's bulk path. Raises on
        any conflict: rows that may already exist need an ``INSERT ... ON CONFLICT`` statement instead."""
        ...


class Database(Protocol):
    dialect: str

    def tx(self, write: bool = False) -> AbstractAsyncContextManager[Tx]:
        """``async with db.tx(write) as tx``: a `Tx`; commits on success, rolls back on error."""
        ...

    async def read_rows(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        """Every row of a single-statement read, as sequences in column order."""
        ...

    async def close(self) -> None: ...


def any_of(dialect: str, column: str, n: int) -> str:
    """SQL for "``column`` is one of the text list bound as parameter ``$n``" (made by `list_param`). One
    statement text for every list length, so each database parses and plans it once (both cache by text)."""
    if dialect == "postgresql":
        return f"{column} = ANY(${n}::text[])"
    return f"{column} IN (SELECT value FROM json_each(${n}))"


def list_param(dialect: str, values: Iterable[str]) -> Any:
    """The parameter of an `any_of` condition: an array on PostgreSQL, a JSON array on SQLite."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))


_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=1024)
def _to_sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


class _SQLiteTx:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        cur = self.conn.execute(_to_sqlite(sql), args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        cur = self.conn.execute(_to_sqlite(sql), args)
        r = cur.fetchone()
        if r is None:
            return None
        return dict(zip([d[0] for d in cur.description], r, strict=True))

    async def execute(self, sql: str, *args: Any) -> int:
        return self.conn.execute(_to_sqlite(sql), args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(_to_sqlite(sql), rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


class SQLiteDatabase:
    """One connection in WAL mode with ``synchronous=NORMAL``: durable across process crashes (the WAL
    is in the OS page cache once COMMIT returns), ~17 us per commit."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA cache_size=-131072")  # 128 MiB of page cache
        self.conn.execute("PRAGMA mmap_size=1073741824")  # reads map the file instead of copying pages
        self._lock = asyncio.Lock()
        self._tx = _SQLiteTx(self.conn)

    async def read_rows(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        async with self._lock:
            rows: list[Sequence[Any]] = self.conn.execute(_to_sqlite(sql), args).fetchall()
            return rows

    @asynccontextmanager
    async def tx(self, write: bool = False) -> AsyncIterator[Tx]:
        async with self._lock:
            if not write:
                yield self._tx
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._tx
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    async def close(self) -> None:
        self.conn.close()


class _PostgresTx:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self.conn.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        r = await self.conn.fetchrow(sql, *args)
        return None if r is None else dict(r)

    async def execute(self, sql: str, *args: Any) -> int:
        status: str = await self.conn.execute(sql, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        # Binary COPY: per row, ~40% less server time and a quarter of the client CPU of an INSERT from
        # unnest'ed arrays, whose encoding runs an ABC isinstance check per element.
        await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))


async def _keep_session(conn: Any) -> None:
    """Pool release hook replacing asyncpg's default reset query (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``): one more round trip on every release, which cost as much server time as the
    PK read of ``task/{id}/fetch`` (bench/api.py). Safe because store code leaves no session state behind
    (no SET, LISTEN, session-level advisory locks or cursors); asyncpg still rolls back a transaction left
    open and drops listeners before calling this."""


_FATAL_SQLSTATE_CLASSES = frozenset({"08", "57", "53", "58", "XX"})


class _ReadLanes:
    """A few connections kept apart for single-statement reads (`PostgresDatabase.read_rows`).

    asyncpg's Pool spends as long acquiring and releasing a connection as the primary-key read itself
    (a Task per release for ``asyncio.shield``, a timeout and a Queue per acquire): 45% of
    ``task/{id}/fetch``'s database time in bench/api.py. A lane is a connection on a free list; callers
    beyond ``size`` open lanes wait in FIFO order. A lane whose statement is cancelled or hits a
    connection-level error is terminated and its slot passed to the next waiter, which opens a new lane:
    no lane is ever handed out mid-statement or broken. Lanes open on demand, so a process that serves no
    single-row reads (a headless worker) opens none. After `close`, every read raises.
    """

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self.opened = 0
        self.closed = False
        self.free: list[Any] = []
        #: futures resolved with a lane, or with None: "a slot is free, open a lane (or see closed)"
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        import asyncpg

        conn = await self._take()
        try:
            rows: list[Sequence[Any]] = await conn.fetch(sql, *args)
        except asyncpg.PostgresError as e:
            # The server refused the statement (bad data, ...): the connection is fine. Connection,
            # shutdown, resource and internal errors (SQLSTATE classes 08, 57, 53, 58, XX) are not.
            if conn.is_closed() or str(getattr(e, "sqlstate", "") or "XX")[:2] in _FATAL_SQLSTATE_CLASSES:
                self._discard(conn)
            else:
                self._give(conn)
            raise
        except BaseException:  # cancelled mid-statement, connection lost, ...: never reuse it
            self._discard(conn)
            raise
        self._give(conn)
        return rows

    async def _take(self) -> Any:
        import asyncpg

        while True:
            if self.closed:
                raise asyncpg.InterfaceError("the database is closed")
            if self.free:
                return self.free.pop()
            if self.opened < self.size:
                self.opened += 1
                try:
                    conn = await asyncpg.connect(self.url)
                except BaseException:
                    self.opened -= 1
                    self._pass_slot()  # a waiter may succeed where this connect failed
                    raise
                if self.closed:
                    self.opened -= 1
                    conn.terminate()
                    continue
                return conn
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                conn = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed something just as we were cancelled
                    handed = waiter.result()
                    if handed is None:
                        self._pass_slot()
                    else:
                        self._give(handed)
                raise
            if conn is not None:
                return conn
            # None: a slot was freed (a lane discarded, a connect failed) or the lanes closed: look again

    def _hand(self, handed: Any) -> bool:
        """Resolve the first live waiter with ``handed`` (a lane, or None); False when nobody waits."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(handed)
                return True
        return False

    def _give(self, conn: Any) -> None:
        if self.closed:
            self.opened -= 1
            conn.terminate()
        elif not self._hand(conn):
            self.free.append(conn)

    def _discard(self, conn: Any) -> None:
        self.opened -= 1
        conn.terminate()
        self._pass_slot()

    def _pass_slot(self) -> None:
        """Wake the first live waiter to open a lane in the slot just freed."""
        self._hand(None)

    async def close(self) -> None:
        """Close the free lanes and fail every waiting and later read; lanes in use close as their
        statements end."""
        self.closed = True
        free, self.free = self.free, []
        self.opened -= len(free)
        while self._hand(None):  # each looks again and sees `closed`
            pass
        await asyncio.gather(*(conn.close(timeout=5) for conn in free), return_exceptions=True)


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, pool: Any, url: str = "", read_lanes: int = 0) -> None:
        self.pool = pool
        self.lanes = _ReadLanes(url, read_lanes) if url and read_lanes > 0 else None

    @classmethod
    async def connect(cls, url: str, min_size: int = 2, max_size: int = 10) -> PostgresDatabase:
        import asyncpg

        pool = await asyncpg.create_pool(url, min_size=min(min_size, max_size), max_size=max_size, reset=_keep_session)
        # As many read lanes as pooled connections: under load every in-flight request holds one
        # (bench/api.py, 32 connections: 3 lanes 0.43x, 5 0.48x, 10 0.52x of the bare endpoint).
        return cls(pool, url, read_lanes=max_size)

    async def read_rows(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        """The rows of a single-statement read, as sequences in column order (a read lane when enabled)."""
        if self.lanes is None:
            rows: list[Sequence[Any]] = await self.pool.fetch(sql, *args)
            return rows
        return await self.lanes.fetch(sql, args)

    @asynccontextmanager
    async def tx(self, write: bool = False) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn:
            if not write:
                yield _PostgresTx(conn)
                return
            async with conn.transaction():
                yield _PostgresTx(conn)

    async def close(self) -> None:
        if self.lanes is not None:
            await self.lanes.close()
        await self.pool.close()
