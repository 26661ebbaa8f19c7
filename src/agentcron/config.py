"""Settings, built from an injected environment mapping (``AGENTCRON_*``) and CLI overrides.

No module-level settings object exists: every component receives the `Settings` it runs with.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./data/agentcron.db"
ROLES = ("all", "api", "scheduler", "worker")
ROLE_PARTS = ("api", "scheduler", "worker")


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    #: ``sqlite:///path`` (default, embedded) or ``postgresql://...`` (distributed engine).
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    #: ``all`` runs API, scheduler and worker in one process; else a comma list of those roles.
    role: str = "all"
    #: Largest accepted request body; bigger bodies get 413.
    max_body_bytes: int = 1_048_576
    #: Execution lease length; renewed every third of it, reaped after it lapses.
    lease_ms: int = 30_000
    #: Per-account cap on executions running or queued at once (429 on trigger beyond it; 0 = no cap).
    max_concurrent_executions: int = 100
    #: Per-account cap on executions started in the rolling day (hourly buckets; 0 = no cap).
    max_executions_per_day: int = 100_000
    #: Executions older than this are pruned, in batches.
    retention_days: int = 90
    #: How many executions one worker process runs at once.
    worker_concurrency: int = 64
    #: Largest number of due slots one scheduler transaction claims.
    scheduler_batch: int = 1000
    #: A slot fired later than this after its due time counts as missed (misfire policies apply).
    misfire_grace_ms: int = 60_000
    #: For ``misfirePolicy: all``: missed slots older than this are not replayed (at most 100 are).
    misfire_window_ms: int = 3_600_000
    #: How often an idle scheduler/worker looks for work written by other processes.
    poll_ms: int = 250
    #: On SIGTERM, how long running executions may finish before their leases are released.
    shutdown_grace_ms: int = 10_000
    #: Shift this process's clock (ms). For tests and simulations only: run "in the future" without waiting.
    clock_offset_ms: int = 0
    #: Hosts/networks outbound HTTP abilities may reach even though they are private (comma list).
    http_allow: tuple[str, ...] = field(default_factory=tuple)
    #: Programs ``mcp`` abilities may start as stdio servers (the first element of ``config.command``, by path
    #: or bare name); ``*`` allows any. Empty (default): stdio MCP is off, since a bot's config would otherwise
    #: run commands on the worker. MCP over HTTP (``config.url``) needs no entry.
    mcp_stdio_allow: tuple[str, ...] = field(default_factory=tuple)
    #: Model of bots whose ``model`` is empty (``provider:model``; ``test`` is the built-in offline model).
    default_model: str = "test"
    #: OpenAI-compatible endpoint for ``openai:`` models (Ollama, vLLM, llama.cpp, LM Studio...); empty: OpenAI.
    openai_base_url: str = ""
    #: API key for ``openai:`` models; empty: ``OPENAI_API_KEY``, or a placeholder when a base URL is set.
    openai_api_key: str = ""
    #: API key for ``anthropic:`` models (needs the ``anthropic`` extra); empty: ``ANTHROPIC_API_KEY``.
    anthropic_api_key: str = ""
    #: Timeout of one model request.
    model_timeout_ms: int = 120_000
    #: Retries of a model request after a rate limit, server error, timeout or connection error.
    model_retries: int = 4
    #: First retry delay; doubles per attempt (capped at 30 s), or the provider's Retry-After when longer.
    model_retry_ms: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``AGENTCRON_<FIELD>`` variables, then apply non-None ``overrides``.

        Raises `ConfigError` when a variable cannot be converted to its field's type.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get("AGENTCRON_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        parts = [p.strip() for p in settings.role.split(",") if p.strip()]
        if not parts or any(p not in ROLES for p in parts):
            raise ConfigError(
                f"AGENTCRON_ROLE must be 'all' or a comma list of {', '.join(ROLE_PARTS)}, not {settings.role!r}"
            )
        return settings

    @property
    def roles(self) -> frozenset[str]:
        parts = {p.strip() for p in self.role.split(",") if p.strip()}
        return frozenset(ROLE_PARTS) if "all" in parts else frozenset(parts)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))


def _convert(name: str, typ: Any, raw: str) -> Any:
    type_name = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    if type_name == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"AGENTCRON_{name.upper()} must be an integer, not {raw!r}") from None
    if type_name.startswith("tuple"):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    return raw
