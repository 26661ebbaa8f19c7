"""Connections kept apart for single-statement reads on PostgreSQL (`ReadPool`)."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any

_FATAL_SQLSTATE_CLASSES = frozenset({"08", "57", "53", "58", "XX"})


class ReadPool:
    """A few connections kept apart for single-statement reads (`PostgresDatabase.read_rows`).

    asyncpg's Pool spends as long acquiring and releasing a connection as the primary-key read itself
    (a Task per release for ``asyncio.shield``, a timeout and a Queue per acquire): a large share of
    ``task/{id}/fetch``'s database time (docs/benchmarks.md). A lane is a connection on a free list; callers
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
