"""The migrated schema equals the declared one (`agentcron.store.schema`), on both backends."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from agentcron.store.migrate import migrate, sqlalchemy_url
from agentcron.store.schema import metadata

pytestmark = pytest.mark.anyio


def _diff(conn: Any) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


def _predicate(index: Any) -> str | None:
    """A partial index's WHERE clause (a SQLite table rebuild must keep it), as the database reports it."""
    opts = index.get("dialect_options", {})
    where = opts.get("sqlite_where", opts.get("postgresql_where"))
    return None if where is None else str(where)


def _describe(conn: Any) -> dict[str, Any]:
    insp = sa.inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        if table == "alembic_version":
            continue
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]), _predicate(i)) for i in insp.get_indexes(table)
            ),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)),
        }
    return out


async def _inspect(url: str, fn: Any) -> Any:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            result = fn(conn)
        engine.dispose()
        return result
    aengine = create_async_engine(sqlalchemy_url(url))
    async with aengine.begin() as aconn:
        result = await aconn.run_sync(fn)
    await aengine.dispose()
    return result


async def _create_all(url: str) -> None:
    def create(conn: Any) -> None:
        metadata.create_all(conn)

    await _inspect(url, create)


async def test_migrations_produce_the_declared_schema(db_url: str) -> None:
    await migrate(db_url)
    assert await _inspect(db_url, _diff) == []


async def test_fresh_schema_equals_migrated_schema(db_url: str, tmp_path: Any, request: Any) -> None:
    await migrate(db_url)
    migrated = await _inspect(db_url, _describe)
    if db_url.startswith("sqlite"):
        fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        fresh_url = request.getfixturevalue("pg_url")

        # pg_url is cloned from a migrated template: start from an empty schema instead.
        def drop(conn: Any) -> None:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))

        await _inspect(fresh_url, drop)
    await _create_all(fresh_url)
    assert await _inspect(fresh_url, _describe) == migrated


async def test_migrate_is_idempotent(db_url: str) -> None:
    await migrate(db_url)
    await migrate(db_url)
    assert await _inspect(db_url, _diff) == []
