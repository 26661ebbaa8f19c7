"""A tiny stdio MCP server for engine tests (the `mcp` package's MCPServer, formerly FastMCP).

Tools: ``add(a, b)`` and ``shout(text)``; ``fail()`` (raises) only with ``--with-fail``.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

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
    server.run("stdio")
