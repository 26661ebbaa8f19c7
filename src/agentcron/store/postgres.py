"""The PostgreSQL adapter: an asyncpg pool for transactions, a read pool for single-statement reads, and
one LISTEN connection per process for cross-process notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from agentcron.store.db import Columns, Row, Tx
from agentcron.store.dialects import Capabilities, Dialect, PostgresDialect
from agentcron.store.read_pool import ReadPool

_DIALECT = PostgresDialect()


class _PostgresTx:
    sql: Dialect = _DIALECT

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
        if not rows:
            return
        # Binary COPY: less server time and far less client CPU per row than an INSERT from unnest'ed
        # arrays, whose encoding runs an ABC isinstance check per element.
        await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def insert_many(
        self, table: str, cols: Columns, rows: Sequence[Sequence[Any]], suffix: str, returning: str = ""
    ) -> list[Row] | None:
        # One statement for the batch: one array parameter per column, unnest'ed.
        if not rows:
            return [] if returning else None
        names = ", ".join(c for c, _ in cols)
        arrays = ", ".join(f"${i}::{'text' if t == 'jsonb' else t}[]" for i, (_, t) in enumerate(cols, start=1))
        select = ", ".join(f"v.{c}::jsonb" if t == "jsonb" else f"v.{c}" for c, t in cols)
        sql = f"INSERT INTO {table} ({names}) SELECT {select} FROM unnest({arrays}) AS v({names}){suffix}"
        args = [list(col) for col in zip(*rows, strict=True)]
        if returning:
            return await self.fetch(f"{sql} RETURNING {returning}", *args)
        await self.conn.execute(sql, *args)
        return None

    async def lock_keys(self, namespace: str, keys: Sequence[str]) -> None:
        # Ordered by the lock key itself, so two keys sharing a hash cannot reverse the order.
        if keys:
            await self.conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($2), k) "
                "FROM (SELECT DISTINCT hashtext(a) AS k FROM unnest($1::text[]) a ORDER BY k) s",
                list(keys),
                namespace,
            )

    async def lock_rows(self, table: str, ids: Sequence[str]) -> None:
        if ids:
            await self.conn.execute(
                f"SELECT 1 FROM {table} WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", list(ids)
            )

    async def notify(self, channel: str, payload: str) -> None:
        await self.conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def notify_many(self, channel: str, payloads: Sequence[str]) -> None:
        if payloads:
            await self.conn.execute(
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS u(p, i) ORDER BY i",
                channel,
                list(payloads),
            )


async def _keep_session(conn: Any) -> None:
    """Pool release hook replacing asyncpg's default reset query (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``): one more round trip on every release, as costly as a primary-key read.
    Safe because store code leaves no session state behind (no SET, LISTEN, session-level advisory locks
    or cursors); asyncpg still rolls back a transaction left open and drops listeners before calling this."""


class PostgresDatabase:
    sql: Dialect = _DIALECT
    caps = Capabilities(concurrent_writes=True, cross_process_notify=True)

    def __init__(self, pool: Any, url: str = "", read_connections: int = 0) -> None:
        self.pool = pool
        self.url = url
        self.reads = ReadPool(url, read_connections) if url and read_connections > 0 else None

    @classmethod
    async def connect(
        cls, url: str, min_size: int = 2, max_size: int = 10, read_connections: int | None = None
    ) -> PostgresDatabase:
        """A pool of ``max_size`` connections and ``read_connections`` read connections (default: as many: under
        load every in-flight request holds one)."""
        import asyncpg

        pool = await asyncpg.create_pool(url, min_size=min(min_size, max_size), max_size=max_size, reset=_keep_session)
        return cls(pool, url, read_connections=max_size if read_connections is None else read_connections)

    async def read_rows(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        """The rows of a single-statement read, as sequences in column order (the read pool when enabled)."""
        if self.reads is None:
            rows: list[Sequence[Any]] = await self.pool.fetch(sql, *args)
            return rows
        return await self.reads.fetch(sql, args)

    @asynccontextmanager
    async def tx(self, write: bool = False) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn:
            if not write:
                yield _PostgresTx(conn)
                return
            async with conn.transaction():
                yield _PostgresTx(conn)

    async def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], Any]:
        """One dedicated connection LISTENing on ``channel``; the closer closes it."""
        import asyncpg

        conn = await asyncpg.connect(self.url)
        await conn.add_listener(channel, lambda _c, _pid, _ch, payload: callback(payload))

        async def close() -> None:
            await conn.close(timeout=5)

        return close

    async def close(self) -> None:
        if self.reads is not None:
            await self.reads.close()
        await self.pool.close()
