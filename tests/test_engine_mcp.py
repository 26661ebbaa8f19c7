"""The ``mcp`` ability against a real MCP server process (tests/mcp_server.py, stdio) started by the run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentcron.config import Settings
from agentcron.engine.agent import AgentRunner
from tests.fake_openai import FakeOpenAI, text, tool_call
from tests.test_engine import Events, job

pytestmark = pytest.mark.anyio

SERVER = str(Path(__file__).with_name("mcp_server.py"))
ALLOW = Settings(mcp_stdio_allow=(sys.executable,))


async def test_test_model_calls_every_tool_of_the_server() -> None:
    abilities = [
        {"type": "mcp", "config": {"command": [sys.executable, SERVER]}},
        {"type": "mcp", "name": "calc", "config": {"command": [sys.executable, SERVER]}},
    ]
    events = Events()
    result = await AgentRunner(ALLOW).run(job(abilities), events)
    assert result.outcome == "success", result.summary
    assert result.summary == "Completed task 'Digest' (add: 2; shout: TEST!; calc_add: 2; calc_shout: TEST!)"
    tools = [n for n in events.named("operationBegin") if not n.startswith("model:")]
    assert tools == ["add", "shout", "calc_add", "calc_shout"]
    assert ("activity", 'called calc_add {"a": 1, "b": 1}') in result.messages
    assert ("activity", "calc_add returned: 2") in result.messages


async def test_a_failing_mcp_tool_is_reported_to_the_model_and_fails_the_run() -> None:
    events = Events()
    ability = {"type": "mcp", "config": {"command": [sys.executable, SERVER, "--with-fail"]}}
    result = await AgentRunner(ALLOW).run(job([ability]), events)
    assert result.outcome == "failure"
    assert "tool errors: fail: Error executing tool fail: the tool broke" in result.summary
    (end,) = [d for t, d in events if t == "operationEnd" and d["action"]["name"] == "fail"]
    assert end["error"] == "Error executing tool fail: the tool broke"


async def test_an_openai_model_drives_mcp_tools() -> None:
    async with FakeOpenAI([tool_call("shout", {"text": "good morning"}), text("Shouted.")]) as fake:
        s = Settings(openai_base_url=fake.base_url, openai_api_key="k", mcp_stdio_allow=("python3", sys.executable))
        ability = {"type": "mcp", "config": {"command": [sys.executable, SERVER]}}
        result = await AgentRunner(s).run(job([ability], model="openai:gpt-4o-mini"), Events())
    assert (result.outcome, result.summary) == ("success", "Shouted.")
    sent = {t["function"]["name"]: t["function"] for t in fake.requests[0].body["tools"]}
    assert set(sent) == {"add", "shout", "report_failure"}
    assert sent["add"]["parameters"]["required"] == ["a", "b"]
    assert fake.requests[1].body["messages"][-1]["content"] == "GOOD MORNING!"


async def test_a_server_that_does_not_start_fails_the_run_cleanly() -> None:
    ability = {"type": "mcp", "config": {"command": [sys.executable, "-c", "raise SystemExit(3)"], "timeout": 5}}
    result = await AgentRunner(ALLOW).run(job([ability]), Events())
    assert result.outcome == "failure"
    assert result.summary.startswith("Run failed: ") and "Connection closed" in result.summary
