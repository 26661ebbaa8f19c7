"""Health and start-up (agentcron.health, agentcron.runtime): ``/healthz``, ``/readyz`` and ``/metrics`` on the
API port and on the health port of a headless process, readiness following the roles and the database,
a busy port refused in one line, and the start-up banner's ``account create`` command."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentcron.config import DEFAULT_DATABASE_URL, Settings
from agentcron.engine.basic import BasicRunner
from agentcron.health import Probes
from agentcron.runtime import Services, account_command, process_clock
from tests.conftest import _admin, free_port, start_server, stop_server, wait_until
from tests.fault_helpers import Proc


def serve(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "agentcron", "serve", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_headless_process_answers_health_readiness_and_metrics_on_its_health_port(db_url: str) -> None:
    port = free_port()
    proc = Proc(db_url, "--role", "scheduler,worker", "--health-port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.alive() and _answers(base + "/healthz"), timeout=30)
        health = httpx.get(base + "/healthz")
        assert health.status_code == 200 and health.json()["ok"] is True
        ready = wait_until(lambda: (r := httpx.get(base + "/readyz")).status_code == 200 and r)
        assert ready.json() == {"ok": True}
        metrics = httpx.get(base + "/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        names = {f.name for f in text_string_to_metric_families(metrics.text)}
        assert {"agentcron_executions_started", "agentcron_executions_running", "agentcron_fire_lateness_seconds"} <= (
            names
        )
        assert httpx.head(base + "/healthz").status_code == 200
        assert httpx.get(base + "/api/v1/task/list").status_code == 404  # no API here
        assert httpx.post(base + "/readyz").status_code == 405
        started = next(json.loads(line) for line in proc.log().splitlines() if '"event":"started"' in line)
        assert started["roles"] == "scheduler,worker" and started["url"] is None and started["healthUrl"] == base
        assert proc.terminate() == 0, proc.log()[-3000:]
    finally:
        proc.cleanup()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_api_port_answers_readyz(server_url: str) -> None:
    r = httpx.get(server_url + "/readyz")
    assert r.status_code == 200 and r.json() == {"ok": True}


@pytest.fixture
def server_url(sqlite_server: object) -> str:
    return str(sqlite_server.url)  # type: ignore[attr-defined]


def test_readyz_answers_503_with_the_reason_once_the_database_is_gone(pg_url: str) -> None:
    server = start_server(pg_url)
    try:
        assert httpx.get(server.url + "/readyz").status_code == 200
        _admin(f'DROP DATABASE "{pg_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        r = wait_until(lambda: (r := httpx.get(server.url + "/readyz", timeout=10)).status_code == 503 and r)
        assert not r.json()["ok"] and "database" in r.json()["reason"]
        assert httpx.get(server.url + "/healthz").status_code == 200  # alive all the same
    finally:
        stop_server(server)


@pytest.mark.anyio
async def test_readiness_follows_the_roles_of_the_process(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, poll_ms=50)
    services = await Services.build(settings, process_clock(settings), BasicRunner())
    probes = services.probes()
    assert await probes.ready() == "starting"
    await services.start()
    try:
        assert await probes.ready() is None
        assert services.worker is not None and services._ticking is not None
        loop = services.worker._loops[0]
        loop.cancel()
        await asyncio.wait([loop])
        assert await probes.ready() == "the worker has stopped"
        services._ticking.cancel()
        await asyncio.wait([services._ticking])
        assert await probes.ready() == "the scheduler has stopped"
    finally:
        services.quiesce()
        assert await probes.ready() == "shutting down"
        await services.stop()


@pytest.mark.anyio
async def test_a_database_that_does_not_answer_makes_the_process_unready(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url)
    services = await Services.build(settings, process_clock(settings), BasicRunner())
    probes = Probes(services.store, services.metrics, lambda: None)
    assert await probes.ready() is None
    await services.store.close()
    reason = await probes.ready()
    assert reason is not None and reason.startswith("the database is unreachable")
    # /metrics still answers (the queue count stays as last read)
    text = await probes.render_metrics()
    assert text is not None and b"agentcron_executions_queued" in text


def test_a_busy_port_is_refused_in_one_line(sqlite_url: str, tmp_path: Path) -> None:
    server = start_server(sqlite_url)
    try:
        port = server.url.rsplit(":", 1)[1]
        other = f"sqlite:///{tmp_path / 'other.db'}"
        done = serve("--port", port, "--database-url", other)
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip() == f"agentcron: port {port} on 127.0.0.1 is already in use"
        # the health port of a headless process too
        done = serve("--database-url", other, "--role", "worker", env={"AGENTCRON_HEALTH_PORT": port})
        assert done.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in done.stderr
    finally:
        stop_server(server)


def test_bad_log_settings_stop_the_process_before_it_starts(sqlite_url: str) -> None:
    done = serve("--database-url", sqlite_url, env={"AGENTCRON_LOG_LEVEL": "chatty"})
    assert done.returncode == 2 and "AGENTCRON_LOG_LEVEL" in done.stderr


def test_the_banner_names_the_database_in_use_without_its_password() -> None:
    assert account_command(Settings(), {}) == "agentcron account create NAME"
    assert account_command(Settings(database_url=DEFAULT_DATABASE_URL), {}) == "agentcron account create NAME"
    sqlite = Settings(database_url="sqlite:////srv/agentcron/data.db")
    assert (
        account_command(sqlite, {}) == "agentcron account create NAME --database-url sqlite:////srv/agentcron/data.db"
    )
    pg = Settings(database_url="postgresql://app:hunter2@db.internal/agentcron")
    from_env = account_command(pg, {"AGENTCRON_DATABASE_URL": pg.database_url})
    assert from_env == 'agentcron account create NAME --database-url "$AGENTCRON_DATABASE_URL"'
    given = account_command(pg, {})
    assert "hunter2" not in given
    masked = "'postgresql://app:***@db.internal/agentcron'"
    assert given == f"agentcron account create NAME --database-url {masked} (with the password in place of ***)"
    plain = Settings(database_url="postgresql://app@db.internal/agentcron")
    assert (
        account_command(plain, {})
        == "agentcron account create NAME --database-url postgresql://app@db.internal/agentcron"
    )
