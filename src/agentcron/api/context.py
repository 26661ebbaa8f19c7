"""What request handlers need, held in ``app.state.ctx``: settings, store, clock and the run services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request

from agentcron.api.auth import account_of
from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.store.base import Store


@dataclass(slots=True)
class AppContext:
    settings: Settings
    store: Store
    clock: Clock
    #: Set by the runtime when this process runs workers (in-process wake-ups, cancel signals).
    services: dict[str, Any] = field(default_factory=dict)


def ctx_of(request: Request[Any, Any, Any]) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def authed(request: Request[Any, Any, Any]) -> tuple[AppContext, str]:
    """The app context and the authenticated account id (raises `ApiError` 401)."""
    ctx = ctx_of(request)
    return ctx, await account_of(request, ctx.store)
