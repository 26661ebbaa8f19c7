"""Webhooks over real HTTP on both backends (agentcron.api.webhooks): create answers the secret once,
list/fetch/update/delete, delivery lists, validation errors, outbound-address checks and tenancy; and a
receiver that fails twice gets the third delivery, signed, from a running server."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import Server, start_server, stop_server, wait_until
from tests.webhook_receiver import receiver

API = "/api/v1"
#: a public address literal: accepted without a DNS lookup (nothing is sent in these tests)
PUBLIC = "https://93.184.216.34/hooks/agentcron"


def _create(c: httpx.Client, **body: Any) -> dict[str, Any]:
    r = c.post(f"{API}/webhook/create", json={"url": PUBLIC, "events": ["task.paused"], **body})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"message", "code"}
    return str(body["message"])


def test_create_fetch_list_update_delete(c: httpx.Client) -> None:
    task_id = c.post(f"{API}/task/create", json={"name": "t"}).json()["id"]
    made = _create(c, events=["execution.failed", "task.paused"], taskId=task_id, description="on-call")
    assert set(made) == {"id", "secret"} and made["secret"].startswith("whsec_")
    Webhook(made["secret"])  # a secret the library takes
    got = c.get(f"{API}/webhook/{made['id']}/fetch").json()
    assert "secret" not in got and made["secret"] not in str(got)
    assert (got["url"], got["events"], got["taskId"], got["description"]) == (
        PUBLIC,
        ["execution.failed", "task.paused"],
        task_id,
        "on-call",
    )
    assert set(got) == {"id", "url", "events", "taskId", "description", "createdAt", "updatedAt"}
    r = c.post(f"{API}/webhook/{made['id']}/update", json={"taskId": None, "events": ["task.resumed"]})
    assert r.json() == {"id": made["id"]}
    got = c.get(f"{API}/webhook/{made['id']}/fetch").json()
    assert (got["taskId"], got["events"], got["description"]) == (None, ["task.resumed"], "on-call")
    others = [_create(c)["id"] for _ in range(2)]
    page = c.get(f"{API}/webhook/list", params={"take": 2}).json()
    assert [w["id"] for w in page["items"]] == others[::-1] and page["cursor"] == others[0]
    rest = c.get(f"{API}/webhook/list", params={"cursor": page["cursor"]}).json()
    assert [w["id"] for w in rest["items"]] == [made["id"]]
    assert all("secret" not in w for w in page["items"] + rest["items"])
    assert c.get(f"{API}/webhook/{made['id']}/delivery/list").json() == {"items": [], "cursor": ""}
    assert c.post(f"{API}/webhook/{made['id']}/delete", json={}).json() == {"id": made["id"]}
    _error(c.get(f"{API}/webhook/{made['id']}/fetch"), 404)
    _error(c.post(f"{API}/webhook/{made['id']}/delete", json={}), 404)


def test_bad_bodies_are_400_with_a_message_naming_the_problem(c: httpx.Client) -> None:
    assert "events" in _error(c.post(f"{API}/webhook/create", json={"url": PUBLIC}), 400)
    assert "url" in _error(c.post(f"{API}/webhook/create", json={"events": ["task.paused"]}), 400)
    msg = _error(c.post(f"{API}/webhook/create", json={"url": PUBLIC, "events": ["task.exploded"]}), 400)
    assert msg.startswith("Invalid events: unknown event type 'task.exploded'")
    _error(c.post(f"{API}/webhook/create", json={"url": PUBLIC, "events": []}), 400)
    _error(c.post(f"{API}/webhook/create", json={"url": PUBLIC, "events": ["task.paused"], "secret": "x"}), 400)
    msg = _error(c.post(f"{API}/webhook/create", json={"url": "ftp://example.com/x", "events": ["task.paused"]}), 400)
    assert msg == "Invalid url: only http and https URLs are allowed, not 'ftp'"
    for private in ("http://127.0.0.1:9/x", "http://10.1.2.3/", "http://[::1]/x", "http://169.254.169.254/latest"):
        msg = _error(c.post(f"{API}/webhook/create", json={"url": private, "events": ["task.paused"]}), 400)
        assert msg.startswith("Invalid url: ") and "AGENTCRON_HTTP_ALLOW" in msg, msg
    made = _create(c)
    r = c.post(f"{API}/webhook/{made['id']}/update", json={"url": "http://192.168.1.1/"})
    assert "AGENTCRON_HTTP_ALLOW" in _error(r, 400)
    assert c.get(f"{API}/webhook/{made['id']}/fetch").json()["url"] == PUBLIC  # unchanged
    _error(c.post(f"{API}/webhook/create", json={"url": PUBLIC, "events": ["task.paused"], "taskId": "nope"}), 404)
    _error(c.post(f"{API}/webhook/nope/update", json={"description": "x"}), 404)
    _error(c.get(f"{API}/webhook/nope/delivery/list"), 404)


def test_another_accounts_webhooks_and_tasks_answer_404(server: Server, c: httpx.Client) -> None:
    mine = _create(c)["id"]
    with server.client(server.account("other")) as other:
        foreign_task = other.post(f"{API}/task/create", json={"name": "theirs"}).json()["id"]
        _error(other.get(f"{API}/webhook/{mine}/fetch"), 404)
        _error(other.post(f"{API}/webhook/{mine}/update", json={"description": "x"}), 404)
        _error(other.post(f"{API}/webhook/{mine}/delete", json={}), 404)
        _error(other.get(f"{API}/webhook/{mine}/delivery/list"), 404)
        assert other.get(f"{API}/webhook/list").json()["items"] == []
    _error(
        c.post(f"{API}/webhook/create", json={"url": PUBLIC, "events": ["task.paused"], "taskId": foreign_task}), 404
    )
    _error(c.post(f"{API}/webhook/{mine}/update", json={"taskId": foreign_task}), 404)
    assert c.get(f"{API}/webhook/{mine}/fetch").status_code == 200


@pytest.fixture(params=["sqlite", "postgres"])
def local_server(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """A server that may send to loopback, retrying after 300 ms instead of 5 s."""
    db = f"sqlite:///{tmp_path}/w.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    server = start_server(db, env={"AGENTCRON_HTTP_ALLOW": "127.0.0.1", "AGENTCRON_WEBHOOK_RETRY_MS": "300"})
    yield server
    stop_server(server)


def test_a_receiver_answering_500_twice_gets_the_third_delivery_signed(local_server: Server) -> None:
    with receiver([500, 500, 200]) as rx, local_server.client(local_server.account()) as c:
        made = _create(c, url=rx.url, events=["task.paused", "task.resumed"])
        task_id = c.post(f"{API}/task/create", json={"name": "nightly", "schedule": "daily"}).json()["id"]
        assert c.post(f"{API}/task/{task_id}/pause", json={"reason": "holidays"}).status_code == 200
        wait_until(lambda: len(rx.requests) >= 3, timeout=20)
        time.sleep(0.3)  # (a fourth request would come 1.2 s later: none may)
        deliveries = wait_until(
            lambda: [
                d
                for d in c.get(f"{API}/webhook/{made['id']}/delivery/list").json()["items"]
                if d["status"] == "delivered"
            ]
        )
        task = c.get(f"{API}/task/{task_id}/fetch").json()
    assert len(rx.requests) == 3
    body = Webhook(made["secret"]).verify(rx.requests[-1].body, rx.requests[-1].headers)
    assert body["type"] == "task.paused" and body["data"]["reason"] == "holidays"
    assert body["data"]["task"] == task and body["data"]["execution"] is None
    (d,) = deliveries
    assert (d["eventType"], d["attempts"], d["statusCode"], d["lastError"], d["nextAttemptAt"]) == (
        "task.paused",
        3,
        200,
        None,
        None,
    )
    assert d["webhookId"] == made["id"] and d["deliveredAt"] is not None


@pytest.mark.slow
def test_a_sigkill_with_deliveries_pending_loses_none_of_them(db_url: str) -> None:
    import signal

    from tests.conftest import free_port

    port = free_port()  # nothing listens there yet: every attempt fails and is retried
    env = {
        "AGENTCRON_HTTP_ALLOW": "127.0.0.1",
        "AGENTCRON_WEBHOOK_RETRY_MS": "200",
        "AGENTCRON_WEBHOOK_RETRY_MAX_MS": "500",
        "AGENTCRON_WEBHOOK_TIMEOUT_MS": "500",  # (a lease of 6 s)
    }
    first = start_server(db_url, env=env)
    try:
        with first.client(first.account()) as c:
            made = _create(c, url=f"http://127.0.0.1:{port}/hook")
            tasks = [
                c.post(f"{API}/task/create", json={"name": f"t{i}", "schedule": "daily"}).json()["id"]
                for i in range(20)
            ]
            for task_id in tasks:
                assert c.post(f"{API}/task/{task_id}/pause", json={"reason": "x"}).status_code == 200

            def tried() -> bool:
                items = c.get(f"{API}/webhook/{made['id']}/delivery/list").json()["items"]
                return len(items) == 20 and all(d["attempts"] >= 1 for d in items)

            wait_until(tried, timeout=30)
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
    with receiver([204], port=port) as rx:
        second = start_server(db_url, env=env)
        try:
            wait_until(lambda: len({r.headers["webhook-id"] for r in rx.requests}) >= 20, timeout=60)
            with second.client(second.account("other")) as other:
                assert other.get(f"{API}/webhook/list").json()["items"] == []  # (tenancy still holds)
        finally:
            stop_server(second)
    hook = Webhook(made["secret"])
    paused = {hook.verify(r.body, r.headers)["data"]["task"]["id"] for r in rx.requests}
    assert paused == set(tasks)
