"""Helpers the benchmark scripts share: loopback ports, core pinning, PostgreSQL admin statements."""

from __future__ import annotations

import os
import shutil
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(core: int) -> list[str]:
    """A ``taskset`` prefix running a command on ``core`` (nothing when taskset or that core is missing)."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > core else []


async def pg_admin(url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE / DROP DATABASE)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
