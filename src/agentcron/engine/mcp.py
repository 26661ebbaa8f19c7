"""The ``mcp`` ability: every tool of an MCP server, over stdio (``config.server``) or streamable HTTP
(``config.url``), through pydantic-ai's `MCPToolset` (a FastMCP client).

Stdio servers are the ones the operator declares (`mcp_servers`): the run starts the declared program with
the declared arguments and directory, in an environment of the worker's HOME, LOGNAME, PATH, SHELL, TERM
and USER, the declared ``env`` and the variables of the bot's ``config.env`` the server lets bots set
(`ability_config.parse_mcp` resolves all of it; nothing else of the worker's environment is passed). HTTP
servers are checked against the outbound allow list when the run connects, and every request to them
(redirect hops included) goes to the address that was checked (see `net.pin`). A server's tool errors are
reported to the model as failed tool results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx2
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset

from agentcron.engine import net
from agentcron.engine.ability_config import McpConfig
from agentcron.engine.toolenv import ToolEnv


@dataclass
class _CheckedHTTP(WrapperToolset[Any]):
    """Checks the server URL against the outbound allow list before connecting."""

    url: str = ""
    allow: net.AllowList = field(default_factory=lambda: net.AllowList(frozenset(), ()))

    async def __aenter__(self) -> _CheckedHTTP:
        import httpx

        parsed = httpx.URL(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise net.BlockedAddress(f"MCP url must be an http(s) URL, not {self.url!r}")
        await net.resolve_checked(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), self.allow)
        await super().__aenter__()
        return self


class _PinnedTransport(httpx2.AsyncBaseTransport):
    """Sends each request to the address its host was checked at (`net.pin`), so a DNS answer that
    changes after the check cannot take the MCP client into a private network. The MCP client follows
    redirects itself; each hop is a new request through here, checked again."""

    def __init__(self, allow: net.AllowList) -> None:
        self.allow = allow
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        addresses, host_header, extensions = await net.pin(url.scheme, url.host, url.port, self.allow)
        request.headers["Host"] = host_header
        request.extensions = {**request.extensions, **extensions}

        async def send_to(addr: str) -> httpx2.Response:
            request.url = url.copy_with(host=addr)
            return await self.inner.handle_async_request(request)

        return await net.in_order(addresses, send_to, httpx2.ConnectError)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _pinned_client_factory(allow: net.AllowList) -> Any:
    def factory(**kwargs: Any) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=_PinnedTransport(allow), **kwargs)

    return factory


def mcp_toolset(label: str, config: McpConfig, prefix: str | None, env: ToolEnv) -> AbstractToolset[Any]:
    """The toolset of one ``mcp`` ability (``config`` parsed by `ability_config.parse_mcp` against
    ``env.mcp_servers``, so a stdio server's command and environment are the declared ones)."""
    timeout = config.timeout
    toolset: AbstractToolset[Any]
    if config.command is not None:  # a declared server
        program, *args = config.command
        # The transport's child gets the worker's HOME, LOGNAME, PATH, SHELL, TERM and USER, then this.
        transport: Any = StdioTransport(program, args, env=dict(config.env), cwd=config.cwd)
        toolset = MCPToolset(transport, tool_error_behavior="failed", read_timeout=timeout, init_timeout=timeout)
    else:
        url = str(config.url)
        transport = StreamableHttpTransport(
            url, headers=dict(config.headers) or None, httpx_client_factory=_pinned_client_factory(env.allow)
        )
        inner = MCPToolset(transport, tool_error_behavior="failed", read_timeout=timeout, init_timeout=timeout)
        toolset = _CheckedHTTP(inner, url, env.allow)
    return toolset.prefixed(prefix) if prefix else toolset
