"""Process wiring: open the store, build the app, start the roles this process runs, serve HTTP."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from litestar import Litestar

from agentcron.api.app import create_app
from agentcron.api.context import AppContext
from agentcron.clock import Clock, SystemClock
from agentcron.config import Settings
from agentcron.store.base import Store, open_store


def build_app(settings: Settings, clock: Clock | None = None) -> Litestar:
    """The ASGI app for ``settings``: the store opens (and migrates) on startup, closes on shutdown."""
    holder: dict[str, Any] = {}
    ctx = AppContext(settings=settings, store=None, clock=clock or SystemClock())  # type: ignore[arg-type]

    async def startup() -> None:
        store: Store = await open_store(settings.database_url)
        ctx.store = store
        holder["store"] = store

    async def shutdown() -> None:
        if "store" in holder:
            await holder["store"].close()

    return create_app(ctx, on_startup=[startup], on_shutdown=[shutdown])


def serve(settings: Settings) -> int:
    app = build_app(settings)
    print(
        f"agentcron listening on http://{settings.host}:{settings.port} (role {settings.role}, "
        f"database {settings.database_url})\n"
        f"Get an API secret: agentcron account create NAME"
        + (f" --database-url {settings.database_url}" if settings.database_url.startswith("sqlite") else ""),
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=max(1, settings.shutdown_grace_ms // 1000),
    )
    return 0
