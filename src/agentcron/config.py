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
ROLES = ("all", "api", "scheduler", "worker", "deliverer")
ROLE_PARTS = ("api", "scheduler", "worker", "deliverer")


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


#: Variables of settings that no longer exist: set, they stop the process, saying what replaces them.
REMOVED = {
    "AGENTCRON_MCP_STDIO_ALLOW": (
        "bots no longer choose the programs the worker starts. Declare each stdio MCP server by name in "
        'AGENTCRON_MCP_SERVERS (a JSON object such as {"github": {"command": ["npx", "-y", '
        '"@modelcontextprotocol/server-github"], "tenantEnv": ["GITHUB_PERSONAL_ACCESS_TOKEN"]}}), point '
        'bots at it with {"type": "mcp", "config": {"server": "github"}}, and unset AGENTCRON_MCP_STDIO_ALLOW'
    ),
}


@dataclass(frozen=True, slots=True)
class Settings:
    #: ``sqlite:///path`` (default, embedded) or ``postgresql://...`` (distributed engine).
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    #: ``all`` runs API, scheduler, worker and webhook deliverer in one process; else a comma list of those roles.
    role: str = "all"
    #: Largest accepted request body; bigger bodies get 413.
    max_body_bytes: int = 1_048_576
    #: A request must arrive whole (request line, headers, body) within this long of its first byte, and a
    #: new connection must send one within it: else 408 and the connection is closed.
    request_timeout_ms: int = 30_000
    #: Connections one API process holds at once; one more gets 503 and is closed. Live subscriptions count:
    #: raise it for many subscribers (0: no cap).
    max_connections: int = 10_000
    #: Execution lease length; renewed every third of it, reaped after it lapses.
    lease_ms: int = 30_000
    #: Per-account cap on executions running or queued at once (429 on trigger beyond it; 0 = no cap).
    max_concurrent_executions: int = 100
    #: Per-account cap on executions started in the rolling day (hourly buckets; 0 = no cap).
    max_executions_per_day: int = 100_000
    #: Per-account cap on tokens (input + output, every run of every task) per day, the day in UTC (0 = no cap).
    #: Reached: runs stop at their next model request, slots are skipped (reason ``budget``), triggers get 429.
    account_tokens_per_day: int = 0
    #: Executions older than this are pruned, in batches.
    retention_days: int = 90
    #: How many executions one worker process runs at once.
    worker_concurrency: int = 64
    #: Largest number of due slots one scheduler transaction claims.
    scheduler_batch: int = 1000
    #: Scheduler ticks run at once, each its own transaction on its own connection (0: 2 where the database
    #: takes concurrent writers, PostgreSQL; 1 on SQLite). Concurrent ticks take disjoint batches.
    scheduler_concurrent_ticks: int = 0
    #: How long a second concurrent tick waits for the local worker to have room before it queues its batch.
    dispatch_wait_ms: int = 50
    #: Outcome batches written at once, each its own transaction (0: 2 on PostgreSQL, 1 on SQLite).
    outcome_writers: int = 0
    #: How long the outcome writer waits after a run ends to gather more outcomes into the same batch.
    outcome_batch_wait_ms: int = 2
    #: Database connections of the process's pool (PostgreSQL).
    database_pool_size: int = 10
    #: Extra connections kept for single-row reads such as ``fetch`` (PostgreSQL; 0: as many as the pool).
    database_read_connections: int = 0
    #: Live event delivery to a large audience waits for the rest of a burst, so each stream gets one write
    #: per burst: this long per subscribed stream, up to ``event_hold_max_us``, from ``event_hold_min_streams``.
    event_hold_per_stream_us: int = 5
    event_hold_max_us: int = 5000
    event_hold_min_streams: int = 100
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
    #: Hosts, host:port pairs and networks outbound HTTP abilities may reach even though they are not public
    #: (comma list; checked by `agentcron.engine.net.AllowList` when the process starts).
    http_allow: tuple[str, ...] = field(default_factory=tuple)
    #: The MCP servers ``mcp`` abilities may start over stdio, which bots name (``config.server``): a JSON
    #: object, or the path of a JSON file holding one, ``{"name": {"command": [program, args...], "env": {...},
    #: "tenantEnv": [names a bot may set], "cwd": dir}}``. Bots never choose a program. Empty (default): none.
    #: Parsed and checked by `agentcron.engine.mcp_servers` when the process starts. MCP over HTTP needs none.
    mcp_servers: str = ""
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
    #: Lowest level logged: DEBUG, INFO (default: a line per finished run, skipped slot, reaped run), WARNING,
    #: ERROR.
    log_level: str = "INFO"
    #: ``text`` or ``json`` (one JSON object per line); empty (default): text on a terminal, else json.
    log_format: str = ""
    #: 1: log a line per HTTP request (method, path without query, status, duration; never headers).
    access_log: int = 0
    #: A port serving ``/healthz``, ``/readyz`` and ``/metrics`` beside the roles (0: none). For processes
    #: without the API role, which otherwise open no port; with it, the API port serves the same.
    health_port: int = 0
    #: Key of the console's session cookies (any text; hashed to an AES-256 key). Empty: a random key per
    #: process (logged as a warning): sessions then end when the process restarts and are not shared by
    #: several API processes.
    session_key: str = ""
    #: Webhook deliveries: the first retry waits this long after a failed attempt (timeout, no answer, not 2xx),
    #: each later one twice the previous, each wait at most ``webhook_retry_max_ms``; a delivery still failing
    #: ``webhook_give_up_ms`` after its event is given up (status ``failed``).
    webhook_retry_ms: int = 5_000
    webhook_retry_max_ms: int = 600_000
    webhook_give_up_ms: int = 86_400_000
    #: One delivery attempt (connect, send, answer) must end within this long.
    webhook_timeout_ms: int = 10_000
    #: Deliveries one process sends at once.
    webhook_concurrency: int = 32
    #: Delivered and failed deliveries older than this are pruned.
    webhook_retention_days: int = 7

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``AGENTCRON_<FIELD>`` variables, then apply non-None ``overrides``.

        Raises `ConfigError` when a variable cannot be converted to its field's type.
        """
        env = os.environ if environ is None else environ
        for variable, replacement in REMOVED.items():
            if env.get(variable, "").strip():
                raise ConfigError(f"{variable} is no longer supported: {replacement}")
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

    def concurrent_ticks(self, concurrent_writes: bool) -> int:
        """`scheduler_concurrent_ticks`, or its default for a database that does (not) take concurrent writes."""
        return self.scheduler_concurrent_ticks or (2 if concurrent_writes else 1)

    def outcome_writer_count(self, concurrent_writes: bool) -> int:
        """`outcome_writers`, or its default for a database that does (not) take concurrent writes."""
        return self.outcome_writers or (2 if concurrent_writes else 1)


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
