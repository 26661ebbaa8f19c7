"""Shared fixtures: real SQLite files, a real PostgreSQL (fresh database per test), real servers.

PostgreSQL is at AGENTCRON_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test). When it is
unreachable, PostgreSQL tests skip with the reason on a laptop and FAIL under CI=true.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentcron.store.base import Store, open_store
from agentcron.store.migrate import migrate

#: the browser fixtures (Chromium driven by Playwright): `chromium`, `console_server`, `page`, `guard`
pytest_plugins = ["tests.browser_fixtures"]

PG_URL = os.environ.get("AGENTCRON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent


def missing(reason: str) -> None:
    """Skip on a laptop, fail in CI: a prerequisite CI must have is absent."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last (stable order otherwise): their session-scoped Playwright event loop then never
    lives beside the anyio tests' loops."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def _pg_error() -> str | None:
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(PG_URL, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as e:  # any failure means "not usable here"
        return f"PostgreSQL at {PG_URL} is unreachable ({type(e).__name__}: {e})"
    return None


_pg_state: dict[str, Any] = {}


def _admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _swap_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; fresh test databases are cloned from it (fast)."""
    err = _pg_error()
    if err:
        missing(err)
    name = f"agentcron_tmpl_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}"')
    asyncio.run(migrate(_swap_db(PG_URL, name)))
    _pg_state["template"] = name
    yield name
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database, dropped after the test."""
    name = f"agentcron_t_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _swap_db(PG_URL, name)
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'agentcron.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'agentcron.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await open_store(db_url)
    try:
        yield s
    finally:
        await s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_account(db_url: str, name: str = "acct") -> str:
    """Create an account directly in the database and return its first API secret."""

    async def run() -> str:
        s = await open_store(db_url, run_migrations=False)
        try:
            account_id = await s.accounts.create_account(name, int(time.time() * 1000))
            return await s.accounts.create_token(account_id, int(time.time() * 1000))
        finally:
            await s.close()

    return asyncio.run(run())


def new_token(db_url: str, account_id: str) -> str:
    """Another API secret of an existing account, created straight in the database."""

    async def run() -> str:
        s = await open_store(db_url, run_migrations=False)
        try:
            return await s.accounts.create_token(account_id, int(time.time() * 1000))
        finally:
            await s.close()

    return asyncio.run(run())


def wait_until(pred: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``pred`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def account_of_task(db_url: str, task_id: str) -> str:
    """The account id owning ``task_id``, read straight from the database."""

    async def run() -> str:
        s = await open_store(db_url, run_migrations=False)
        try:
            async with s.db.tx() as tx:
                row = await tx.fetchrow("SELECT account_id FROM tasks WHERE id = $1", task_id)
            assert row is not None
            return str(row["account_id"])
        finally:
            await s.close()

    return asyncio.run(run())


@dataclass
class Server:
    url: str
    db_url: str
    proc: subprocess.Popen[bytes]
    #: the file the server's stderr (its log) goes to
    log_path: str = ""

    def account(self, name: str = "acct") -> str:
        return new_account(self.db_url, name)

    def client(self, secret: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def start_server(db_url: str, *extra: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    # stderr goes to a file, not a pipe: nobody drains a pipe, and a chatty server would block on it.
    log = tempfile.NamedTemporaryFile(prefix="agentcron-server-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentcron", "serve", "--port", str(port), "--database-url", db_url, *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            err = Path(log.name).read_text(errors="replace")
            raise RuntimeError(f"server exited with {proc.returncode}: {err}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Server(url, db_url, proc, log.name)
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start within 30 s")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("srv") / "agentcron.db"
    server = start_server(f"sqlite:///{db}")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def pg_server(pg_template: str) -> Iterator[Server]:
    name = f"agentcron_srv_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    server = start_server(_swap_db(PG_URL, name))
    yield server
    stop_server(server)
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> Server:
    """A running agentcron on each backend (shared per session; tests isolate by account)."""
    name = "sqlite_server" if request.param == "sqlite" else "pg_server"
    srv: Server = request.getfixturevalue(name)
    return srv


@pytest.fixture
def c(server: Server) -> Iterator[httpx.Client]:
    """A client of a fresh account on `server` (each backend)."""
    with server.client(server.account()) as client:
        yield client
