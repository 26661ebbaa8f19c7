"""Agent runtime with the offline ``test`` model: abilities as tools, events, limits, outcomes, cancellation,
the outbound address guard, and the worker path on a real SQLite store."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.engine import net
from agentcron.engine.abilities import html_to_text
from agentcron.engine.agent import AgentRunner, max_iterations
from agentcron.engine.models import ModelConfigError, parse_model, sample_from_schema
from agentcron.engine.runner import RunResult
from agentcron.scheduler import Scheduler
from agentcron.store.base import open_store
from agentcron.store.runs import Claimed, RunStore
from agentcron.worker import Worker
from tests.dns import fake_dns
from tests.fake_openai import FakeOpenAI
from tests.runs_helpers import conversation_messages, execution_usage, executions, make_bot, make_task, ms

pytestmark = pytest.mark.anyio

LOCAL = Settings(http_allow=("127.0.0.1",))


class Events(list[tuple[str, dict[str, Any]]]):
    async def __call__(self, type_: str, data: dict[str, Any]) -> None:
        self.append((type_, data))

    def named(self, kind: str) -> list[str]:
        return [d["action"]["name"] for t, d in self if t == kind]


def job(abilities: list[dict[str, Any]] | None = None, model: str | None = "test", **task: Any) -> Claimed:
    bot = {
        "id": "bot1",
        "model": model,
        "backstory": "You are a careful assistant.",
        "abilities": json.dumps(abilities or []),
    }
    row = {"id": "task1", "name": "Digest", "description": "Summarise the day.", **task}
    return Claimed("exec1", 1, "acc1", row, bot, "conv1")


async def run(j: Claimed, settings: Settings = LOCAL) -> tuple[RunResult, Events]:
    events = Events()
    result = await AgentRunner(settings).run(j, events)
    return result, events


# -- the test model and every built-in ability ----------------------------------------------------------------


async def test_test_model_calls_each_ability_once_and_summarises() -> None:
    pages = {
        "/page": (
            "text/html; charset=utf-8",
            "<html><head><title>News</title><style>x{}</style></head>"
            "<body><h1>Top story</h1><script>evil()</script><p>Rain &amp; sun</p></body></html>",
        )
    }
    async with FakeOpenAI(pages=pages) as site:
        abilities = [
            {"type": "time", "config": {"timezone": "Europe/Berlin"}},
            {"type": "wait", "config": {"seconds": 0.05}},
            {"type": "fetch", "name": "news", "config": {"url": f"{site.url}/page"}},
            {"type": "http", "name": "notify", "config": {"url": f"{site.url}/hook", "method": "POST"}},
        ]
        result, events = await run(job(abilities))
    assert result.outcome == "success", result.summary
    assert result.summary.startswith("Completed task 'Digest' (time: ")
    assert "Europe/Berlin" in result.summary and "wait: waited 0.05 s" in result.summary
    assert "Top story" in result.summary and "notify: HTTP 200" in result.summary
    assert result.model_requests == 5 and result.input_tokens > 0 and result.output_tokens > 0
    # each ability called exactly once, in order, each between model requests
    assert events.named("operationBegin") == [
        "model:test",
        "time",
        "model:test",
        "wait",
        "model:test",
        "news",
        "model:test",
        "notify",
        "model:test",
    ]
    begins = [d for t, d in events if t == "operationBegin"]
    ends = [d for t, d in events if t == "operationEnd"]
    assert [d["id"] for d in begins] == [d["id"] for d in ends] == [f"exec1-{i}" for i in range(1, 10)]
    assert all(d["action"]["kind"] == "function" for d in begins)
    assert begins[1]["action"]["input"] == {"timezone": "Europe/Berlin"}
    fetched = ends[5]["result"]
    assert "News" in fetched and "Rain & sun" in fetched and "evil" not in fetched and "x{}" not in fetched
    assert ends[0]["result"]["toolCalls"] == ["time"]
    assert not any(t == "error" for t, _ in events)
    (hook,) = site.hooks
    assert hook.method == "POST" and hook.body == {"text": "hello from agentcron"}
    kinds = [k for k, _ in result.messages]
    assert kinds[0] == "user" and result.messages[0][1] == "Digest\n\nSummarise the day."
    assert kinds[-1] == "bot" and result.messages[-1][1] == result.summary
    assert kinds.count("activity") == 8  # 4 calls + 4 results
    assert ("activity", 'called wait {"seconds": 0.05}') in result.messages


async def test_no_abilities_and_no_model_uses_the_default_test_model() -> None:
    result, events = await run(job([], model=None))
    assert (result.outcome, result.summary) == ("success", "Completed task 'Digest'")
    assert events.named("operationBegin") == ["model:test"]


async def test_duplicate_ability_names_get_suffixes() -> None:
    result, events = await run(job([{"type": "time"}, {"type": "time"}, {"type": "time", "name": "time_2"}]))
    assert result.outcome == "success"
    assert [n for n in events.named("operationBegin") if n != "model:test"] == ["time", "time_3", "time_2"]


# -- limits and outcomes ---------------------------------------------------------------------------------------


def test_max_iterations_contract_defaults() -> None:
    assert [max_iterations({"max_iterations": v}) for v in (None, 0, 9, 10, 5000)] == [1000, 1000, 1000, 10, 5000]


async def test_max_iterations_reached_fails_the_run_saying_so() -> None:
    # ten tools, one per request, then the answer: 11 requests needed, 10 allowed
    result, events = await run(job([{"type": "time", "name": f"t{i}"} for i in range(10)], max_iterations=10))
    assert result.outcome == "failure"
    assert "maxIterations (10 model requests) reached" in result.summary
    assert result.model_requests == 10
    assert events[-1] == ("error", {"code": "MAX_ITERATIONS", "message": result.summary})
    # the same bot within its limit succeeds
    ok, _ = await run(job([{"type": "time", "name": f"t{i}"} for i in range(10)], max_iterations=11))
    assert ok.outcome == "success"


async def test_a_tool_error_fails_the_run_and_the_model_sees_it() -> None:
    result, events = await run(job([{"type": "fetch", "config": {"url": "http://127.0.0.1:9/nothing"}}]), Settings())
    assert result.outcome == "failure"
    assert "tool errors: fetch: refused: 127.0.0.1 resolves to 127.0.0.1" in result.summary
    (end,) = [d for t, d in events if t == "operationEnd" and d["action"]["name"] == "fetch"]
    assert "AGENTCRON_HTTP_ALLOW" in end["error"]
    assert ("activity", "fetch returned (failed): " + end["error"]) in result.messages
    assert events[-1][0] == "error" and events[-1][1]["code"] == "TOOL_ERROR"


async def test_unknown_provider_missing_bot_and_missing_extra_fail_clearly() -> None:
    result, events = await run(job([], model="mistral:large"))
    assert result.outcome == "failure" and "unknown model provider 'mistral'" in result.summary
    assert events == [("error", {"code": "MODEL_CONFIG", "message": result.summary})]
    result, _ = await run(job([], model="llama3"))
    assert "write it as provider:model" in result.summary
    no_bot = Claimed("e", 1, "a", {"id": "t", "name": "x"}, None, "c")
    result, events = await run(no_bot)
    assert (result.outcome, events[0][1]["code"]) == ("failure", "NO_BOT")
    import importlib.util

    if importlib.util.find_spec("anthropic") is None:
        result, _ = await run(job([], model="anthropic:claude-sonnet-4-5"))
        assert result.outcome == "failure" and "pip install 'agentcron[anthropic]'" in result.summary


async def test_bad_ability_config_fails_before_any_model_request() -> None:
    result, events = await run(job([{"type": "time", "config": {"timezone": "Mars/Olympus"}}]))
    assert result.outcome == "failure" and "unknown timezone 'Mars/Olympus'" in result.summary
    assert [t for t, _ in events] == ["error"]
    result, _ = await run(job([{"type": "mcp", "config": {"command": ["/bin/sh", "-c", "true"]}}]))
    assert "AGENTCRON_MCP_STDIO_ALLOW" in result.summary


def test_parse_model() -> None:
    assert parse_model("openai:gpt-4o-mini").label == "openai:gpt-4o-mini"
    assert parse_model("gpt-4o-mini/temperature=0.5/maxTokens=500").params == {"temperature": 0.5, "max_tokens": 500}
    assert parse_model("claude-sonnet-4-5").provider == "anthropic"
    assert parse_model("openai:hf.co/org/model:Q4").name == "hf.co/org/model:Q4"
    assert parse_model(" test ").label == "test"
    for bad in ("", "openai:", "foo:bar", "llama3"):
        with pytest.raises(ModelConfigError):
            parse_model(bad)


def test_sample_from_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"enum": ["x", "y"]}, "c": {"type": "string"}},
        "required": ["a", "b"],
    }
    assert sample_from_schema(schema) == {"a": 1, "b": "x"}


def test_html_to_text() -> None:
    assert html_to_text("<p>a</p><p>b&nbsp;c</p><noscript>x</noscript>") == "a\nb\xa0c"


# -- cancellation ----------------------------------------------------------------------------------------------


async def test_cancel_inside_wait_stops_within_a_second() -> None:
    events = Events()
    runner = AgentRunner(LOCAL)
    task = asyncio.create_task(runner.run(job([{"type": "wait", "config": {"seconds": 60}}]), events))
    deadline = time.monotonic() + 5
    while "wait" not in events.named("operationBegin"):
        assert time.monotonic() < deadline, events
        await asyncio.sleep(0.01)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0


async def test_worker_cancel_and_time_limit_with_the_agent_runner(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        now = ms("2026-06-01T10:00:30Z")
        acc = await store.create_account("a", now)
        bot = await make_bot(store, acc, now, [{"type": "wait", "config": {"seconds": 60}}])
        tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot)
        clock = FakeClock(ms("2026-06-01T10:15:00Z"))
        runs = RunStore(store)
        await Scheduler(runs, Settings(), clock).run_until_idle(clock.now_ms())
        worker = Worker(runs, Settings(), clock, AgentRunner(Settings()), "w1")
        assert await worker.claim_once(clock.now_ms()) == 1
        (running,) = list(worker.running.values())
        await asyncio.sleep(0.3)  # inside the wait tool
        assert not running.task.done()
        async with store.db.tx(write=True) as tx:
            canceled = await runs.cancel(tx, tid, clock.now_ms())
        started = time.monotonic()
        worker.cancel_local(canceled)
        with pytest.raises(asyncio.CancelledError):
            await running.task
        assert time.monotonic() - started < 1.0
        (ex,) = await executions(store, acc, tid)
        assert (ex["status"], ex["outcome"]) == ("canceled", "failure")
        # what it did until the cancel is kept: its conversation so far and the tokens it used
        await worker.drain()
        said = await conversation_messages(store, ex["conversationId"])
        assert said[0][0] == "user" and any(t == "activity" and x.startswith("called wait") for t, x in said)
        input_tokens, output_tokens, requests = await execution_usage(store, ex["id"])
        assert input_tokens > 0 and output_tokens > 0 and requests == 1
        (ex,) = await executions(store, acc, tid)
        assert (ex["status"], ex["outcome"], ex["summary"]) == ("canceled", "failure", "Task execution canceled")

        # sessionDuration ends a run stuck in a tool, and the worker records it with the agent's conversation
        tid2 = await make_task(store, acc, now, "quarterhourly", bot_id=bot, session_duration=300)
        await Scheduler(runs, Settings(), clock).run_until_idle(clock.now_ms())
        await worker.claim_once(clock.now_ms())
        t0 = time.monotonic()
        await worker.drain()
        assert time.monotonic() - t0 < 2.0
        (ex2,) = await executions(store, acc, tid2)
        assert ex2["outcome"] == "failure" and "sessionDuration (300 ms)" in ex2["summary"]
        said = await conversation_messages(store, ex2["conversationId"])
        assert said[0][0] == "user" and any(t == "activity" and x.startswith("called wait") for t, x in said)
        input_tokens, output_tokens, requests = await execution_usage(store, ex2["id"])
        assert input_tokens > 0 and output_tokens > 0 and requests == 1  # the model call before the tool

        # a finishing run stores its outcome, summary and token counts
        quick = await make_bot(store, acc, now, [{"type": "time"}])
        tid3 = await make_task(store, acc, now, "quarterhourly", bot_id=quick, name="Quick")
        await Scheduler(runs, Settings(), clock).run_until_idle(clock.now_ms())
        await worker.claim_once(clock.now_ms())
        await worker.drain()
        (ex3,) = await executions(store, acc, tid3)
        assert ex3["outcome"] == "success" and ex3["summary"].startswith("Completed task 'Quick' (time: ")
    finally:
        await store.close()


# -- the outbound address guard ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
        "localhost",
    ],
)
async def test_private_addresses_are_refused(host: str) -> None:
    with pytest.raises(net.BlockedAddress):
        await net.resolve_checked(host, 80, net.AllowList.parse([]))


async def test_allow_list_hosts_and_cidrs() -> None:
    allow = net.AllowList.parse(["127.0.0.0/8", "intranet.example", " "])
    assert await net.resolve_checked("127.0.0.2", 80, allow) == ipaddress.ip_address("127.0.0.2")
    assert allow.allows("Intranet.Example.", ipaddress.ip_address("10.0.0.1"))
    assert allow.allows("x", ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not allow.allows("x", ipaddress.ip_address("10.0.0.1"))
    assert net.is_public(ipaddress.ip_address("93.184.216.34"))


async def test_redirects_to_private_addresses_are_refused() -> None:
    import httpx

    async with FakeOpenAI() as site:
        async with httpx.AsyncClient() as client:
            with pytest.raises(net.BlockedAddress, match="only http and https"):
                await net.send(client, "GET", "file:///etc/passwd", net.AllowList.parse([]), max_bytes=10)
            # allowed hop, then its 404 body, cut at max_bytes
            resp, body, cut = await net.send(
                client, "GET", f"{site.url}/missing", net.AllowList.parse(["127.0.0.1"]), max_bytes=3
            )
            assert (resp.status_code, body, cut) == (404, b"not", True)


async def test_a_request_tries_each_checked_address_of_its_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests go to the addresses checked for them (never resolved again), in the resolver's order:
    one that refuses the connection is followed by the next."""
    import httpx

    fake_dns(monkeypatch, "site.pinned.test", ["127.0.0.2", "127.0.0.1"])  # nothing listens on the first
    async with FakeOpenAI() as site:
        port = httpx.URL(site.url).port
        async with httpx.AsyncClient() as client:
            allow = net.AllowList.parse(["127.0.0.0/8"])
            resp, body, _ = await net.send(
                client, "GET", f"http://site.pinned.test:{port}/missing", allow, max_bytes=99
            )
    assert resp.status_code == 404 and body.startswith(b"not")
    assert resp.request.headers["Host"] == f"site.pinned.test:{port}"
