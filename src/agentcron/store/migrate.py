"""Schema migrations (Alembic), run on every start. Safe to run from many processes at once:
on PostgreSQL an advisory lock serialises them; on SQLite the database file lock does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x61676E74  # "agnt": one advisory lock id for all agentcron migrations


def alembic_config(connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def sqlalchemy_url(database_url: str) -> str:
    """Map our ``sqlite:///`` / ``postgresql://`` URLs to SQLAlchemy URLs with explicit drivers."""
    if database_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    return database_url


def sqlite_path(database_url: str) -> str:
    """The file path of a ``sqlite:///path`` URL (relative paths are relative to the working dir)."""
    if not database_url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {database_url!r}")
    return database_url[len("sqlite:///") :]


def _upgrade(connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    command.upgrade(alembic_config(connection), "head")


async def migrate(database_url: str) -> None:
    """Bring the database at ``database_url`` to the latest schema. Idempotent."""
    if database_url.startswith("sqlite:///"):
        path = sqlite_path(database_url)
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        engine = sa.create_engine(database_url)
        try:
            with engine.begin() as conn:
                _upgrade(conn)
        finally:
            engine.dispose()
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    aengine = create_async_engine(sqlalchemy_url(database_url))
    try:
        async with aengine.begin() as aconn:
            await aconn.run_sync(_upgrade)
    finally:
        await aengine.dispose()
