"""Abilities built into tools directly (the agent tests run them through a model)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic_ai.toolsets import FunctionToolset

from agentcron.engine import net
from agentcron.engine.abilities import build, html_to_text
from agentcron.engine.ability_config import ABILITY_TYPES, TYPES, ConfigProblem, check_abilities
from agentcron.engine.mcp_servers import NONE, parse_servers
from agentcron.engine.toolenv import AbilityConfigError, ToolEnv
from tests.conftest import ROOT

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
        ({"type": "sing"}, "ability #1: unknown ability type 'sing'; accepted: time, fetch, http, wait, mcp"),
        ({"type": "wait", "config": {"maxSeconds": -1}}, "ability wait: config.maxSeconds: must be a number from 0"),
        ({"type": "mcp", "config": {}}, "ability mcp: config: an mcp ability needs server"),
        ({"type": "time", "config": {"timezone": "America"}}, "config.timezone: unknown timezone 'America'"),
        (
            {"type": "mcp", "config": {"command": ["srv"]}},
            "ability mcp: config.command: a bot cannot choose the program an MCP server runs",
        ),
        ({"type": "mcp", "config": {"server": "srv"}}, "ability mcp: config.server: no MCP server named 'srv' (none"),
    ],
)
async def test_an_unusable_config_is_refused_naming_the_ability(ability: dict[str, Any], message: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(AbilityConfigError) as refused:
            build([ability], ToolEnv(client, net.AllowList.parse([])), reserved=set())
    assert message in str(refused.value)


# -- checking a bot's abilities when it is written (the API answers 400 with these) --------------------------

#: The MCP servers the operator declares for these checks.
DECLARED = parse_servers('{"srv": {"command": ["srv", "--flag"], "env": {"B": "c"}, "tenantEnv": ["A", "T"]}}')
EVERY_TYPE: list[dict[str, Any]] = [
    {"type": "time", "config": {"timezone": "Europe/Berlin"}},
    {"type": "fetch", "config": {"maxBytes": 5_000_000, "url": "https://example.com/"}},
    {
        "type": "http",
        "name": "hook",
        "config": {"url": "http://example.com/x", "method": "patch", "headers": {"X-A": "1"}, "maxBytes": 1.0},
    },
    {"type": "wait", "config": {"maxSeconds": 0, "seconds": 86_400}},
    {"type": "mcp", "config": {"server": "srv", "env": {"A": "b"}, "timeout": 0.5}},
    {"type": "mcp", "name": "remote", "config": {"url": "https://mcp.example.com/mcp", "headers": {}, "timeout": None}},
    {"type": "time", "config": {"timezone": None}},
    {"type": "fetch"},
]


def test_check_abilities_accepts_every_type_and_key() -> None:
    check_abilities(EVERY_TYPE, DECLARED)
    check_abilities([])
    assert {a["type"] for a in EVERY_TYPE} == set(ABILITY_TYPES)
    assert {k for a in EVERY_TYPE for k in a.get("config") or {}} == {k for t in TYPES.values() for k in t.keys}


@pytest.mark.parametrize(
    ("abilities", "field", "reason"),
    [
        ([1], "abilities[0]", "must be an object"),
        ([{"type": "time"}, {"type": "sing"}], "abilities[1].type", "unknown ability type 'sing'; accepted: time, "),
        ([{"config": {}}], "abilities[0].type", "unknown ability type None"),
        ([{"type": "time", "config": []}], "abilities[0].config", "must be an object, not a list"),
        (
            [{"type": "time", "config": {"timezone": "Mars/Base"}}],
            "abilities[0].config.timezone",
            "unknown timezone 'Mars/Base', not an IANA timezone name",
        ),
        (
            [{"type": "time", "config": {"timezone": 5}}],
            "abilities[0].config.timezone",
            "must be a string, not a number",
        ),
        (
            [{"type": "time", "config": {"tz": "UTC"}}],
            "abilities[0].config.tz",
            "not a key of the time ability; accepted: timezone",
        ),
        (
            [{"type": "fetch", "config": {"url": "ftp://example.com/f"}}],
            "abilities[0].config.url",
            "'ftp://example.com/f' is not an http(s) URL",
        ),
        ([{"type": "fetch", "config": {"url": "example.com"}}], "abilities[0].config.url", "is not an http(s) URL"),
        ([{"type": "http", "config": {"url": "http://"}}], "abilities[0].config.url", "is not an http(s) URL"),
        (
            [{"type": "fetch", "config": {"maxBytes": 0}}],
            "abilities[0].config.maxBytes",
            "must be a number from 1 to 5,000,000, not 0",
        ),
        ([{"type": "fetch", "config": {"maxBytes": 1.5}}], "abilities[0].config.maxBytes", "must be a whole number"),
        ([{"type": "http", "config": {"method": "BREW"}}], "abilities[0].config.method", "accepted: GET, POST, PUT"),
        ([{"type": "http", "config": {"headers": {"a": 1}}}], "abilities[0].config.headers", "values are strings"),
        ([{"type": "http", "config": {"headers": "x"}}], "abilities[0].config.headers", "values are strings"),
        ([{"type": "wait", "config": {"seconds": "ten"}}], "abilities[0].config.seconds", "not 'ten'"),
        ([{"type": "wait", "config": {"seconds": True}}], "abilities[0].config.seconds", "not true/false"),
        ([{"type": "wait", "config": {"maxSeconds": 86_401}}], "abilities[0].config.maxSeconds", "0 to 86,400"),
        ([{"type": "mcp"}], "abilities[0].config", "an mcp ability needs server, the name of an MCP server the "),
        ([{"type": "mcp"}], "abilities[0].config", "operator declared (declared: srv), or url, the http(s) URL"),
        (
            [{"type": "mcp", "config": {"server": "srv", "url": "https://example.com/"}}],
            "abilities[0].config",
            "takes server or url, not both",
        ),
        ([{"type": "mcp", "config": {"server": 5}}], "abilities[0].config.server", "must be a string, not a number"),
        (
            [{"type": "mcp", "config": {"server": "gh"}}],
            "abilities[0].config.server",
            "no MCP server named 'gh' (declared: srv)",
        ),
        # A bot never chooses the program, its arguments or its directory, whatever their shape.
        (
            [{"type": "mcp", "config": {"command": ["a"], "url": "https://example.com/"}}],
            "abilities[0].config.command",
            "a bot cannot choose the program an MCP server runs, its arguments or its directory: name a server "
            "the operator declared in config.server (declared: srv), or use config.url",
        ),
        ([{"type": "mcp", "config": {"command": []}}], "abilities[0].config.command", "cannot choose the program"),
        ([{"type": "mcp", "config": {"command": "srv"}}], "abilities[0].config.command", "cannot choose the program"),
        ([{"type": "mcp", "config": {"server": "srv", "cwd": "/"}}], "abilities[0].config.cwd", "cannot choose"),
        ([{"type": "mcp", "config": {"server": "srv", "cwd": 1}}], "abilities[0].config.cwd", "cannot choose"),
        # ... and sets only the variables the declared server lets bots set
        *[
            (
                [{"type": "mcp", "config": {"server": "srv", "env": {"A": "b", name: "x"}}}],
                "abilities[0].config.env",
                f"MCP server 'srv' does not let a bot set {name!r}; the names it may set: A, T",
            )
            for name in ("LD_PRELOAD", "BROWSER", "PYTHONWARNINGS", "NODE_OPTIONS", "B", "a")
        ],
        ([{"type": "mcp", "config": {"server": "srv", "env": {"A": 1}}}], "abilities[0].config.env", "are strings"),
        ([{"type": "mcp", "config": {"server": "srv", "env": {"A": "\0"}}}], "abilities[0].config.env", "NUL"),
        (
            [{"type": "mcp", "config": {"url": "https://a.b/", "env": {"A": "b"}}}],
            "abilities[0].config.env",
            "only for a declared server (config.server)",
        ),
        (
            [{"type": "mcp", "config": {"server": "srv", "headers": {"A": "b"}}}],
            "abilities[0].config.headers",
            "only for an MCP server over HTTP (config.url)",
        ),
        ([{"type": "mcp", "config": {"url": "file:///x"}}], "abilities[0].config.url", "is not an http(s) URL"),
        ([{"type": "mcp", "config": {"url": "https://a.b/", "timeout": 0}}], "abilities[0].config.timeout", "greater"),
    ],
)
def test_check_abilities_names_the_field(abilities: list[Any], field: str, reason: str) -> None:
    with pytest.raises(ConfigProblem) as refused:
        check_abilities(abilities, DECLARED)
    assert refused.value.field == field
    assert reason in refused.value.reason


class _Recording(dict[str, Any]):
    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


@pytest.mark.parametrize("kind", ABILITY_TYPES)
def test_each_parser_reads_exactly_the_keys_its_type_declares(kind: str) -> None:
    config = _Recording()
    try:
        TYPES[kind].parse(config, NONE)
    except ConfigProblem:
        pass  # mcp needs server or url; it has read every key by then
    # (and the keys it refuses with a message of its own: the mcp ability's command and cwd)
    assert config.read == set(TYPES[kind].keys) | set(TYPES[kind].refused)


def test_readme_documents_every_config_key_of_every_ability_type() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Bots and abilities", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip().strip("`"): line for line in section.splitlines() if line.startswith("| `")}
    assert set(rows) == set(ABILITY_TYPES)
    for kind, spec in TYPES.items():
        config_cell = rows[kind].split("|")[2]
        missing = [k for k in spec.keys if f"`{k}`" not in config_cell]
        assert not missing, f"README: the {kind} ability's config keys {missing} are not documented"
