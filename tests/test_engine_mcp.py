"""The ``mcp`` ability against a real MCP server process (tests/mcp_server.py): over stdio, started by the run,
and over streamable HTTP on loopback."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcron.config import Settings
from agentcron.engine.agent import AgentRunner
from tests.dns import fake_dns
from tests.engine_helpers import Events, job
from tests.fake_openai import FakeOpenAI, text, tool_call

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


# -- streamable HTTP ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server() -> Iterator[int]:
    """tests/mcp_server.py serving streamable HTTP on 127.0.0.1; yields its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen([sys.executable, SERVER, "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as s, contextlib.suppress(OSError):
                s.connect(("127.0.0.1", port))
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the MCP HTTP server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def http_ability(url: str) -> dict[str, Any]:
    return {"type": "mcp", "config": {"url": url, "timeout": 10}}


async def test_an_http_server_on_an_allowed_address_serves_its_tools(http_server: int) -> None:
    events = Events()
    allowed = Settings(http_allow=("127.0.0.1",))
    result = await AgentRunner(allowed).run(job([http_ability(f"http://127.0.0.1:{http_server}/mcp")]), events)
    assert result.outcome == "success", result.summary
    assert result.summary == "Completed task 'Digest' (add: 2; shout: TEST!)"


async def test_an_http_server_on_a_private_address_is_refused(http_server: int) -> None:
    result = await AgentRunner(Settings()).run(job([http_ability(f"http://127.0.0.1:{http_server}/mcp")]), Events())
    assert result.outcome == "failure"
    assert "127.0.0.1, a private, loopback or link-local address" in result.summary


async def test_a_name_that_resolves_elsewhere_after_the_check_is_refused(
    http_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the server's name first resolves to an allowed address, then to a private one.
    Every request goes to an address checked for it, so the second answer is refused instead of
    connected to (an MCP client resolving the name itself would have reached 10.0.0.5)."""
    fake_dns(monkeypatch, "mcp.rebind.test", ["127.0.0.1"], ["10.0.0.5"])  # an attacker's DNS server
    allowed = Settings(http_allow=("127.0.0.1",))
    result = await AgentRunner(allowed).run(job([http_ability(f"http://mcp.rebind.test:{http_server}/mcp")]), Events())
    assert result.outcome == "failure"
    assert "mcp.rebind.test resolves to 10.0.0.5, a private" in result.summary


async def test_a_name_that_keeps_resolving_to_an_allowed_address_is_served(
    http_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pinned requests carry the server's name (Host header), and an address that refuses the
    connection is followed by the next one the name resolves to."""
    fake_dns(monkeypatch, "mcp.pinned.test", ["127.0.0.2", "127.0.0.1"])  # nothing listens on the first
    allowed = Settings(http_allow=("127.0.0.0/8",))
    ability = http_ability(f"http://mcp.pinned.test:{http_server}/mcp")
    result = await AgentRunner(allowed).run(job([ability]), Events())
    assert result.outcome == "success", result.summary
