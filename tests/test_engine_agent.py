"""The agent runner with the offline ``test`` model: abilities as tools, events, limits, outcomes and
interruption."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from agentcron.config import Settings
from agentcron.domain import Allowance, Outcome, RunInterrupted
from agentcron.engine.agent import AgentRunner, max_calls, max_iterations
from tests.engine_helpers import LOCAL, Events, job, no_bot_job, run
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.anyio


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
    result, events = await run(job([], model=""))
    assert (result.outcome, result.summary) == ("success", "Completed task 'Digest'")
    assert events.named("operationBegin") == ["model:test"]


async def test_duplicate_ability_names_get_suffixes() -> None:
    result, events = await run(job([{"type": "time"}, {"type": "time"}, {"type": "time", "name": "time_2"}]))
    assert result.outcome == "success"
    assert [n for n in events.named("operationBegin") if n != "model:test"] == ["time", "time_3", "time_2"]


# -- limits and outcomes ---------------------------------------------------------------------------------------


def test_max_iterations_contract_defaults() -> None:
    assert [max_iterations(v) for v in (None, 0, 9, 10, 5000)] == [1000, 1000, 1000, 10, 5000]


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


def test_max_calls_contract_defaults() -> None:
    # contract: 0 to 100,000, default 10,000; 0 reads as null (as for maxIterations)
    assert [max_calls(v) for v in (None, 0, 1, 3, 100_000)] == [10_000, 10_000, 1, 3, 100_000]


THREE_TOOLS = [{"type": "time", "name": f"t{i}"} for i in range(3)]


@pytest.mark.parametrize("limit", [None, 0, 3])
async def test_max_calls_null_zero_or_enough_let_the_run_finish(limit: int | None) -> None:
    result, events = await run(job(THREE_TOOLS, max_calls=limit))
    assert result.outcome == "success", result.summary
    assert events.named("operationBegin").count("model:test") == 4


async def test_max_calls_reached_fails_the_run_keeping_conversation_and_tokens() -> None:
    result, events = await run(job(THREE_TOOLS, max_calls=2))
    assert result.outcome == "failure"
    assert result.summary == "Run ended: maxCalls (2 tool calls) reached before the agent finished."
    assert events[-1] == ("error", {"code": "MAX_CALLS", "message": result.summary})
    # two calls made, the third refused before it ran
    assert [n for n in events.named("operationBegin") if n != "model:test"] == ["t0", "t1"]
    assert result.model_requests == 3 and result.input_tokens > 0 and result.output_tokens > 0
    assert ("activity", 'called t2 {"timezone": "UTC"}') in result.messages and result.messages[0][0] == "user"
    assert sum(1 for k, t in result.messages if k == "activity" and " returned" in t) == 2


def _allow(used: int, limit: int, scope: str = "task", period: str = "day") -> Allowance:
    return Allowance(scope, limit, period, used, 0)


async def test_a_token_budget_stops_the_run_at_its_next_model_request() -> None:
    _, events0 = await run(job(THREE_TOOLS))
    ends = [d for t, d in events0 if t == "operationEnd" and d["action"]["name"] == "model:test"]
    first = ends[0]["result"]["inputTokens"] + ends[0]["result"]["outputTokens"]  # the first request's tokens
    assert first > 0
    # 100 used before the run, limit 100 + first: the second model request is not made
    j = replace(job(THREE_TOOLS), allowances=(_allow(100, 100 + first),))
    result, events = await run(j)
    assert result.outcome == "failure"
    assert result.summary == f"Token budget reached: {100 + first} of {100 + first} tokens this day"
    assert events[-1] == ("error", {"code": "TOKEN_BUDGET", "message": result.summary})
    assert events.named("operationBegin") == ["model:test", "t0"]
    assert result.model_requests == 1 and result.input_tokens + result.output_tokens == first
    assert result.messages[0][0] == "user" and ("activity", 'called t0 {"timezone": "UTC"}') in result.messages


async def test_a_budget_used_up_before_the_run_stops_it_before_any_request() -> None:
    j = replace(job(THREE_TOOLS), allowances=(_allow(10, 500, period="week"), _allow(700, 700, "account")))
    result, events = await run(j)
    assert result.outcome == "failure"
    assert result.summary == "Account token budget reached: 700 of 700 tokens this day (UTC)"
    assert events.named("operationBegin") == [] and result.model_requests == 0
    # within both budgets the run is unaffected
    ok, _ = await run(replace(job(THREE_TOOLS), allowances=(_allow(0, 10**9, period="month"),)))
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
    result, events = await run(no_bot_job())
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
    assert "config.command: a bot cannot choose the program an MCP server runs" in result.summary


# -- interruption -----------------------------------------------------------------------------------------------


async def test_cancel_inside_wait_stops_within_a_second_with_what_the_run_did() -> None:
    """A cancel (or the worker's time limit) inside a tool stops the run at once; the runner raises
    RunInterrupted from it, carrying the conversation so far and the tokens used."""
    events = Events()
    runner = AgentRunner(LOCAL)
    interrupted: list[RunInterrupted] = []

    async def body() -> None:  # as the worker awaits a run
        try:
            await runner.run(job([{"type": "wait", "config": {"seconds": 60}}]), events)
        except RunInterrupted as e:
            interrupted.append(e)
            raise

    task = asyncio.create_task(body())
    deadline = time.monotonic() + 5
    while "wait" not in events.named("operationBegin"):
        assert time.monotonic() < deadline, events
        await asyncio.sleep(0.01)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0
    assert task.cancelled()
    (e,) = interrupted
    assert isinstance(e.__cause__, asyncio.CancelledError)
    partial = e.partial
    assert (partial.outcome, partial.summary) == (Outcome.FAILURE, "")
    assert partial.messages == [("user", "Digest\n\nSummarise the day."), ("activity", 'called wait {"seconds": 60.0}')]
    assert partial.model_requests == 1 and partial.input_tokens > 0 and partial.output_tokens > 0
