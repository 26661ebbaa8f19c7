"""Retries end to end over real HTTP, on both backends: a bot whose HTTP tool calls a local server that fails
twice and then succeeds, with ``retryPolicy.maxAttempts: 3``, ends with three executions (attempts 1, 2, 3;
the last a success), each retry told which attempt it is and how the one before failed, and one
``execution.succeeded`` webhook delivery (no ``execution.failed``: the slot succeeded in the end). A slot
that fails every attempt is reported once (``execution.failed``), and pauses its task (``task.paused``)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import PG_URL, Server, _admin, _swap_db, start_server, stop_server, wait_until
from tests.http_helpers import API, executions, new_task
from tests.webhook_receiver import Receiver, receiver

#: the service may call loopback addresses (the flaky server below)
LOOPBACK = {"AGENTCRON_HTTP_ALLOW": "127.0.0.1"}


class Flaky:
    """A local HTTP server answering 500 to its first ``failures`` requests, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.hits = 0
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                flaky.hits += 1
                ok = flaky.hits > flaky.failures
                body = b"all good" if ok else b"upstream is down"
                self.send_response(200 if ok else 500)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/flaky"

    def __enter__(self) -> Flaky:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def loopback_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if request.param == "sqlite":
        db = tmp_path_factory.mktemp("retries") / "agentcron.db"
        server = start_server(f"sqlite:///{db}", env=LOOPBACK)
        yield server
        stop_server(server)
        return
    template = request.getfixturevalue("pg_template")
    name = f"agentcron_retries_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    server = start_server(_swap_db(PG_URL, name), env=LOOPBACK)
    yield server
    stop_server(server)
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


EVENTS = ["execution.succeeded", "execution.failed", "execution.canceled", "task.paused"]


def flaky_task(c: httpx.Client, flaky: Flaky, rx: Receiver, attempts: int) -> str:
    """A task whose bot's one tool calls ``flaky``, retried up to ``attempts`` times, pausing after one failed
    slot, with a webhook of its events to ``rx``; triggered."""
    ability = {"type": "http", "name": "ping", "config": {"url": flaky.url, "method": "GET"}}
    bot = c.post(f"{API}/bot/create", json={"name": "b", "model": "test", "abilities": [ability]}).json()["id"]
    policy = {"maxAttempts": attempts, "initialDelayMs": 1000, "maxDelayMs": 1000}
    task_id = new_task(c, botId=bot, schedule="never", retryPolicy=policy, pauseAfterFailures=1)
    hook = c.post(f"{API}/webhook/create", json={"url": rx.url, "events": EVENTS, "taskId": task_id})
    assert hook.status_code == 200, hook.text
    assert c.post(f"{API}/task/{task_id}/trigger", json={}).status_code == 200
    return task_id


def deliveries(rx: Receiver) -> list[dict[str, Any]]:
    with rx.lock:
        return [json.loads(r.body) for r in rx.requests]


def test_a_tool_that_fails_twice_succeeds_on_the_third_attempt(loopback_server: Server) -> None:
    with (
        Flaky(failures=2) as flaky,
        receiver() as rx,
        loopback_server.client(loopback_server.account()) as c,
    ):
        task_id = flaky_task(c, flaky, rx, 3)

        def settled() -> list[dict[str, Any]] | None:
            runs = executions(c, task_id)
            return runs if any(e["outcome"] == "success" for e in runs) else None

        runs = sorted(wait_until(settled, timeout=30), key=lambda e: e["attempt"])
        assert flaky.hits == 3
        first = runs[0]["id"]
        assert [(e["attempt"], e["trigger"], e["retryOf"], e["outcome"]) for e in runs] == [
            (1, "trigger", None, "failure"),
            (2, "retry", first, "failure"),
            (3, "retry", first, "success"),
        ]
        assert "HTTP 500" in runs[0]["summary"] and "HTTP 500" in runs[1]["summary"]
        t = c.get(f"{API}/task/{task_id}/fetch").json()
        # the slot succeeded in the end: not a failed slot, no pause (pauseAfterFailures 1)
        assert (t["outcome"], t["consecutiveFailures"], t["pausedAt"]) == ("success", 0, None)
        messages = c.get(
            f"{API}/conversation/{runs[2]['conversationId']}/message/list", params={"order": "asc"}
        ).json()["items"]
        instruction = messages[0]["text"]
        assert "This is attempt 3 of 3: the previous attempt failed:" in instruction and "HTTP 500" in instruction
        (delivery,) = wait_until(lambda: deliveries(rx))
        assert delivery["type"] == "execution.succeeded"
        assert (delivery["data"]["execution"]["id"], delivery["data"]["execution"]["attempt"]) == (runs[2]["id"], 3)
        time.sleep(0.5)  # (a failure notice, had one been written, is delivered within this)
        assert [d["type"] for d in deliveries(rx)] == ["execution.succeeded"]


def test_a_slot_failing_every_attempt_is_reported_once_and_pauses_its_task(loopback_server: Server) -> None:
    with (
        Flaky(failures=100) as flaky,
        receiver() as rx,
        loopback_server.client(loopback_server.account()) as c,
    ):
        task_id = flaky_task(c, flaky, rx, 2)
        kinds = wait_until(lambda: sorted(d["type"] for d in deliveries(rx)) if len(deliveries(rx)) >= 2 else None)
        assert kinds == ["execution.failed", "task.paused"]
        runs = sorted(executions(c, task_id), key=lambda e: e["attempt"])
        assert [(e["attempt"], e["outcome"]) for e in runs] == [(1, "failure"), (2, "failure")]
        by_type = {d["type"]: d for d in deliveries(rx)}
        assert by_type["execution.failed"]["data"]["execution"]["id"] == runs[1]["id"]  # the last attempt
        assert by_type["task.paused"]["data"]["reason"] == "Paused after 1 consecutive failures"
        t = c.get(f"{API}/task/{task_id}/fetch").json()
        assert (t["consecutiveFailures"], t["pauseReason"]) == (1, "Paused after 1 consecutive failures")
        assert flaky.hits == 2
