"""What request handlers need, held in ``app.state.ctx``: settings, store, clock, the lifecycle signals
(how the API tells the scheduler and workers of this process what it changed) and the event bus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from agentcron.api.auth import account_of
from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.events import EventBus
from agentcron.signals import Signals
from agentcron.store.base import Store


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    store: Store
    clock: Clock
    signals: Signals
    events: EventBus


def ctx_of(request: Request[Any, Any, Any]) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def authed(request: Request[Any, Any, Any]) -> tuple[AppContext, str]:
    """The app context and the authenticated account id (raises `ApiError` 401)."""
    ctx = ctx_of(request)
    return ctx, await account_of(request, ctx.store)
