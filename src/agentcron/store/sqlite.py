"""The SQLite adapter: one connection over stdlib ``sqlite3`` in WAL mode.

Statements run inline on the event loop thread (a thread hop per statement costs more than the
statement), serialised by an asyncio lock so a transaction that awaits can never interleave with another
coroutine's statements on the one shared connection.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from agentcron.store.db import Columns, Row, Tx
from agentcron.store.dialects import Capabilities, Dialect, SQLiteDialect

_PLACEHOLDER = re.compile(r"\$(\d+)")
_DIALECT = SQLiteDialect()


@lru_cache(maxsize=1024)
def _to_sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


class _SQLiteTx:
    sql: Dialect = _DIALECT

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
        count = self.conn.execute(_to_sqlite(sql), args).rowcount
        if count < 0 and sql.lstrip()[:4].upper() == "WITH":
            # sqlite3 reports no row count for a statement led by a CTE (WITH ... UPDATE): ask SQLite
            count = self.conn.execute("SELECT changes()").fetchone()[0]
        return int(count)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(_to_sqlite(sql), rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        marks = ", ".join("?" * len(columns))
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def insert_many(
        self, table: str, cols: Columns, rows: Sequence[Sequence[Any]], suffix: str, returning: str = ""
    ) -> list[Row] | None:
        # One executemany: a statement is a cheap in-process call here (it cannot return rows).
        if rows:
            names = ", ".join(c for c, _ in cols)
            marks = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
            self.conn.executemany(_to_sqlite(f"INSERT INTO {table} ({names}) VALUES ({marks}){suffix}"), rows)
        return None

    async def lock_keys(self, namespace: str, keys: Sequence[str]) -> None:
        return None  # one writer: transactions are already serial

    async def lock_rows(self, table: str, ids: Sequence[str]) -> None:
        return None

    async def notify(self, channel: str, payload: str) -> None:
        return None

    async def notify_many(self, channel: str, payloads: Sequence[str]) -> None:
        return None


class SQLiteDatabase:
    """One connection in WAL mode with ``synchronous=NORMAL``: durable across process crashes (the WAL
    is in the OS page cache once COMMIT returns)."""

    sql: Dialect = _DIALECT
    caps = Capabilities(concurrent_writes=False, cross_process_notify=False)

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

    async def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], Any]:
        raise NotImplementedError("SQLite serves one process: there is no one else to listen to")

    async def close(self) -> None:
        self.conn.close()
