"""agentcron: run AI agents as scheduled or on-demand tasks, behind a ChatBotKit-compatible Tasks API."""

from __future__ import annotations

__version__ = "0.1.0"
