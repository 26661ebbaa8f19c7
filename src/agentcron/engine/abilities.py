"""A bot's abilities as agent tools: ``time``, ``fetch``, ``http``, ``wait`` and ``mcp``.

Each ability becomes one tool named after the ability's ``name`` (default: its type; repeated names get a
``_2``, ``_3``... suffix), except ``mcp``, which brings every tool of its server (prefixed ``<name>_`` when
the ability has a name). Every tool is cancellable: waits are ``asyncio.sleep``, HTTP goes through httpx
and MCP through anyio streams, so cancelling the run stops a tool at once.

Config (all optional; `ability_config` parses and checks it, the same way when a bot is written):
- ``time``: ``timezone`` (IANA, default UTC): the default zone; the model may ask for another.
- ``fetch``: ``maxBytes`` (default 100,000, at most 5,000,000) caps the body read; ``url`` (http(s)) pins
  the URL.
- ``http``: ``url`` / ``method`` pin those (the model then cannot choose them); ``headers`` are sent with
  every request; ``maxBytes`` as for fetch.
- ``wait``: ``maxSeconds`` (default 900, at most 86,400) caps one wait; ``seconds`` is the length the
  offline ``test`` model asks for (default 1).
- ``mcp``: ``server`` (the name of a stdio server the operator declared; optional ``env``, only the names
  that server lets bots set) or ``url`` (streamable HTTP; optional ``headers``), ``timeout`` (seconds per
  call, default 60).
"""

from __future__ import annotations

import asyncio
import html.parser
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic_ai import Tool, ToolFailed
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset

from agentcron.engine import net
from agentcron.engine.ability_config import (
    METHODS,
    TYPES,
    ConfigProblem,
    FetchConfig,
    HttpConfig,
    TimeConfig,
    WaitConfig,
    unknown_type,
)
from agentcron.engine.toolenv import AbilityConfigError, ToolEnv
from agentcron.schedule import parse_timezone
from agentcron.schedule_errors import ScheduleError

#: Largest tool result kept in the conversation and sent back to the model (characters).
MAX_RESULT_CHARS = 50_000


@dataclass(slots=True)
class Built:
    """The toolsets of a bot's abilities and, per tool name, valid arguments (the ``test`` model uses them)."""

    toolsets: list[AbstractToolset[Any]] = field(default_factory=list)
    sample_args: dict[str, dict[str, Any]] = field(default_factory=dict)


class _TextExtractor(html.parser.HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\s*\n\s*", "\n", text).strip()
    title = parser.title.strip()
    return f"{title}\n\n{text}" if title and not text.startswith(title) else text


def _cap(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... cut at {limit} characters]"


def _decode(body: bytes, response: httpx.Response) -> str:
    return body.decode(response.encoding or "utf-8", errors="replace")


def _time_tool(name: str, description: str | None, config: TimeConfig) -> tuple[Tool[Any], dict[str, Any]]:
    default_tz = config.timezone

    async def now(timezone: str | None = None) -> str:
        try:
            tz = parse_timezone(timezone or default_tz)
        except ScheduleError:
            raise ToolFailed(f"unknown timezone {timezone!r}: use an IANA name such as Europe/Berlin") from None
        local = datetime.now(UTC).astimezone(tz)
        return f"{local.isoformat(timespec='seconds')} ({local.strftime('%A')}, {tz.key})"

    tool = Tool.from_schema(
        now,
        name=name,
        description=description or f"The current date and time in an IANA timezone (default {default_tz}).",
        json_schema={
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": f"IANA timezone name, default {default_tz}"}},
            "additionalProperties": False,
        },
    )
    return tool, {"timezone": default_tz}


def _fetch_tool(
    name: str, description: str | None, config: FetchConfig, env: ToolEnv
) -> tuple[Tool[Any], dict[str, Any]]:
    max_bytes, pinned = config.max_bytes, config.url

    async def fetch(url: str | None = None) -> str:
        target = pinned or url
        if not target:
            raise ToolFailed("a url is required")
        try:
            response, body, cut = await net.send(env.client, "GET", target, env.allow, max_bytes=max_bytes)
        except net.BlockedAddress as e:
            raise ToolFailed(f"refused: {e}") from None
        except httpx.HTTPError as e:
            raise ToolFailed(f"GET {target} failed: {type(e).__name__}: {e}") from None
        ctype = response.headers.get("content-type", "")
        text = _decode(body, response)
        if "html" in ctype or (not ctype and text.lstrip()[:1] == "<"):
            text = html_to_text(text)
        if response.status_code >= 400:
            raise ToolFailed(f"GET {target}: HTTP {response.status_code}: {_cap(text, 1000)}")
        note = f"\n[... body cut at {max_bytes} bytes]" if cut else ""
        return _cap(f"HTTP {response.status_code} {ctype}\n\n{text}{note}")

    props: dict[str, Any] = {}
    if not pinned:
        props["url"] = {"type": "string", "description": "http(s) URL to GET"}
    tool = Tool.from_schema(
        fetch,
        name=name,
        description=description
        or (f"Fetch {pinned} and return its text." if pinned else "Fetch a web page (HTTP GET) and return its text."),
        json_schema={
            "type": "object",
            "properties": props,
            "required": list(props),
            "additionalProperties": False,
        },
    )
    return tool, ({} if pinned else {"url": "https://example.com/"})


def _http_tool(
    name: str, description: str | None, config: HttpConfig, env: ToolEnv
) -> tuple[Tool[Any], dict[str, Any]]:
    max_bytes, pinned_url, pinned_method, fixed_headers = config.max_bytes, config.url, config.method, config.headers

    async def request(
        url: str | None = None,
        method: str | None = None,
        headers: dict[str, Any] | None = None,
        body: Any = None,
    ) -> str:
        target = pinned_url or url
        verb = str(pinned_method or method or "POST").upper()
        if not target:
            raise ToolFailed("a url is required")
        if verb not in METHODS:
            raise ToolFailed(f"method must be one of {', '.join(METHODS)}")
        sent = {str(k): str(v) for k, v in (headers or {}).items()} | fixed_headers
        try:
            response, data, cut = await net.send(
                env.client,
                verb,
                target,
                env.allow,
                headers=sent,
                json=body if verb not in ("GET", "HEAD") else None,
                max_bytes=max_bytes,
            )
        except net.BlockedAddress as e:
            raise ToolFailed(f"refused: {e}") from None
        except httpx.HTTPError as e:
            raise ToolFailed(f"{verb} {target} failed: {type(e).__name__}: {e}") from None
        text = _decode(data, response)
        if response.status_code >= 400:
            raise ToolFailed(f"{verb} {target}: HTTP {response.status_code}: {_cap(text, 1000)}")
        note = f"\n[... body cut at {max_bytes} bytes]" if cut else ""
        return _cap(f"HTTP {response.status_code}\n\n{text}{note}")

    props: dict[str, Any] = {}
    if not pinned_url:
        props["url"] = {"type": "string", "description": "http(s) URL"}
    if not pinned_method:
        props["method"] = {"type": "string", "enum": list(METHODS), "description": "HTTP method, default POST"}
    props["headers"] = {"type": "object", "additionalProperties": {"type": "string"}}
    props["body"] = {"description": "JSON body"}
    tool = Tool.from_schema(
        request,
        name=name,
        description=description
        or (
            f"Send an HTTP request (webhook) to {pinned_url} with an optional JSON body."
            if pinned_url
            else "Send an HTTP request (webhook) with an optional JSON body; returns status and response body."
        ),
        json_schema={
            "type": "object",
            "properties": props,
            "required": ["url"] if not pinned_url else [],
            "additionalProperties": False,
        },
    )
    sample: dict[str, Any] = {"body": {"text": "hello from agentcron"}}
    if not pinned_url:
        sample["url"] = "https://example.com/"
    return tool, sample


def _wait_tool(name: str, description: str | None, config: WaitConfig) -> tuple[Tool[Any], dict[str, Any]]:
    max_s, sample = config.max_seconds, config.seconds

    async def wait(seconds: float) -> str:
        length = max(0.0, min(float(seconds), float(max_s)))
        await asyncio.sleep(length)
        capped = f" (capped at maxSeconds {max_s:g})" if float(seconds) > float(max_s) else ""
        return f"waited {length:g} s{capped}"

    tool = Tool.from_schema(
        wait,
        name=name,
        description=description or f"Pause for a number of seconds (at most {max_s:g}).",
        json_schema={
            "type": "object",
            "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": max_s}},
            "required": ["seconds"],
            "additionalProperties": False,
        },
    )
    return tool, {"seconds": min(float(sample), float(max_s))}


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def build(abilities: Sequence[dict[str, Any]], env: ToolEnv, reserved: set[str]) -> Built:
    """Toolsets for ``abilities``. Raises `AbilityConfigError` for an unusable config (config keys the type
    does not take are ignored here; the API refuses them when the bot is written)."""
    built = Built()
    local = FunctionToolset[Any]([])
    taken = set(reserved)
    builders: dict[str, Callable[[str, str | None, Any], tuple[Tool[Any], dict[str, Any]]]] = {
        "time": _time_tool,
        "wait": _wait_tool,
        "fetch": lambda n, d, c: _fetch_tool(n, d, c, env),
        "http": lambda n, d, c: _http_tool(n, d, c, env),
    }
    if not all(isinstance(a, dict) for a in abilities):
        raise AbilityConfigError("every ability must be an object")
    # Names given explicitly are claimed first, so a default name never takes one of them.
    names: dict[int, str] = {}
    for i, ability in enumerate(abilities):
        if ability.get("name") and ability.get("type") != "mcp":
            names[i] = _unique(str(ability["name"]), taken)
    for i, ability in enumerate(abilities):
        if i not in names and ability.get("type") != "mcp":
            names[i] = _unique(str(ability.get("type")), taken)
    for i, ability in enumerate(abilities):
        kind = str(ability.get("type"))
        config = ability.get("config") or {}
        if not isinstance(config, dict):
            raise AbilityConfigError(f"ability #{i + 1}: config must be an object")
        spec = TYPES.get(kind)
        if spec is None:
            raise AbilityConfigError(f"ability #{i + 1}: {unknown_type(kind)}")
        label = str(names.get(i) or ability.get("name") or kind)
        try:
            parsed = spec.parse(config, env.mcp_servers)
        except ConfigProblem as p:
            raise AbilityConfigError(f"ability {label}: {p}") from None
        description = ability.get("description") or None
        if kind == "mcp":
            from agentcron.engine.mcp import mcp_toolset  # imported on first use: loading fastmcp is slow

            prefix = ability.get("name") or None
            built.toolsets.append(mcp_toolset(label, parsed, prefix, env))
            continue
        name = names[i]
        tool, sample = builders[kind](name, description, parsed)
        local.add_tool(tool)
        built.sample_args[name] = sample
    built.toolsets.insert(0, local)
    return built


def result_text(value: Any) -> str:
    """A tool result as text for events and the conversation."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
