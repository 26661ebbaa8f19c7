"""An MCP server over streamable HTTP on 127.0.0.1 with N tools (``t000`` ... ), each answering after
``--delay`` seconds: a bot with it as its one ability makes a run of N tool calls and N + 1 model requests
on the offline ``test`` model (which calls every tool once). Used by bench/console.py.

    python bench/_mcp_many.py --port PORT [--tools 100] [--delay 0.01]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings


def _tool(i: int, delay: float) -> Callable[[str], str]:
    def tool(text: str) -> str:
        time.sleep(delay)
        return f"tool {i} saw {text!r}"

    tool.__name__ = f"t{i:03d}"
    tool.__doc__ = f"Tool number {i}: echoes its text."
    return tool


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tools", type=int, default=100)
    p.add_argument("--delay", type=float, default=0.01)
    args = p.parse_args()
    server = MCPServer("agentcron-bench")
    for i in range(args.tools):
        server.tool()(_tool(i, args.delay))
    security = TransportSecuritySettings(allowed_hosts=[f"127.0.0.1:{args.port}"])
    server.run("streamable-http", host="127.0.0.1", port=args.port, transport_security=security)


if __name__ == "__main__":
    main()
