"""The database interface every store module writes to: a `Database` hands out `Tx` units of work.

Two adapters implement it, `agentcron.store.sqlite` (stdlib ``sqlite3``, embedded) and
`agentcron.store.postgres` (asyncpg, the distributed engine). SQL is written once in PostgreSQL's ``$n``
placeholder style; what differs between the backends is asked of ``tx.sql`` (a `Dialect`) or of the
`Tx` methods below, never decided by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from agentcron.store.dialects import Capabilities, Dialect

Row = dict[str, Any]
#: (column name, PostgreSQL type) of a bulk write
Columns = Sequence[tuple[str, str]]


class Tx(Protocol):
    """A unit of work on one connection. Statements run in one transaction when opened with write=True."""

    sql: Dialect

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""
        ...

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in ``columns`` order) into ``table`` by the backend's bulk path. Raises on
        any conflict: rows that may already exist need `insert_many` with an ``ON CONFLICT`` suffix."""
        ...

    async def insert_many(
        self, table: str, cols: Columns, rows: Sequence[Sequence[Any]], suffix: str, returning: str = ""
    ) -> list[Row] | None:
        """Insert ``rows`` with ``suffix`` (``ON CONFLICT ...``) as one statement (or one batch). With
        ``returning`` (columns), the inserted rows when the backend can return them, else None (read them
        back)."""
        ...

    async def lock_keys(self, namespace: str, keys: Sequence[str]) -> None:
        """Serialise concurrent transactions on ``(namespace, key)`` until this one ends, taking the keys
        in a fixed order (no deadlock between two such transactions). A no-op with a single writer."""
        ...

    async def lock_rows(self, table: str, ids: Sequence[str]) -> None:
        """Lock these rows of ``table`` in id order until the transaction ends (single writer: no-op)."""
        ...

    async def notify(self, channel: str, payload: str) -> None:
        """Tell other processes' `Database.listen` callbacks ``payload`` once this transaction commits
        (a no-op where `Capabilities.cross_process_notify` is false)."""
        ...

    async def notify_many(self, channel: str, payloads: Sequence[str]) -> None:
        """`notify` for each of ``payloads``, in order, in one statement."""
        ...


class Database(Protocol):
    sql: Dialect
    caps: Capabilities

    def tx(self, write: bool = False) -> AbstractAsyncContextManager[Tx]:
        """``async with db.tx(write) as tx``: a `Tx`; commits on success, rolls back on error."""
        ...

    async def read_rows(self, sql: str, args: tuple[Any, ...]) -> list[Sequence[Any]]:
        """Every row of a single-statement read, as sequences in column order."""
        ...

    async def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], Any]:
        """Call ``callback(payload)`` for every `Tx.notify` on ``channel`` (from any process); returns an
        async closer. Raises `NotImplementedError` where `Capabilities.cross_process_notify` is false."""
        ...

    async def close(self) -> None: ...
