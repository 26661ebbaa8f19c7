"""Helpers for the fault-injection tests (tests/test_faults.py): real `agentcron serve` processes that
are SIGKILLed / SIGTERMed, and direct database access to load work and to inspect the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from agentcron import ids
from agentcron.store.base import open_store

SECOND = 1000
MIN = 60_000
HOUR = 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def agentcron_env(**settings: object) -> dict[str, str]:
    """``AGENTCRON_<FIELD>`` variables for the given settings (``lease_ms=3000`` -> AGENTCRON_LEASE_MS)."""
    return {f"AGENTCRON_{k.upper()}": str(v) for k, v in settings.items()}


class Proc:
    """One ``agentcron serve`` process; stderr goes to a log file (never a pipe nobody drains)."""

    def __init__(self, db_url: str, *args: str, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.db_url = db_url
        self.port = port
        log = tempfile.NamedTemporaryFile(prefix="agentcron-fault-", suffix=".log", delete=False)
        self.log_path = Path(log.name)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agentcron", "serve", "--database-url", db_url, *args]
            + (["--port", str(port)] if port is not None else []),
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_http(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer /healthz within {timeout} s: {self.log()}")

    def kill9(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM (graceful) and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"process {self.pid} ignored SIGTERM for {timeout} s") from None

    def cleanup(self) -> None:
        """Never leave a process behind (finally blocks); the log is removed when the process is gone."""
        if self.alive():
            self.kill9()
        with contextlib.suppress(OSError):
            self.log_path.unlink()


def headless(db_url: str, env: dict[str, str]) -> Proc:
    """A scheduler+worker process without HTTP (SIGTERM = graceful shutdown)."""
    return Proc(db_url, "--role", "scheduler,worker", env=env)


def http_server(db_url: str, env: dict[str, str] | None = None) -> Proc:
    """``--role all`` on a free port, answering /healthz."""
    from tests.conftest import free_port

    proc = Proc(db_url, "--role", "all", env=env, port=free_port())
    try:
        proc.wait_http()
    except BaseException:
        proc.cleanup()
        raise
    return proc


def cleanup_all(procs: Sequence[Proc]) -> None:
    for p in procs:
        p.cleanup()


def wait_until(
    check: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition"
) -> tuple[Any, float]:
    """Poll ``check`` until it returns a truthy value; returns (value, seconds waited). Raises
    AssertionError with the last value after ``timeout`` seconds."""
    start = time.monotonic()
    last: Any = None
    while True:
        last = check()
        if last:
            return last, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")
        time.sleep(interval)


# -- direct database access (synchronous wrappers, one short connection per call) -------------------------


def db_fetch(db_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run one read (``$n`` placeholders) on SQLite or PostgreSQL, outside any server process."""

    async def run() -> list[dict[str, Any]]:
        store = await open_store(db_url, run_migrations=False, pool_size=1)
        try:
            async with store.db.tx() as tx:
                return await tx.fetch(sql, *args)
        finally:
            await store.close()

    return asyncio.run(run())


def db_write(db_url: str, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    async def run() -> None:
        store = await open_store(db_url, run_migrations=False, pool_size=1)
        try:
            async with store.db.tx(write=True) as tx:
                await tx.executemany(sql, rows)
        finally:
            await store.close()

    asyncio.run(run())


def migrate_db(db_url: str) -> None:
    """Bring a scratch database up to date (the SQLite fixture hands out an empty file path)."""
    from agentcron.store.migrate import migrate

    asyncio.run(migrate(db_url))


def make_account(db_url: str) -> str:
    """A fresh account id (no secret: headless processes need none)."""

    async def run() -> str:
        store = await open_store(db_url, run_migrations=False, pool_size=1)
        try:
            return await store.accounts.create_account("faults", now_ms())
        finally:
            await store.close()

    return asyncio.run(run())


def insert_bot(db_url: str, account_id: str, abilities: list[dict[str, Any]] | None) -> str:
    import json

    now = now_ms()
    bot_id = ids.new_id(now)
    db_write(
        db_url,
        "INSERT INTO bots (id, account_id, name, description, model, abilities, created_at, updated_at) "
        "VALUES ($1, $2, 'bot', '', 'test', $3, $4, $4)",
        [(bot_id, account_id, json.dumps(abilities) if abilities is not None else None, now)],
    )
    return bot_id


def iso(ms: int) -> str:
    """A one-shot schedule for the instant ``ms`` (whole seconds, UTC)."""
    from datetime import UTC, datetime

    assert ms % 1000 == 0
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def insert_one_shot_tasks(db_url: str, account_id: str, bot_id: str | None, slots: Sequence[int]) -> list[str]:
    """One task per slot, each a one-shot ISO date at that slot (exactly one execution expected per task),
    overlapPolicy ``allow``; ``next_run_at`` set as the API would set it. Returns the task ids in order."""
    now = now_ms()
    rows = []
    task_ids = []
    for i, slot in enumerate(slots):
        tid = ids.new_id(now)
        task_ids.append(tid)
        rows.append((tid, account_id, f"fault-{i}", "", bot_id, iso(slot), slot, "allow", now))
    for start in range(0, len(rows), 2000):
        db_write(
            db_url,
            "INSERT INTO tasks (id, account_id, name, description, bot_id, schedule, next_run_at, overlap_policy, "
            "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            rows[start : start + 2000],
        )
    return task_ids


def sqlite_check(path: Path, ids_: Sequence[str]) -> tuple[str, set[str]]:
    """(``PRAGMA integrity_check`` result, the subset of task ``ids_`` missing from the file). Opens the file
    the way a restarting server would (WAL recovery included)."""
    conn = sqlite3.connect(str(path))
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        present = {r[0] for r in conn.execute("SELECT id FROM tasks")}
    finally:
        conn.close()
    return ok, set(ids_) - present
