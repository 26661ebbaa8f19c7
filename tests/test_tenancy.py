"""Two accounts on one server (both backends): every endpoint treats the other account's ids exactly like
ids that do not exist, and no list, export, filter or count reveals the other account's rows."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from agentcron import ids
from agentcron.store.base import open_store
from agentcron.store.resources import EXECUTION
from tests.conftest import Server, account_of_task
from tests.test_api_tasks import API, assert_error, now_ms

MARK_A = "ALPHA-PRIVATE-7f3e"


@dataclass
class Tenant:
    client: httpx.Client
    bot: str = ""
    contact: str = ""
    task: str = ""
    tasks: list[str] = field(default_factory=list)
    conversation: str = ""
    execution: str = ""

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.client.post(f"{API}/{path}", json={} if body is None else body)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(f"{API}/{path}", **kw)

    def make(self, kind: str, **fields: Any) -> str:
        r = self.post(f"{kind}/create", fields)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])


def _insert_execution(db_url: str, account_id_of_task: str, task_id: str) -> str:
    """A finished execution row for ``task_id``, written straight to the database (trigger may not exist)."""

    async def run() -> str:
        s = await open_store(db_url, run_migrations=False)
        try:
            now = now_ms()
            exec_id = ids.new_id(now)
            row = {
                "id": exec_id,
                "account_id": account_id_of_task,
                "task_id": task_id,
                "name": MARK_A,
                "description": "",
                "meta": None,
                "conversation_id": None,
                "status": "idle",
                "outcome": "success",
                "state": "done",
                "kind": "trigger",
                "summary": MARK_A,
                "completed_at": now,
                "created_at": now,
                "updated_at": now,
            }
            await s.insert(EXECUTION, row)
            return exec_id
        finally:
            await s.close()

    return asyncio.run(run())


def _execution_row(db_url: str, exec_id: str) -> dict[str, Any] | None:
    async def run() -> dict[str, Any] | None:
        s = await open_store(db_url, run_migrations=False)
        try:
            async with s.db.tx() as tx:
                return await tx.fetchrow("SELECT * FROM task_executions WHERE id = $1", exec_id)
        finally:
            await s.close()

    return asyncio.run(run())


@pytest.fixture
def pair(server: Server) -> Iterator[tuple[Tenant, Tenant, Server]]:
    with server.client(server.account("alpha")) as ca, server.client(server.account("beta")) as cb:
        a, b = Tenant(ca), Tenant(cb)
        for t, label in ((a, MARK_A), (b, "beta")):
            t.bot = t.make("bot", name=label, meta={"team": "shared"})
            t.contact = t.make("contact", name=label, email=f"{label}@example.com", meta={"team": "shared"})
            t.task = t.make(
                "task",
                name=label,
                botId=t.bot,
                contactId=t.contact,
                schedule="daily",
                blueprintId="bp-shared",
                meta={"team": "shared", "flag": True},
            )
            t.tasks = [t.task]
            t.conversation = t.make(
                "conversation",
                name=label,
                botId=t.bot,
                contactId=t.contact,
                taskId=t.task,
                meta={"team": "shared"},
                messages=[{"type": "user", "text": label}],
            )
        # alpha has more rows than beta, so counts would show a leak
        a.tasks += [a.make("task", name=f"{MARK_A}-{i}", meta={"team": "shared"}) for i in range(3)]
        a.execution = _insert_execution(server.db_url, account_of_task(server.db_url, a.task), a.task)
        yield a, b, server


def snapshot(a: Tenant) -> dict[str, Any]:
    """Everything alpha can see, to prove beta's attempts changed nothing."""
    out: dict[str, Any] = {}
    for kind in ("task", "bot", "contact", "conversation"):
        out[kind] = a.get(f"{kind}/list", params={"take": 100}).json()["items"]
    out["messages"] = a.get(f"conversation/{a.conversation}/message/list").json()["items"]
    return out


def assert_only(r: httpx.Response, expected: set[str]) -> None:
    """A JSON/JSONL/CSV list response holds exactly ``expected`` ids and no trace of alpha."""
    assert r.status_code == 200, r.text
    ctype = r.headers["content-type"].split(";")[0]
    if ctype == "application/json":
        got = [i["id"] for i in r.json()["items"]]
    elif ctype == "application/jsonl":
        got = [json.loads(line)["data"]["id"] for line in r.text.splitlines()]
    else:
        assert ctype == "text/csv"
        got = [row["id"] for row in csv.DictReader(io.StringIO(r.text))]
    assert len(got) == len(set(got))
    assert set(got) == expected
    assert MARK_A not in r.text


FORMATS = ["*/*", "application/jsonl", "text/csv"]


def test_task_endpoints(pair: tuple[Tenant, Tenant, Server]) -> None:
    a, b, _ = pair
    before = snapshot(a)
    # fetch / update / delete another account's task
    assert_error(b.get(f"task/{a.task}/fetch"), 404, "Not found")
    assert_error(b.post(f"task/{a.task}/update", {"name": "pwned"}), 404, "Not found")
    assert_error(b.post(f"task/{a.task}/update", {}), 404, "Not found")
    assert_error(b.post(f"task/{a.task}/delete"), 404, "Not found")
    # create or update a task pointing at another account's bot/contact
    assert_error(b.post("task/create", {"botId": a.bot}), 404, "Bot not found")
    assert_error(b.post("task/create", {"contactId": a.contact}), 404, "Contact not found")
    assert_error(b.post(f"task/{b.task}/update", {"botId": a.bot}), 404, "Bot not found")
    assert_error(b.post(f"task/{b.task}/update", {"contactId": a.contact}), 404, "Contact not found")
    t = b.get(f"task/{b.task}/fetch").json()
    assert (t["botId"], t["contactId"]) == (b.bot, b.contact)
    # lists and exports in every format, with every filter, show only beta's tasks
    for accept in FORMATS:
        h = {"accept": accept}
        for path in ("task/list", "task/export"):
            assert_only(b.get(path, headers=h), {b.task})
            assert_only(b.get(path, headers=h, params={"order": "asc", "take": 100}), {b.task})
            assert_only(b.get(path, headers=h, params={"meta.team": "shared"}), {b.task})
            assert_only(b.get(path, headers=h, params={"meta[flag]": "true"}), {b.task})
            assert_only(b.get(path, headers=h, params={"blueprintId": "bp-shared"}), {b.task})
            assert_only(b.get(path, headers=h, params={"status": "idle"}), {b.task})
            assert_only(b.get(path, headers=h, params={"botId": a.bot}), set())
            assert_only(b.get(path, headers=h, params={"botId": f"{a.bot},{b.bot}"}), {b.task})
            assert_only(b.get(path, headers=h, params={"contactId": a.contact}), set())
            # alpha's ids as cursors reveal nothing either: the page is positioned, never widened
            r = b.get(path, headers=h, params={"cursor": a.tasks[-1], "order": "desc"})
            assert MARK_A not in r.text and r.status_code in (200, 400)
        assert_error(b.get(f"contact/{a.contact}/task/list", headers=h), 404)
        assert_only(b.get(f"contact/{b.contact}/task/list", headers=h), {b.task})
    assert snapshot(a) == before
    assert {i["id"] for i in before["task"]} == set(a.tasks)


@pytest.mark.parametrize("kind", ["bot", "contact", "conversation"])
def test_resource_endpoints(pair: tuple[Tenant, Tenant, Server], kind: str) -> None:
    a, b, _ = pair
    before = snapshot(a)
    theirs, mine = getattr(a, kind), getattr(b, kind)
    assert_error(b.get(f"{kind}/{theirs}/fetch"), 404, "Not found")
    assert_error(b.post(f"{kind}/{theirs}/update", {"name": "pwned"}), 404, "Not found")
    assert_error(b.post(f"{kind}/{theirs}/delete"), 404, "Not found")
    for accept in FORMATS:
        h = {"accept": accept}
        assert_only(b.get(f"{kind}/list", headers=h), {mine})
        assert_only(b.get(f"{kind}/list", headers=h, params={"meta.team": "shared", "take": 100}), {mine})
    if kind == "conversation":
        assert_error(b.get(f"conversation/{a.conversation}/message/list"), 404)
        r = b.get(f"conversation/{b.conversation}/message/list")
        assert r.status_code == 200 and [m["text"] for m in r.json()["items"]] == ["beta"]
        for ref, label in ((a.bot, "Bot"), (a.contact, "Contact"), (a.task, "Task")):
            field_ = {"Bot": "botId", "Contact": "contactId", "Task": "taskId"}[label]
            assert_error(b.post("conversation/create", {field_: ref}), 404, f"{label} not found")
            assert_error(b.post(f"conversation/{mine}/update", {field_: ref}), 404, f"{label} not found")
        assert_only(b.get("conversation/list", params={"taskId": a.task}), set())
        assert_only(b.get("conversation/list", params={"botId": a.bot}), set())
        assert_only(b.get("conversation/list", params={"contactId": a.contact}), set())
    assert snapshot(a) == before
    # deleting beta's own bot/contact must not touch alpha's tasks
    assert b.post(f"{kind}/{mine}/delete").status_code == 200
    assert snapshot(a) == before


def test_alpha_still_sees_everything(pair: tuple[Tenant, Tenant, Server]) -> None:
    """The positive control: the same requests with the owner's secret succeed."""
    a, _, _ = pair
    assert a.get(f"task/{a.task}/fetch").status_code == 200
    assert {i["id"] for i in a.get("task/list").json()["items"]} == set(a.tasks)
    assert a.get(f"contact/{a.contact}/task/list").json()["items"][0]["id"] == a.task
    assert a.get(f"conversation/{a.conversation}/message/list").json()["items"][0]["text"] == MARK_A


# -- run endpoints (src/agentcron/api/runs.py) ---------------------------------------------------------


def test_run_trigger_and_cancel_isolated(pair: tuple[Tenant, Tenant, Server]) -> None:
    a, b, server = pair
    task_before = a.get(f"task/{a.task}/fetch").json()
    exec_before = _execution_row(server.db_url, a.execution)
    assert_error(b.post(f"task/{a.task}/trigger"), 404)
    assert_error(b.post(f"task/{a.task}/cancel"), 404)
    assert a.get(f"task/{a.task}/fetch").json() == task_before
    assert _execution_row(server.db_url, a.execution) == exec_before


def test_run_execution_list_isolated(pair: tuple[Tenant, Tenant, Server]) -> None:
    a, b, _ = pair
    for accept in FORMATS:
        assert_error(b.get(f"task/{a.task}/execution/list", headers={"accept": accept}), 404)
        r = b.get(f"task/{b.task}/execution/list", headers={"accept": accept})
        assert_only(r, set())
    # the owner sees the execution (positive control)
    r = a.get(f"task/{a.task}/execution/list")
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()["items"]] == [a.execution]


def test_run_execution_cancel_isolated(pair: tuple[Tenant, Tenant, Server]) -> None:
    a, b, server = pair
    exec_before = _execution_row(server.db_url, a.execution)
    assert exec_before is not None
    assert_error(b.post(f"task/{a.task}/execution/{a.execution}/cancel"), 404)
    # beta's own task id with alpha's execution id
    assert_error(b.post(f"task/{b.task}/execution/{a.execution}/cancel"), 404)
    # alpha's execution under another of alpha's tasks: wrong parent
    assert_error(a.post(f"task/{a.tasks[1]}/execution/{a.execution}/cancel"), 404)
    assert _execution_row(server.db_url, a.execution) == exec_before
    # positive control: the owner may call it (a finished execution is a no-op)
    r = a.post(f"task/{a.task}/execution/{a.execution}/cancel")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": a.execution, "taskId": a.task}


def test_run_subscribe_isolated(pair: tuple[Tenant, Tenant, Server]) -> None:
    """The Tasks manual: another user's task gives 401; a task that does not exist gives 404."""
    a, b, _ = pair
    headers = {"accept": "application/jsonl"}
    timeout = httpx.Timeout(5.0)
    with b.client.stream("POST", f"{API}/task/{a.task}/subscribe", json={}, headers=headers, timeout=timeout) as r:
        r.read()
        assert_error(r, 401)
    with b.client.stream(
        "POST", f"{API}/task/{'c' + '0' * 24}/subscribe", json={}, headers=headers, timeout=timeout
    ) as r:
        r.read()
        assert_error(r, 404)
