"""The MCP servers the operator declares (``AGENTCRON_MCP_SERVERS``): the only programs ``mcp`` abilities
start on the worker. A bot names one (``config.server``); it never chooses the program, its arguments or
its working directory, and sets only the environment variables the server's ``tenantEnv`` lists.

The setting is a JSON object, or the path of a JSON file holding one::

    {"github": {"command": ["npx", "-y", "@modelcontextprotocol/server-github"],
                "env": {"GITHUB_API_URL": "https://api.github.com"},
                "tenantEnv": ["GITHUB_PERSONAL_ACCESS_TOKEN"],
                "cwd": "/srv/mcp"}}

``command`` (required) is the program, then its arguments; ``env`` adds to the child's environment (which
otherwise holds only HOME, LOGNAME, PATH, SHELL, TERM and USER of the worker); ``tenantEnv`` (default
none) names the variables a bot's ``config.env`` may set, over ``env``; ``cwd`` is the working directory.
Names that make a program load code, run commands, take options or files, or connect through a proxy
(`env_name_risk`) cannot be listed in ``tenantEnv`` at all. Anything unusable stops the process when it
starts (`ConfigError` naming the variable); `declared` reads the setting once per process.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agentcron.config import ConfigError, Settings

VARIABLE = "AGENTCRON_MCP_SERVERS"
KEYS = ("command", "env", "tenantEnv", "cwd")
#: Server names: what an ability's ``name`` may be, too.
NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# fmt: off
# What a bot must never set in a program's environment, whatever the operator lists (compared in upper
# case: some programs read lower-case variants, such as http_proxy or npm_config_*). The dynamic loader,
# shells, interpreters, package managers and common libraries read these as code to run, commands,
# options, files or directories to load, or hosts to connect through.
_RISKY_NAMES = frozenset(
    {
        "BROWSER", "EDITOR", "VISUAL", "ENV", "IFS", "PS4", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS",
        "GLOBIGNORE", "SHELL", "USER", "LOGNAME", "TERM", "TERMINFO", "TERMCAP", "INPUTRC", "HOSTALIASES",
        "LOCALDOMAIN", "LANG", "LANGUAGE", "GLIBC_TUNABLES", "DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY",
        "CC", "CXX", "CPP", "LD", "AR", "MAKE", "GOROOT", "GOTOOLCHAIN", "GOENV", "GOINSECURE", "GONOSUMDB",
        "GONOSUMCHECK", "GOPRIVATE", "GOSUMDB", "GOEXPERIMENT", "GOCACHE", "GOBIN", "VIRTUAL_ENV", "TMP", "TEMP",
    }
)
_RISKY_PREFIXES = (
    "LD_", "DYLD_", "PYTHON", "NODE_", "NPM_", "NPX_", "YARN_", "PNPM_", "COREPACK_", "BUN_", "DENO_", "UV_",
    "PIP_", "PIPX_", "POETRY_", "CONDA", "PERL", "RUBY", "GEM_", "BUNDLE", "JAVA", "_JAVA", "JDK_", "MAVEN_",
    "GRADLE_", "DOTNET_", "COMPLUS_", "CORECLR_", "GIT_", "SSH_", "GPG", "GNUPG", "XDG_", "DBUS_", "LC_",
    "MALLOC_", "GLIBC_", "OPENSSL_", "SSL_", "CURL_", "WGET", "REQUESTS_", "DOCKER_", "KUBE", "BASH_", "ZSH",
    "ZDOTDIR", "LESS", "CARGO_", "RUSTUP_", "RUSTC", "LUA_", "ELECTRON_", "CHROME", "PUPPETEER_",
    "PLAYWRIGHT_", "PKG_CONFIG", "SOCKS", "OTEL_",
)
_RISKY_SUFFIXES = (
    "PATH", "HOME", "DIR", "FILE", "OPTIONS", "OPTS", "OPT", "FLAGS", "PROXY", "_COMMAND", "_CMD", "_EXEC",
    "_EXECUTABLE", "_BIN", "_BINARY", "CONFIG", "CONF", "_PROGRAM", "_HOOK", "_HOOKS", "_SHELL", "_EDITOR",
    "PAGER", "_PRELOAD", "_LIBRARY", "_LIB", "_PLUGIN", "_PLUGINS", "_MODULES", "_ASKPASS", "_SCRIPT",
    "_REGISTRY", "_INDEX_URL", "_CA_BUNDLE", "_CERT", "_CERTS", "CREDENTIALS",
)
# fmt: on


def env_name_risk(name: str) -> str | None:
    """Why a bot may never set the environment variable ``name``, or None when the operator may let it."""
    if not ENV_NAME.match(name):
        return "not an environment variable name (letters, digits and _, not starting with a digit)"
    upper = name.upper()
    if upper in _RISKY_NAMES or upper.startswith(_RISKY_PREFIXES) or upper.endswith(_RISKY_SUFFIXES):
        return (
            "programs (the dynamic loader, shells, interpreters, package managers) read such names as code, "
            "commands, options, files or proxies (LD_*, PYTHON*, NODE_*, NPM_*, GIT_*, *PATH, *HOME, *_PROXY, "
            "*OPTIONS, BROWSER, EDITOR, ... are refused); list only names that carry data, such as an API token"
        )
    return None


@dataclass(frozen=True, slots=True)
class McpServer:
    """One declared stdio MCP server."""

    name: str
    command: tuple[str, ...]
    #: the child's environment beyond the worker's HOME, LOGNAME, PATH, SHELL, TERM and USER
    env: Mapping[str, str] = field(default_factory=dict)
    #: the variables a bot's ``config.env`` may set (over ``env``)
    tenant_env: frozenset[str] = frozenset()
    cwd: str | None = None


McpServers = Mapping[str, McpServer]
NONE: McpServers = MappingProxyType({})


def kind_of(value: Any) -> str:
    """How a config value's JSON type reads in a message ("a string", "a list", ...)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else "an object" if isinstance(value, dict) else type(value).__name__


def _server(name: str, spec: Any) -> McpServer:
    def bad(reason: str) -> ConfigError:
        return ConfigError(f"{VARIABLE}: server {name!r}: {reason}")

    if not NAME.match(name):
        raise ConfigError(f"{VARIABLE}: server name {name!r} must be letters, digits, _ and - only")
    if not isinstance(spec, dict):
        raise bad(f'must be an object such as {{"command": ["program", "arg"]}}, not {kind_of(spec)}')
    unknown = [k for k in spec if k not in KEYS]
    if unknown:
        raise bad(f"unknown key {unknown[0]!r}; accepted: {', '.join(KEYS)}")
    command = spec.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command) or not command[0]:
        raise bad("command must be a non-empty list of strings: the program, then its arguments")
    env = {} if spec.get("env") is None else spec["env"]
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise bad("env must be an object whose values are strings")
    for key, value in env.items():
        if not ENV_NAME.match(key):
            raise bad(f"env: {key!r} is not an environment variable name")
        if "\0" in value:
            raise bad(f"env: the value of {key!r} holds a NUL character")
    tenant_env = [] if spec.get("tenantEnv") is None else spec["tenantEnv"]
    if not isinstance(tenant_env, list) or not all(isinstance(n, str) for n in tenant_env):
        raise bad("tenantEnv must be a list of the environment variable names a bot's config.env may set")
    for env_name in tenant_env:
        risk = env_name_risk(env_name)
        if risk is not None:
            raise bad(f"tenantEnv: a bot may never set {env_name!r}: {risk}")
    cwd = spec.get("cwd")
    if cwd is not None and (not isinstance(cwd, str) or not cwd):
        raise bad("cwd must be a non-empty string (a directory on the worker)")
    return McpServer(name, tuple(command), MappingProxyType(dict(env)), frozenset(tenant_env), cwd)


def parse_servers(raw: str) -> McpServers:
    """The servers of an ``AGENTCRON_MCP_SERVERS`` value: JSON (when it starts with ``{`` or ``[``), else the
    path of a JSON file; either must hold an object. Empty: none. Raises `ConfigError` saying what is wrong."""
    text, source = raw.strip(), VARIABLE
    if not text:
        return NONE
    if not text.startswith(("{", "[")):
        path = text
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            why = (e.strerror or str(e)) if isinstance(e, OSError) else f"not UTF-8 text: {e}"
            raise ConfigError(
                f"{VARIABLE}: cannot read the file {path!r} ({why}); set a JSON object, or the path of a JSON "
                "file holding one"
            ) from None
        source = f"{VARIABLE} (the file {path!r})"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f'{source} must be a JSON object mapping server names to {{"command": [program, args...], ...}}, '
            f"not {kind_of(value)}"
        )
    return MappingProxyType({name: _server(name, spec) for name, spec in value.items()})


@functools.lru_cache(maxsize=16)
def _cached(raw: str) -> McpServers:
    return parse_servers(raw)


def declared(settings: Settings) -> McpServers:
    """The servers ``settings`` declare, read once per process (a file is not read again). Raises
    `ConfigError` when the setting is unusable: the process checks it before it serves."""
    return _cached(settings.mcp_servers)
