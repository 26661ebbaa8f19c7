"""A tiny MCP server for engine tests (the `mcp` package's MCPServer, formerly FastMCP): stdio, or
streamable HTTP on 127.0.0.1 with ``--http PORT`` (path ``/mcp``).

Tools: ``add(a, b)`` and ``shout(text)``; ``fail()`` (raises) only with ``--with-fail``.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

server = MCPServer("agentcron-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper() + "!"


if "--with-fail" in sys.argv:

    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ToolError("the tool broke")


if __name__ == "__main__":
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        # The server checks the Host header (its own DNS-rebinding guard): the names the tests use.
        hosts = [f"{h}:{port}" for h in ("127.0.0.1", "localhost", "mcp.pinned.test")]
        security = TransportSecuritySettings(allowed_hosts=hosts)
        server.run("streamable-http", host="127.0.0.1", port=port, transport_security=security)
    else:
        server.run("stdio")
