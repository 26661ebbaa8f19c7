"""The OpenAI path end to end: pydantic-ai's OpenAI model and the real ``openai`` client against a local
server speaking the chat completions protocol (tests/fake_openai.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from agentcron.config import Settings
from agentcron.engine.agent import AgentRunner
from tests.engine_helpers import Events, job
from tests.fake_openai import FakeOpenAI, error, text, tool_call

pytestmark = pytest.mark.anyio


def settings(fake: FakeOpenAI, **kw: Any) -> Settings:
    return replace(Settings(openai_base_url=fake.base_url, openai_api_key="sk-test", model_retry_ms=10), **kw)


async def test_tool_call_then_final_answer() -> None:
    script = [tool_call("clock", {"timezone": "Asia/Tokyo"}, "call_a"), text("It is morning in Tokyo. Done.")]
    async with FakeOpenAI(script) as fake:
        events = Events()
        j = job([{"type": "time", "name": "clock", "description": "What time is it"}], model="openai:gpt-4o-mini")
        result = await AgentRunner(settings(fake)).run(j, events)
    assert (result.outcome, result.summary) == ("success", "It is morning in Tokyo. Done.")
    assert (result.model_requests, result.input_tokens, result.output_tokens) == (2, 22, 14)
    first, second = fake.requests
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.body["model"] == "gpt-4o-mini"
    roles = [m["role"] for m in first.body["messages"]]
    assert roles[-1] == "user" and first.body["messages"][-1]["content"] == "Digest\n\nSummarise the day."
    system = " ".join(str(m["content"]) for m in first.body["messages"] if m["role"] in ("system", "developer"))
    assert "You are a careful assistant." in system and "report_failure" in system
    tools = {t["function"]["name"]: t["function"] for t in first.body["tools"]}
    assert set(tools) == {"clock", "report_failure"}
    assert tools["clock"]["description"] == "What time is it"
    tool_msg = second.body["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "call_a" and "Asia/Tokyo" in tool_msg["content"]
    assert events.named("operationBegin") == ["model:openai:gpt-4o-mini", "clock", "model:openai:gpt-4o-mini"]
    clock_begin = next(d for t, d in events if t == "operationBegin" and d["action"]["name"] == "clock")
    assert clock_begin["action"]["id"] == "call_a" and clock_begin["action"]["input"] == {"timezone": "Asia/Tokyo"}
    assert result.messages[1] == ("activity", 'called clock {"timezone": "Asia/Tokyo"}')
    assert result.messages[-1] == ("bot", "It is morning in Tokyo. Done.")


async def test_rate_limit_is_retried_then_succeeds() -> None:
    script = [error(429, "Rate limit reached", {"retry-after": "0"}), text("done")]
    async with FakeOpenAI(script) as fake:
        events = Events()
        result = await AgentRunner(settings(fake)).run(job([], model="openai:gpt-4o"), events)
    assert (result.outcome, result.summary) == ("success", "done")
    assert len(fake.requests) == 2 and result.model_requests == 1
    assert not any(t == "error" for t, _ in events)


async def test_server_errors_forever_fail_with_the_vendor_message() -> None:
    async with FakeOpenAI([error(500, "The server had an error while processing your request")]) as fake:
        events = Events()
        result = await AgentRunner(settings(fake, model_retries=2)).run(job([], model="openai:gpt-4o"), events)
    assert result.outcome == "failure"
    assert result.summary == (
        "Model openai:gpt-4o failed after 3 attempts: HTTP 500: The server had an error while processing your request"
    )
    assert len(fake.requests) == 3
    assert events[-1] == ("error", {"code": "MODEL_ERROR", "message": result.summary})
    (end,) = [d for t, d in events if t == "operationEnd"]
    assert end["error"].startswith("HTTP 500")


async def test_retries_stop_at_the_run_deadline() -> None:
    # a 10 s backoff does not fit in a 300 ms sessionDuration: fail now with the vendor message
    async with FakeOpenAI([error(503, "overloaded")]) as fake:
        s = settings(fake, model_retry_ms=10_000)
        result = await AgentRunner(s).run(job([], model="openai:gpt-4o", session_duration=300), Events())
    assert result.outcome == "failure" and "overloaded" in result.summary and len(fake.requests) == 1


async def test_client_errors_are_not_retried() -> None:
    async with FakeOpenAI([error(401, "Incorrect API key provided")]) as fake:
        result = await AgentRunner(settings(fake)).run(job([], model="openai:gpt-4o"), Events())
    assert result.summary == "Model openai:gpt-4o failed: HTTP 401: Incorrect API key provided"
    assert len(fake.requests) == 1


async def test_the_agent_reports_failure() -> None:
    script = [tool_call("report_failure", {"reason": "the feed is empty"}), text("Nothing to digest today.")]
    async with FakeOpenAI(script) as fake:
        events = Events()
        result = await AgentRunner(settings(fake)).run(job([], model="gpt-4o-mini"), events)
    assert result.outcome == "failure"
    assert result.summary == "Nothing to digest today. (reported failure: the feed is empty)"
    assert events[-1][1]["code"] == "REPORTED_FAILURE"


async def test_webhook_through_the_model_with_pinned_method_and_headers() -> None:
    async with FakeOpenAI() as fake:
        fake.script = [
            tool_call("hook", {"url": f"{fake.url}/hook", "body": {"digest": ["a", "b"]}, "headers": {"X-A": "1"}}),
            text("Posted."),
        ]
        ability = {"type": "http", "name": "hook", "config": {"method": "PUT", "headers": {"X-Token": "t"}}}
        s = settings(fake, http_allow=("127.0.0.1",))
        result = await AgentRunner(s).run(job([ability], model="openai:gpt-4o"), Events())
    assert result.outcome == "success", result.summary
    (hook,) = fake.hooks
    assert (hook.method, hook.body) == ("PUT", {"digest": ["a", "b"]})
    assert hook.headers["x-token"] == "t" and hook.headers["x-a"] == "1"
    schema = next(t for t in fake.requests[0].body["tools"] if t["function"]["name"] == "hook")["function"]
    assert "method" not in schema["parameters"]["properties"]


async def test_missing_key_fails_clearly() -> None:
    import os

    if os.environ.get("OPENAI_API_KEY"):
        pytest.skip("OPENAI_API_KEY is set here")
    result = await AgentRunner(Settings()).run(job([], model="openai:gpt-4o"), Events())
    assert result.outcome == "failure" and "AGENTCRON_OPENAI_API_KEY" in result.summary


async def test_the_fake_server_streams_like_openai() -> None:
    """The SSE path of the fake server, through the real openai client (pydantic-ai's non-streamed
    requests are what the runner uses; this keeps the fake honest for streaming callers)."""
    from openai import AsyncOpenAI

    async with FakeOpenAI([tool_call("clock", {"timezone": "UTC"}), text("hi")]) as fake:
        client = AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        chunks = [c async for c in stream]
        await client.close()
    calls = [tc for c in chunks for ch in c.choices for tc in (ch.delta.tool_calls or [])]
    assert calls[0].function is not None and json.loads(calls[0].function.arguments or "") == {"timezone": "UTC"}
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 18


async def test_a_model_error_carries_its_code_and_the_vendors_retry_after() -> None:
    # (what a task's retryPolicy reads: a MODEL_ERROR is retried, and not before the vendor asked)
    async with FakeOpenAI([error(429, "Rate limit reached", {"retry-after": "120"})]) as fake:
        result = await AgentRunner(settings(fake, model_retries=0)).run(job([], model="openai:gpt-4o"), Events())
    assert (result.outcome, result.error_code, result.retry_after_ms) == ("failure", "MODEL_ERROR", 120_000)
    async with FakeOpenAI([error(500, "boom")]) as fake:
        result = await AgentRunner(settings(fake, model_retries=0)).run(job([], model="openai:gpt-4o"), Events())
    assert (result.error_code, result.retry_after_ms) == ("MODEL_ERROR", None)
    script = [tool_call("report_failure", {"reason": "the feed is empty"}), text("Nothing to digest today.")]
    async with FakeOpenAI(script) as fake:
        result = await AgentRunner(settings(fake)).run(job([], model="gpt-4o-mini"), Events())
    assert (result.outcome, result.error_code) == ("failure", "REPORTED_FAILURE")
