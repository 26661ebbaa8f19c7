"""What each ability type takes in its ``config``, read and checked by one parser per type.

The same parsers serve both times a config is looked at, so the two cannot drift: when a bot is written
(`check_abilities`, called by the API, which answers 400 with the message) and when a run builds the bot's
tools (`abilities.build`, `mcp.mcp_toolset`). A parser raises `ConfigProblem` naming the key for a value
that cannot work: a wrong type, a number out of range, an unknown timezone, a URL that is not http(s), an
``mcp`` ability with neither ``server`` nor ``url``. Keys a type does not take are refused when the bot is
written (a run ignores them).

Bots are written by tenants; the programs the worker starts are the operator's. An ``mcp`` ability names a
stdio server the operator declared (`mcp_servers`, ``AGENTCRON_MCP_SERVERS``) and may set only the
environment variables that server lets bots set; a ``command`` or ``cwd`` (which bots could set before) is
refused, when the bot is written and when it runs. The declared servers are checked both times, since the
configuration may change after the bot is written. What else depends on the server's configuration is
checked at run time only: API keys, the outbound allow list.

``null`` means the same as an absent key (the default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from agentcron.engine import mcp_servers
from agentcron.engine.mcp_servers import McpServer, McpServers, kind_of
from agentcron.engine.toolenv import AbilityConfigError
from agentcron.schedule import parse_timezone
from agentcron.schedule_errors import ScheduleError

DEFAULT_MAX_BYTES = 100_000
MAX_MAX_BYTES = 5_000_000
DEFAULT_MAX_WAIT_S = 900.0
#: A run lasts at most a day (``maxTime``), so no wait needs to be longer.
MAX_WAIT_S = 86_400.0
DEFAULT_MCP_TIMEOUT_S = 60.0
MAX_MCP_TIMEOUT_S = 86_400.0
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


class ConfigProblem(AbilityConfigError):
    """One field of an ability cannot work: ``field`` is its path (``config.timezone``, or with the
    ability's position ``abilities[1].config.timezone``), ``reason`` says why and what is accepted."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _number(config: dict[str, Any], key: str, default: float, low: float, high: float, *, above: bool = False) -> float:
    """A number in ``[low, high]`` (``(low, high]`` when ``above``)."""
    value = config.get(key)
    if value is None:
        return float(default)
    ok = not isinstance(value, bool) and isinstance(value, int | float) and not math.isnan(value)
    if not ok or value > high or value < low or (above and value == low):
        lower = f"greater than {_num(low)}, at most" if above else f"from {_num(low)} to"
        shown = repr(value) if ok or isinstance(value, str) else kind_of(value)
        raise ConfigProblem(f"config.{key}", f"must be a number {lower} {_num(high)}, not {shown}")
    return float(value)


def _whole(config: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = _number(config, key, default, low, high)
    if not value.is_integer():
        raise ConfigProblem(f"config.{key}", f"must be a whole number from {_num(low)} to {_num(high)}, not {value:g}")
    return int(value)


def _string(config: dict[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigProblem(f"config.{key}", f"must be a string, not {kind_of(value)}")
    return value


def _url(config: dict[str, Any], key: str) -> str | None:
    """An absolute http(s) URL; ``""`` is the same as unset."""
    value = _string(config, key)
    if not value:
        return None
    try:
        parsed = httpx.URL(value)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigProblem(f"config.{key}", f"{value!r} is not an http(s) URL (such as https://example.com/)")
    return value


def _strings(config: dict[str, Any], key: str) -> dict[str, str]:
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigProblem(f"config.{key}", "must be an object whose values are strings")
    return {str(k): v for k, v in value.items()}


# -- one parser per type --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeConfig:
    timezone: str = "UTC"


def parse_time(config: dict[str, Any]) -> TimeConfig:
    name = _string(config, "timezone") or "UTC"
    try:
        parse_timezone(name)  # the rule for a task's timezone
    except ScheduleError:
        raise ConfigProblem(
            "config.timezone", f"unknown timezone {name!r}, not an IANA timezone name (such as Europe/Berlin or UTC)"
        ) from None
    return TimeConfig(name)


@dataclass(frozen=True, slots=True)
class FetchConfig:
    max_bytes: int = DEFAULT_MAX_BYTES
    url: str | None = None


def parse_fetch(config: dict[str, Any]) -> FetchConfig:
    return FetchConfig(_whole(config, "maxBytes", DEFAULT_MAX_BYTES, 1, MAX_MAX_BYTES), _url(config, "url"))


@dataclass(frozen=True, slots=True)
class HttpConfig:
    max_bytes: int = DEFAULT_MAX_BYTES
    url: str | None = None
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def parse_http(config: dict[str, Any]) -> HttpConfig:
    method = _string(config, "method")
    if method is not None and method.upper() not in METHODS:
        raise ConfigProblem("config.method", f"unknown method {method!r}; accepted: {', '.join(METHODS)}")
    return HttpConfig(
        _whole(config, "maxBytes", DEFAULT_MAX_BYTES, 1, MAX_MAX_BYTES),
        _url(config, "url"),
        method.upper() if method is not None else None,
        _strings(config, "headers"),
    )


@dataclass(frozen=True, slots=True)
class WaitConfig:
    max_seconds: float = DEFAULT_MAX_WAIT_S
    #: the length the offline ``test`` model asks for
    seconds: float = 1.0


def parse_wait(config: dict[str, Any]) -> WaitConfig:
    max_s = _number(config, "maxSeconds", DEFAULT_MAX_WAIT_S, 0, MAX_WAIT_S)
    return WaitConfig(max_s, _number(config, "seconds", min(1.0, max_s), 0, MAX_WAIT_S))


@dataclass(frozen=True, slots=True)
class McpConfig:
    server: str | None = None  # stdio: the name of a server the operator declared
    command: tuple[str, ...] | None = None  # the declared server's program, then its arguments
    url: str | None = None  # streamable HTTP
    headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # the declared env, then the bot's (allowed names only)
    cwd: str | None = None  # the declared server's
    timeout: float = DEFAULT_MCP_TIMEOUT_S


#: Keys the ``mcp`` ability took before stdio servers were the operator's: refused with what to do instead.
REFUSED_MCP_KEYS = ("command", "cwd")


def _declared_names(servers: McpServers) -> str:
    """The declared servers, for a message, in parentheses."""
    if not servers:
        return f"(none is declared on this server; the operator declares them in {mcp_servers.VARIABLE})"
    return "(declared: " + ", ".join(sorted(servers)) + ")"


def _bot_env(name: str, server: McpServer, env: dict[str, str]) -> dict[str, str]:
    """The variables of a bot's ``config.env`` for ``server``: only names its ``tenantEnv`` lists."""
    for key, value in env.items():
        if key not in server.tenant_env or mcp_servers.env_name_risk(key) is not None:
            allowed = ", ".join(sorted(server.tenant_env)) or "none"
            raise ConfigProblem(
                "config.env", f"MCP server {name!r} does not let a bot set {key!r}; the names it may set: {allowed}"
            )
        if "\0" in value:
            raise ConfigProblem("config.env", f"the value of {key!r} holds a NUL character")
    return env


def parse_mcp(config: dict[str, Any], servers: McpServers = mcp_servers.NONE) -> McpConfig:
    """Stdio servers are the operator's (``servers``), named by ``server``; a bot never chooses a program,
    its arguments or its directory, and sets only the variables the server's ``tenantEnv`` lists."""
    timeout = _number(config, "timeout", DEFAULT_MCP_TIMEOUT_S, 0, MAX_MCP_TIMEOUT_S, above=True)
    for key in REFUSED_MCP_KEYS:
        if config.get(key) is not None:
            raise ConfigProblem(
                f"config.{key}",
                "a bot cannot choose the program an MCP server runs, its arguments or its directory: name a "
                f"server the operator declared in config.server {_declared_names(servers)}, or use config.url",
            )
    name, url = _string(config, "server") or None, _url(config, "url")
    headers, env = _strings(config, "headers"), _strings(config, "env")
    if name is None and url is None:
        raise ConfigProblem(
            "config",
            f"an mcp ability needs server, the name of an MCP server the operator declared {_declared_names(servers)}"
            ", or url, the http(s) URL of an MCP server over streamable HTTP",
        )
    if name is not None and url is not None:
        raise ConfigProblem("config", "an mcp ability takes server or url, not both")
    if url is not None:
        if env:
            raise ConfigProblem("config.env", "only for a declared server (config.server); over HTTP, send headers")
        return McpConfig(url=url, headers=headers, timeout=timeout)
    if headers:
        raise ConfigProblem("config.headers", "only for an MCP server over HTTP (config.url)")
    server = servers.get(name) if name is not None else None
    if server is None:
        raise ConfigProblem("config.server", f"no MCP server named {name!r} {_declared_names(servers)}")
    env = {**server.env, **_bot_env(server.name, server, env)}
    return McpConfig(server.name, server.command, None, {}, env, server.cwd, timeout)


@dataclass(frozen=True, slots=True)
class AbilityType:
    #: every config key the type takes (the README's abilities table lists them all)
    keys: tuple[str, ...]
    #: the parser: a config and the MCP servers the operator declares
    parse: Callable[[dict[str, Any], McpServers], Any]
    #: keys the type does not take that its parser refuses with its own message
    refused: tuple[str, ...] = ()


TYPES: dict[str, AbilityType] = {
    "time": AbilityType(("timezone",), lambda config, _: parse_time(config)),
    "fetch": AbilityType(("maxBytes", "url"), lambda config, _: parse_fetch(config)),
    "http": AbilityType(("url", "method", "headers", "maxBytes"), lambda config, _: parse_http(config)),
    "wait": AbilityType(("maxSeconds", "seconds"), lambda config, _: parse_wait(config)),
    "mcp": AbilityType(("server", "url", "headers", "env", "timeout"), parse_mcp, REFUSED_MCP_KEYS),
}
#: The ability types, in the order the docs list them.
ABILITY_TYPES: tuple[str, ...] = tuple(TYPES)


def unknown_type(kind: Any) -> str:
    return f"unknown ability type {kind!r}; accepted: {', '.join(ABILITY_TYPES)}"


def check_abilities(abilities: Sequence[Any], servers: McpServers = mcp_servers.NONE) -> None:
    """Check a bot's abilities as they are written, against the MCP servers the operator declares
    (`mcp_servers.declared`). Raises `ConfigProblem` whose ``field`` starts with ``abilities[<index from 0>]``
    for the first that cannot work."""
    for i, ability in enumerate(abilities):
        where = f"abilities[{i}]"
        if not isinstance(ability, dict):
            raise ConfigProblem(where, "must be an object")
        kind = ability.get("type")
        spec = TYPES.get(kind) if isinstance(kind, str) else None
        if spec is None:
            raise ConfigProblem(f"{where}.type", unknown_type(kind))
        config = ability.get("config")
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise ConfigProblem(f"{where}.config", f"must be an object, not {kind_of(config)}")
        unknown = [k for k in config if k not in spec.keys and k not in spec.refused]
        if unknown:
            raise ConfigProblem(
                f"{where}.config.{unknown[0]}", f"not a key of the {kind} ability; accepted: {', '.join(spec.keys)}"
            )
        try:
            spec.parse(config, servers)
        except ConfigProblem as p:
            raise ConfigProblem(f"{where}.{p.field}", p.reason) from None
