"""The `Store`: every read and write of agentcron's data, over a SQLite or PostgreSQL `Database`.

Contract for all methods: instants are epoch ms (UTC); ``account_id`` scopes every tenant read and
write, so another account's ids behave exactly like ids that do not exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentcron import ids
from agentcron.store.coalesce import KeyedReads
from agentcron.store.db import Database, PostgresDatabase, Row, SQLiteDatabase, Tx
from agentcron.store.migrate import migrate, sqlite_path
from agentcron.store.resources import Resource


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.dialect
        self._auth_cache: dict[str, str] = {}
        #: `get` reads, coalesced per resource (see store/coalesce.py)
        self._keyed: dict[str, KeyedReads] = {}

    async def close(self) -> None:
        await self.db.close()

    # -- accounts and secrets -------------------------------------------------------------------------

    async def create_account(self, name: str, now: int) -> str:
        account_id = ids.new_id(now)
        async with self.db.tx(write=True) as tx:
            await tx.execute("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)", account_id, name, now)
        return account_id

    async def find_account(self, ref: str) -> str | None:
        """The id of the account whose id or (exact) name is ``ref``; the oldest one if names repeat."""
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                "SELECT id FROM accounts WHERE id = $1 OR name = $1 ORDER BY created_at LIMIT 1", ref
            )
        return None if row is None else str(row["id"])

    async def create_token(self, account_id: str, now: int) -> str:
        """Create an API secret for the account and return it; only its SHA-256 is stored."""
        secret = ids.new_secret()
        async with self.db.tx(write=True) as tx:
            await tx.execute(
                "INSERT INTO api_tokens (id, account_id, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
                ids.new_id(now),
                account_id,
                hash_secret(secret),
                now,
            )
        return secret

    async def account_for_secret(self, secret: str) -> str | None:
        """The account a bearer secret belongs to, or None. The lookup is by hash, so a timing
        difference can reveal nothing about the secret itself."""
        digest = hash_secret(secret)
        hit = self._auth_cache.get(digest)
        if hit is not None:
            return hit
        async with self.db.tx() as tx:
            row = await tx.fetchrow("SELECT account_id FROM api_tokens WHERE secret_hash = $1", digest)
        if row is None:
            return None
        if len(self._auth_cache) > 10_000:
            self._auth_cache.clear()
        self._auth_cache[digest] = row["account_id"]
        return str(row["account_id"])

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
            keyed = KeyedReads(self.db.read_rows, self.dialect, res.table, res.columns_sql, res.visible)
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
        args: list[Any] = [account_id]
        where = ["account_id = $1"]

        def arg(v: Any) -> str:
            args.append(v)
            return f"${len(args)}"

        if res.parent is not None:
            where.append(f"{res.parent} = {arg(parent_id)}")
        for column, values in query.equals.items():
            where.append(f"{column} IN ({', '.join(arg(v) for v in values)})")
        for key, value in query.meta.items():
            where.append(self._meta_match(key, value, arg))
        desc = query.order != "asc"
        if query.after is not None:
            op = "<" if desc else ">"
            where.append(f"(created_at, id) {op} ({arg(query.after[0])}, {arg(query.after[1])})")
        direction = "DESC" if desc else "ASC"
        sql = (
            f"SELECT {res.columns_sql} FROM {res.table} WHERE {' AND '.join(where)}{res.visible} "
            f"ORDER BY created_at {direction}, id {direction} LIMIT {arg(query.take)}"
        )
        async with self.db.tx() as tx:
            return await tx.fetch(sql, *args)

    def _meta_match(self, key: str, value: str | bool, arg: Any) -> str:
        if self.dialect == "postgresql":
            import msgspec

            return f"meta -> {arg(key)} = {arg(msgspec.json.encode(value).decode())}::jsonb"
        path = arg('$."' + key.replace('"', '""') + '"')
        if isinstance(value, bool):
            return f"json_type(meta, {path}) = {arg('true' if value else 'false')}"
        return f"(json_type(meta, {path}) = 'text' AND json_extract(meta, {path}) = {arg(value)})"


async def open_store(database_url: str, *, run_migrations: bool = True, pool_size: int = 10) -> Store:
    """Open (and by default migrate) the database at ``database_url``: ``sqlite:///path`` or
    ``postgresql://...``. Raises ValueError for any other scheme."""
    if run_migrations:
        await migrate(database_url)
    if database_url.startswith("sqlite:///"):
        return Store(SQLiteDatabase(sqlite_path(database_url)))
    if database_url.startswith(("postgresql://", "postgres://")):
        return Store(await PostgresDatabase.connect(database_url, max_size=pool_size))
    raise ValueError(f"unsupported database URL {database_url!r}: use sqlite:///PATH or postgresql://...")
