"""What every ability's tools share within one run, and the error an unusable ability config raises.

Its own module so that `abilities` and `mcp` both depend on it and never on each other at import time
(`abilities` loads `mcp` only when a bot has an ``mcp`` ability).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from agentcron.engine import net
from agentcron.engine.mcp_servers import NONE, McpServers


class AbilityConfigError(ValueError):
    """An ability's config cannot be used; the message names the ability."""


@dataclass(slots=True)
class ToolEnv:
    """What tools of one run share: the HTTP client, the outbound allow list and the MCP servers the
    operator declares (`mcp_servers.declared`)."""

    client: httpx.AsyncClient
    allow: net.AllowList
    mcp_servers: McpServers = field(default_factory=lambda: NONE)
