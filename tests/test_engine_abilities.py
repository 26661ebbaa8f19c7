"""Abilities built into tools directly (the agent tests run them through a model)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic_ai.toolsets import FunctionToolset

from agentcron.engine import net
from agentcron.engine.abilities import build, html_to_text
from agentcron.engine.toolenv import AbilityConfigError, ToolEnv

pytestmark = pytest.mark.anyio


def test_html_to_text() -> None:
    assert html_to_text("<p>a</p><p>b&nbsp;c</p><noscript>x</noscript>") == "a\nb\xa0c"


async def test_build_names_tools_and_gives_their_sample_arguments() -> None:
    abilities: list[dict[str, Any]] = [
        {"type": "time"},
        {"type": "wait", "name": "pause", "config": {"seconds": 2}},
        {"type": "time", "config": {"timezone": "Asia/Tokyo"}},
    ]
    async with httpx.AsyncClient() as client:
        built = build(abilities, ToolEnv(client, net.AllowList.parse([])), reserved={"time"})
    assert built.sample_args == {
        "time_2": {"timezone": "UTC"},
        "pause": {"seconds": 2.0},
        "time_3": {"timezone": "Asia/Tokyo"},
    }
    (local,) = built.toolsets
    assert isinstance(local, FunctionToolset)
    assert list(local.tools) == ["time_2", "pause", "time_3"]


@pytest.mark.parametrize(
    ("ability", "message"),
    [
        ({"type": "sing"}, "ability #1: unknown type 'sing'"),
        ({"type": "wait", "config": {"maxSeconds": -1}}, "config.maxSeconds must be a number >= 0"),
        ({"type": "mcp", "config": {}}, "config needs either command (a list) or url"),
        ({"type": "mcp", "config": {"command": ["srv"]}}, "list the program in AGENTCRON_MCP_STDIO_ALLOW"),
    ],
)
async def test_an_unusable_config_is_refused_naming_the_ability(ability: dict[str, Any], message: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(AbilityConfigError) as refused:
            build([ability], ToolEnv(client, net.AllowList.parse([])), reserved=set())
    assert message in str(refused.value)
