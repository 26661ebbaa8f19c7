"""A tiny MCP server for engine tests (the `mcp` package's MCPServer, formerly FastMCP): stdio, or
streamable HTTP on 127.0.0.1 with ``--http PORT`` (path ``/mcp``).

Tools: ``add(a, b)`` and ``shout(text)``; ``fail()`` (raises) only with ``--with-fail``; ``environment()`` (the
server's environment variables beyond the ones every stdio server inherits) only with ``--with-env``. With
``--mark FILE`` the server appends a line to FILE when it starts (tests show it was never started).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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


if "--with-env" in sys.argv:
    #: what the MCP client passes to every stdio server from its own environment
    INHERITED = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"}

    @server.tool()
    def environment() -> str:
        """The server's environment variables (``NAME=value``, by name), without the inherited ones."""
        return " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k not in INHERITED)


if "--mark" in sys.argv:
    with Path(sys.argv[sys.argv.index("--mark") + 1]).open("a") as mark:
        mark.write("started\n")


if __name__ == "__main__":
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        # The server checks the Host header (its own DNS-rebinding guard): the names the tests use.
        hosts = [f"{h}:{port}" for h in ("127.0.0.1", "localhost", "mcp.pinned.test")]
        security = TransportSecuritySettings(allowed_hosts=hosts)
        server.run("streamable-http", host="127.0.0.1", port=port, transport_security=security)
    else:
        server.run("stdio")
