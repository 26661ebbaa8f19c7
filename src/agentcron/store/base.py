"""The `Store`: every read and write of agentcron's data, over a SQLite or PostgreSQL `Database`.

Contract for all methods: instants are epoch ms (UTC); ``account_id`` scopes every tenant read and
write, so another account's ids behave exactly like ids that do not exist.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from agentcron.store.accounts import AccountStore
from agentcron.store.budgets import TokenBudgets
from agentcron.store.db import Database, Row, Tx
from agentcron.store.events import EventLog
from agentcron.store.firing import FiringStore
from agentcron.store.housekeeping import HousekeepingStore
from agentcron.store.keyed_reads import KeyedReads
from agentcron.store.migrate import migrate, sqlite_path
from agentcron.store.postgres import PostgresDatabase
from agentcron.store.resources import Resource
from agentcron.store.row_json import RowCache, cached_page
from agentcron.store.run_stats import RunStats
from agentcron.store.runs import RunStore
from agentcron.store.sqlite import SQLiteDatabase
from agentcron.store.task_control import TaskControl
from agentcron.store.webhooks import WebhookStore


@dataclass(slots=True)
class ListQuery:
    """A page request: filters, a cursor position and a size (already clamped by the API layer)."""

    take: int = 100
    order: str = "desc"
    #: (created_at, id) of the last item seen; the page starts strictly after it.
    after: tuple[int, str] | None = None
    #: column -> accepted values (SQL ``IN``).
    equals: dict[str, Sequence[Any]] = field(default_factory=dict)
    #: meta key -> value (str, or bool matched as a JSON boolean).
    meta: dict[str, str | bool] = field(default_factory=dict)
    #: column -> True: it is set (NOT NULL); False: it is NULL.
    present: dict[str, bool] = field(default_factory=dict)
    #: column -> text it contains, ignoring ASCII case (the console's search by name).
    contains: dict[str, str] = field(default_factory=dict)


class Store:
    """Every read and write of agentcron's data, by role: `accounts`, `firing` (the scheduler's tick),
    `runs` (claims, leases, outcomes), `housekeeping` (the janitor), `tasks` (the API's run controls),
    `events` (the workflow event log), `webhooks` (endpoints and the delivery outbox); and generic resource
    access (the methods below)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.caps = db.caps
        self.accounts = AccountStore(db)
        #: token usage and budgets; ``budgets.account_cap`` is the account-wide daily cap (0: off)
        self.budgets = TokenBudgets(db)
        self.firing = FiringStore(db, self.budgets)
        self.runs = RunStore(db, self.budgets)
        self.housekeeping = HousekeepingStore(db)
        self.tasks = TaskControl(db, self.firing)
        self.events = EventLog(db)
        self.run_stats = RunStats(db)
        self.webhooks = WebhookStore(db)
        #: list pages' wire JSON of versioned rows (tasks), by id and version
        self.row_json: RowCache[str] = RowCache()
        #: the console's columns of versioned rows, by the columns read, then by id and version
        self.row_values: dict[tuple[str, ...], RowCache[tuple[Any, ...]]] = {}
        #: `get` reads, coalesced per resource (see store/keyed_reads.py)
        self._keyed: dict[str, KeyedReads] = {}

    async def close(self) -> None:
        await self.db.close()

    def transaction(self, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        """A unit of work spanning several store calls (they take its `Tx`); commits on success."""
        return self.db.tx(write=write)

    # -- generic resource access ----------------------------------------------------------------------

    async def insert(self, res: Resource, row: dict[str, Any], tx: Tx | None = None) -> None:
        cols = list(row)
        sql = (
            f"INSERT INTO {res.table} ({', '.join(cols)}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(cols) + 1))})"
        )
        if tx is not None:
            await tx.execute(sql, *row.values())
            return
        async with self.db.tx(write=True) as tx2:
            await tx2.execute(sql, *row.values())

    async def insert_rows(self, res: Resource, rows: Sequence[dict[str, Any]], tx: Tx) -> None:
        """Insert ``rows`` (column -> value) by the backend's bulk path (COPY on PostgreSQL), one batch per
        set of columns: a column a row leaves out gets its default. Raises on any conflict."""
        batches: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            batches.setdefault(tuple(row), []).append(tuple(row.values()))
        for columns, values in batches.items():
            await tx.insert_rows(res.table, columns, values)

    async def owned(self, res: Resource, account_id: str, ids: Collection[str], tx: Tx) -> set[str]:
        """Which of ``ids`` name visible rows of this account: one statement for the whole set."""
        wanted = [i for i in ids if "\x00" not in i]
        if not wanted:
            return set()
        rows = await tx.fetch(
            f"SELECT id FROM {res.table} WHERE account_id = $1 AND {tx.sql.any_of('id', 2)}{res.visible}",
            account_id,
            tx.sql.list_param(wanted),
        )
        return {str(r["id"]) for r in rows}

    async def get_row(self, res: Resource, account_id: str, id_: str, tx: Tx | None = None) -> Row | None:
        if "\x00" in id_:
            return None  # no id holds NUL, and PostgreSQL refuses it in a text parameter
        sql = f"SELECT * FROM {res.table} WHERE id = $1 AND account_id = $2{res.visible}"
        if tx is not None:
            return await tx.fetchrow(sql, id_, account_id)
        async with self.db.tx() as tx2:
            return await tx2.fetchrow(sql, id_, account_id)

    async def get(self, res: Resource, account_id: str, id_: str) -> dict[str, Any] | None:
        """The row as wire fields, or None when no visible row of this account has the id."""
        if "\x00" in id_:
            return None
        keyed = self._keyed.get(res.name)
        if keyed is None:
            keyed = KeyedReads(self.db.read_rows, self.db.sql, res.table, res.columns_sql, res.visible)
            self._keyed[res.name] = keyed
        row = await keyed.get(id_, account_id)
        return None if row is None else res.values_to_wire(row)

    async def exists(self, res: Resource, account_id: str, id_: str, tx: Tx | None = None) -> bool:
        if "\x00" in id_:
            return False
        sql = f"SELECT 1 AS one FROM {res.table} WHERE id = $1 AND account_id = $2{res.visible}"
        if tx is not None:
            return await tx.fetchrow(sql, id_, account_id) is not None
        async with self.db.tx() as tx2:
            return await tx2.fetchrow(sql, id_, account_id) is not None

    async def update(
        self, res: Resource, account_id: str, id_: str, changes: dict[str, Any], tx: Tx | None = None
    ) -> bool:
        """Set ``changes`` (column -> value) on the row; False when it does not exist for this account."""
        if "\x00" in id_:
            return False
        if tx is None:
            async with self.db.tx(write=True) as tx2:
                return await self.update(res, account_id, id_, changes, tx2)
        if not changes:
            return await self.get_row(res, account_id, id_, tx) is not None
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changes, start=3))
        if res.version is not None:
            sets += f", {res.version} = {res.version} + 1"
        sql = f"UPDATE {res.table} SET {sets} WHERE id = $1 AND account_id = $2{res.visible}"
        return await tx.execute(sql, id_, account_id, *changes.values()) > 0

    async def delete(self, res: Resource, account_id: str, id_: str, tx: Tx | None = None) -> bool:
        if "\x00" in id_:
            return False
        sql = f"DELETE FROM {res.table} WHERE id = $1 AND account_id = $2{res.visible}"
        if tx is not None:
            return await tx.execute(sql, id_, account_id) > 0
        async with self.db.tx(write=True) as tx2:
            return await tx2.execute(sql, id_, account_id) > 0

    async def list_page(
        self, res: Resource, account_id: str, query: ListQuery, parent_id: str | None = None
    ) -> list[Row]:
        """One page in (created_at, id) order. Keyset pagination: the cost of a page does not depend on
        how deep it is."""
        sql, args = self._page_sql(res.columns_sql, res, account_id, query, parent_id)
        async with self.db.tx() as tx:
            return await tx.fetch(sql, *args)

    async def list_values(
        self, res: Resource, account_id: str, query: ListQuery, columns: Sequence[str]
    ) -> list[Sequence[Any]]:
        """`list_page` reading only ``columns`` of ``res``'s table, each row a tuple in that order (the read
        path, no per-row mapping: the console's Tasks table); rows of a versioned resource come from
        `row_values` while unchanged."""
        select = ", ".join(columns)
        if res.version is not None:
            key = tuple(columns)
            cache = self.row_values.get(key)
            if cache is None:  # (not `or`: an empty cache is falsy)
                cache = self.row_values[key] = RowCache()
            page = await self._cached(res, cache, select, len(columns), account_id, query, None)
            if page is not None:
                return page[0]
        sql, args = self._page_sql(select, res, account_id, query, None)
        return await self.db.read_rows(sql, tuple(args))

    async def list_page_json(
        self, res: Resource, account_id: str, query: ListQuery, parent_id: str | None = None
    ) -> tuple[list[str], str | None] | None:
        """`list_page` with each row's wire object written as JSON text by the database (the same fields,
        order and values as `Resource.to_wire`; PostgreSQL writes a jsonb value such as ``meta`` with its
        own spacing), and the last row's id (None on an empty page); None when ``res`` has a field the
        database cannot render (`Resource.json_fields`). Python does no per-field work. Rows of a versioned
        resource (tasks) come from `row_json` while unchanged (`store/row_json.py`)."""
        fields = res.json_fields
        if fields is None:
            return None
        select = self.db.sql.json_row(fields)
        if res.version is not None:
            page = await self._cached(res, self.row_json, select, 1, account_id, query, parent_id)
            if page is not None:
                return page
        sql, args = self._page_sql(f"{select}, id", res, account_id, query, parent_id)
        rows = await self.db.read_rows(sql, tuple(args))
        return [r[0] for r in rows], (rows[-1][1] if rows else None)

    async def _cached(
        self,
        res: Resource,
        cache: RowCache[Any],
        select: str,
        width: int,
        account_id: str,
        query: ListQuery,
        parent_id: str | None,
    ) -> tuple[list[Any], str | None] | None:
        assert res.version is not None
        return await cached_page(
            self.db,
            cache,
            res.table,
            res.visible,
            select,
            width,
            account_id,
            self.db.sql.row_version(res.version),
            lambda sel: self._page_sql(sel, res, account_id, query, parent_id),
        )

    def _page_sql(
        self, select: str, res: Resource, account_id: str, query: ListQuery, parent_id: str | None
    ) -> tuple[str, list[Any]]:
        args: list[Any] = [account_id]
        where = ["account_id = $1"]

        def arg(v: Any) -> str:
            args.append(v)
            return f"${len(args)}"

        if res.parent is not None:
            where.append(f"{res.parent} = {arg(parent_id)}")
        for column, values in query.equals.items():
            where.append(f"{column} IN ({', '.join(arg(v) for v in values)})")
        for column, is_set in query.present.items():
            where.append(f"{column} IS {'NOT NULL' if is_set else 'NULL'}")
        for key, value in query.meta.items():
            where.append(self.db.sql.meta_match(key, value, arg))
        for column, text in query.contains.items():
            where.append(self.db.sql.contains(column, text, arg))
        desc = query.order != "asc"
        if query.after is not None:
            op = "<" if desc else ">"
            where.append(f"(created_at, id) {op} ({arg(query.after[0])}, {arg(query.after[1])})")
        direction = "DESC" if desc else "ASC"
        sql = (
            f"SELECT {select} FROM {res.table} WHERE {' AND '.join(where)}{res.visible} "
            f"ORDER BY created_at {direction}, id {direction} LIMIT {arg(query.take)}"
        )
        return sql, args


async def open_store(
    database_url: str, *, run_migrations: bool = True, pool_size: int = 10, read_connections: int | None = None
) -> Store:
    """Open (and by default migrate) the database at ``database_url``: ``sqlite:///path`` or
    ``postgresql://...`` (a pool of ``pool_size`` connections, ``read_connections`` more for single-row
    reads: default as many). Raises ValueError for any other scheme."""
    if run_migrations:
        await migrate(database_url)
    if database_url.startswith("sqlite:///"):
        return Store(SQLiteDatabase(sqlite_path(database_url)))
    if database_url.startswith(("postgresql://", "postgres://")):
        return Store(
            await PostgresDatabase.connect(database_url, max_size=pool_size, read_connections=read_connections)
        )
    raise ValueError(f"unsupported database URL {database_url!r}: use sqlite:///PATH or postgresql://...")
