"""Retries end to end over real HTTP, on both backends: a bot whose HTTP tool calls a local server that fails
twice and then succeeds, with ``retryPolicy.maxAttempts: 3``, ends with three executions (attempts 1, 2, 3;
the last a success), each retry told which attempt it is and how the one before failed."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import PG_URL, Server, _admin, _swap_db, start_server, stop_server, wait_until
from tests.http_helpers import API, executions, new_task

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


def test_a_tool_that_fails_twice_succeeds_on_the_third_attempt(loopback_server: Server) -> None:
    with Flaky(failures=2) as flaky, loopback_server.client(loopback_server.account()) as c:
        ability = {"type": "http", "name": "ping", "config": {"url": flaky.url, "method": "GET"}}
        bot = c.post(f"{API}/bot/create", json={"name": "b", "model": "test", "abilities": [ability]}).json()["id"]
        policy = {"maxAttempts": 3, "initialDelayMs": 1000, "maxDelayMs": 1000}
        task_id = new_task(c, botId=bot, schedule="never", retryPolicy=policy, pauseAfterFailures=1)
        assert c.post(f"{API}/task/{task_id}/trigger", json={}).status_code == 200

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
