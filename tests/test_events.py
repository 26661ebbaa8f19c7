"""Task workflow events over real processes and real HTTP: ``POST task/{id}/subscribe`` (JSONL).

PostgreSQL: one ``--role api`` process serves HTTP and a separate headless ``--role scheduler,worker``
process runs the bot, so every live event crosses processes through LISTEN/NOTIFY. SQLite: one
``--role all`` process (in-process fan-out). Runs are started with ``trigger`` and awaited with deadlines.
The buses themselves are tested directly in test_events_bus.py, test_events_local.py and
test_events_notify.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from agentcron.clock import SystemClock
from agentcron.config import Settings
from agentcron.events import HISTORY_MAX, open_event_bus
from agentcron.store.base import open_store
from tests.conftest import Server, account_of_task, free_port, new_account, wait_until
from tests.stream_helpers import Lines, subscribe

API = "/api/v1"
JSONL_HEADERS = {"accept": "application/jsonl"}
ABILITIES = [{"type": "wait", "config": {"seconds": 0.1}}, {"type": "time", "config": {"timezone": "UTC"}}]
EVENT_DEADLINE_S = 20.0


# -- processes ----------------------------------------------------------------------------------------


def _spawn(db_url: str, *extra: str, http: bool = True, prelude: str = "") -> tuple[subprocess.Popen[bytes], str]:
    """``agentcron serve`` as a child process (stderr to a temp file). ``prelude`` is Python run before the
    CLI in the child (the ping test shortens PING_SECONDS this way). Returns (process, base URL or "")."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="agentcron-events-", suffix=".log", delete=False)
    code = f"import sys\n{prelude}\nfrom agentcron.cli import main\nsys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port), "--database-url", db_url, *extra],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    if not http:
        return proc, ""
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {Path(log.name).read_text(errors='replace')}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start within 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Deployment:
    api: Server
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """SQLite: one ``--role all`` process. PostgreSQL: ``--role api`` + headless ``--role scheduler,worker``."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if request.param == "sqlite":
            db_url: str = request.getfixturevalue("sqlite_url")
            proc, url = _spawn(db_url, "--role", "all")
            procs.append(proc)
        else:
            db_url = request.getfixturevalue("pg_url")
            proc, url = _spawn(db_url, "--role", "api")
            procs.append(proc)
            worker, _ = _spawn(db_url, "--role", "scheduler,worker", http=False)
            procs.append(worker)
        yield Deployment(Server(url, db_url, procs[0]), procs)
    finally:
        for p in reversed(procs):
            _stop(p)
    for p in procs[1:]:  # the headless process must have been alive the whole time (it is what ran the bot)
        assert p.returncode in (0, -15), f"headless process exited with {p.returncode}"


# -- helpers ------------------------------------------------------------------------------------------


def _make(client: httpx.Client, kind: str, **fields: Any) -> str:
    r = client.post(f"{API}/{kind}/create", json=fields)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _trigger(client: httpx.Client, task_id: str) -> None:
    r = client.post(f"{API}/task/{task_id}/trigger", json={})
    assert r.status_code == 200, r.text


def _executions(client: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    r = client.get(f"{API}/task/{task_id}/execution/list", params={"take": 100, "order": "asc"})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _wait_finished(client: httpx.Client, task_id: str, count: int, deadline_s: float = EVENT_DEADLINE_S) -> list[Any]:
    deadline = time.monotonic() + deadline_s
    while True:
        items = _executions(client, task_id)
        done = [x for x in items if x["status"] != "running" and x["outcome"] != "pending"]
        if len(done) >= count:
            return items
        assert time.monotonic() < deadline, f"timed out waiting for {count} finished executions: {items}"
        time.sleep(0.05)


def _check_run(events: list[dict[str, Any]], execution_id: str) -> None:
    """One run's events: ``executionBegin`` first and ``executionEnd`` (success) last, between them
    contract-shaped operationBegin/operationEnd pairs (each begin closed by an end of the same operation id,
    later), createdAt non-decreasing, and one operation per ability, in order, with the ability's name and
    input. (The runner may add operations of its own, e.g. model requests.)"""
    assert len(events) >= 2, f"no events for the run: {events}"
    begin, end = events[0], events[-1]
    assert begin["type"] == "executionBegin", begin
    assert begin["data"]["executionId"] == execution_id and begin["data"]["attempt"] == 1, begin
    assert {"taskId", "trigger", "scheduledFor"} <= set(begin["data"]), begin
    assert end["type"] == "executionEnd", end
    assert end["data"]["executionId"] == execution_id, end
    assert (end["data"]["status"], end["data"]["outcome"]) == ("idle", "success"), end
    assert end["data"]["summary"], end
    open_ops: dict[str, dict[str, Any]] = {}
    abilities = []
    for e in events[1:-1]:
        assert set(e) == {"type", "createdAt", "data"}, e
        assert e["type"] in ("operationBegin", "operationEnd"), e
        assert isinstance(e["createdAt"], int) and e["createdAt"] > 1_600_000_000_000, e
        data = e["data"]
        assert isinstance(data["id"], str) and data["id"].startswith(f"{execution_id}-"), e
        action = data["action"]
        assert {"id", "kind", "name", "input"} <= set(action), e
        assert isinstance(action["id"], str) and action["kind"] == "function", e
        if e["type"] == "operationBegin":
            assert data["id"] not in open_ops, f"operation {data['id']} begun twice"
            open_ops[data["id"]] = action
            if action["name"] in {a["type"] for a in ABILITIES}:
                abilities.append((action["name"], action["input"]))
        else:
            assert open_ops.pop(data["id"], None) == action, f"end without a matching begin: {e}"
    assert not open_ops, f"operations never ended: {open_ops}"
    assert abilities == [(a["type"], a["config"]) for a in ABILITIES], abilities
    stamps = [e["createdAt"] for e in events]
    assert stamps == sorted(stamps), stamps


async def _persisted_async(db_url: str, task_id: str) -> list[tuple[str | None, dict[str, Any]]]:
    store = await open_store(db_url, run_migrations=False)
    try:
        async with store.db.tx() as tx:
            rows = await tx.fetch(
                "SELECT execution_id, type, data, created_at FROM task_events WHERE task_id = $1 ORDER BY seq",
                task_id,
            )
        return [
            (
                r["execution_id"],
                {"type": r["type"], "createdAt": int(r["created_at"]), "data": msgspec.json.decode(r["data"])},
            )
            for r in rows
        ]
    finally:
        await store.close()


def _persisted(db_url: str, task_id: str, execution_id: str | None = None) -> list[dict[str, Any]]:
    """The task's persisted events in seq order (of one execution when given), as the wire shows them."""
    rows = asyncio.run(_persisted_async(db_url, task_id))
    return [e for x, e in rows if execution_id is None or x == execution_id]


def _persisted_run(db_url: str, task_id: str, execution_id: str) -> list[dict[str, Any]]:
    """One ended run's persisted events, once its ``executionEnd`` is written: that event is appended by an
    observer of the outcome, just after the outcome's commit, so the execution can read as finished a moment
    before it."""

    def ended() -> list[dict[str, Any]] | None:
        events = _persisted(db_url, task_id, execution_id)
        return events if events and events[-1]["type"] == "executionEnd" else None

    result: list[dict[str, Any]] = wait_until(ended)
    return result


# -- tests --------------------------------------------------------------------------------------------


def test_subscribe_live_across_executions_then_replay(deployment: Deployment) -> None:
    srv = deployment.api
    secret = new_account(srv.db_url, "events")
    with srv.client(secret) as c:
        bot = _make(c, "bot", name="ops", abilities=ABILITIES)
        task = _make(c, "task", name="Observed", botId=bot)
        with subscribe(c, task) as r:
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("application/jsonl")
            lines = Lines(r)
            _trigger(c, task)  # only after the subscription is open (headers received)
            ex1 = _wait_finished(c, task, 1)[0]["id"]
            persisted1 = _persisted_run(srv.db_url, task, ex1)
            first = lines.events(len(persisted1))
            assert first == persisted1
            _check_run(first, ex1)
            # the same connection stays open across executions
            _trigger(c, task)
            ex2 = _wait_finished(c, task, 2)[1]["id"]
            assert ex2 != ex1
            persisted2 = _persisted_run(srv.db_url, task, ex2)
            second = lines.events(len(persisted2))
            assert second == persisted2
            _check_run(second, ex2)
        # reconnect: exactly the last 2 persisted events first, then nothing until the next run
        with subscribe(c, task, {"historyLength": 2}, read_s=1.5) as r:
            assert r.status_code == 200
            lines = Lines(r)
            assert lines.events(2) == second[-2:]
            with pytest.raises(httpx.ReadTimeout):
                lines.next()
        with subscribe(c, task, {"historyLength": 1000}) as r:
            assert Lines(r).events(len(first) + len(second)) == first + second == _persisted(srv.db_url, task)
        with subscribe(c, task, {"historyLength": 1001}) as r:
            r.read()
            assert r.status_code == 400, r.text
        with subscribe(c, "c" + "0" * 24) as r:
            r.read()
            assert r.status_code == 404, r.text
    other = new_account(srv.db_url, "intruder")
    with srv.client(other) as c2, subscribe(c2, task) as r:
        r.read()
        assert r.status_code == 401, r.text


def _publish(db_url: str, account_id: str, task_id: str, n: int) -> None:
    """Persist n events through the real bus's publish (seq numbering, retention), from this process."""

    async def run() -> None:
        store = await open_store(db_url, run_migrations=False)
        try:
            bus = open_event_bus(store, SystemClock(), Settings())
            for i in range(n):
                await bus.publish(account_id, task_id, None, "operationBegin", {"id": f"e{i + 1}", "action": {}})
        finally:
            await store.close()

    asyncio.run(run())


async def _seqs(db_url: str, task_id: str) -> list[int]:
    store = await open_store(db_url, run_migrations=False)
    try:
        async with store.db.tx() as tx:
            rows = await tx.fetch("SELECT seq FROM task_events WHERE task_id = $1 ORDER BY seq", task_id)
        return [int(r["seq"]) for r in rows]
    finally:
        await store.close()


def test_replay_is_bounded_to_the_most_recent_1000(deployment: Deployment) -> None:
    srv = deployment.api
    secret = new_account(srv.db_url, "replay")
    n = 1234
    with srv.client(secret) as c:
        task = _make(c, "task", name="Chatty")
        account_id = account_of_task(srv.db_url, task)
        _publish(srv.db_url, account_id, task, n)
        kept = asyncio.run(_seqs(srv.db_url, task))
        assert kept == list(range(kept[0], n + 1)), "persisted seqs are contiguous up to the last"
        assert HISTORY_MAX <= len(kept) < HISTORY_MAX + 100, f"retention keeps 1000..1099, kept {len(kept)}"
        with subscribe(c, task, {"historyLength": 1000}, read_s=2) as r:
            assert r.status_code == 200
            lines = Lines(r)
            events = lines.events(1000)
            assert [e["data"]["id"] for e in events] == [f"e{i}" for i in range(n - 999, n + 1)]
            with pytest.raises(httpx.ReadTimeout):  # nothing beyond the 1000
                lines.next()


def test_idle_stream_sends_ping_lines(sqlite_url: str) -> None:
    """An idle stream carries ``{"type":"ping"}`` lines (never blank ones). PING_SECONDS (15 s) is
    shortened in the server process only, before the CLI starts."""
    prelude = "import agentcron.events.bus as _s\n_s.PING_SECONDS = 0.2"
    proc, url = _spawn(sqlite_url, "--role", "all", prelude=prelude)
    try:
        srv = Server(url, sqlite_url, proc)
        with srv.client(srv.account()) as c:
            task = _make(c, "task", name="Quiet")
            started = time.time() * 1000
            with subscribe(c, task, read_s=5) as r:
                assert r.status_code == 200
                pings = Lines(r).events(3)
        for p in pings:
            assert p["type"] == "ping" and p["data"] == {}, p
            assert started - 1000 <= p["createdAt"] <= time.time() * 1000 + 1000, p
    finally:
        _stop(proc)
