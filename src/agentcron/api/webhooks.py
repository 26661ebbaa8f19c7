"""Webhooks (extension): an account's endpoints notified of run and task events, signed per the Standard
Webhooks specification. ``webhook/create`` answers the signing secret once; nothing shows it again.

The functions below take an account id and raise `ApiError`: the routes here and the web console use
them alike.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from msgspec import UNSET, Meta, UnsetType

from agentcron.api.context import AppContext, authed
from agentcron.api.paging import parse_list_query, respond_list
from agentcron.api.schemas import Empty, Id
from agentcron.api.wire import json_response, negotiate, read_body
from agentcron.engine.net import AllowList, BlockedAddress, check_url
from agentcron.errors import ApiError, not_found
from agentcron.store.base import ListQuery
from agentcron.store.notices import EVENT_TYPES
from agentcron.store.webhooks import DELIVERY, WEBHOOK

Url = Annotated[str, Meta(min_length=1, max_length=2048, description="an http or https URL, reachable from the server")]
EventType = Annotated[str, Meta(max_length=64, description="one of: " + ", ".join(EVENT_TYPES))]
Events = Annotated[list[EventType], Meta(min_length=1, max_length=len(EVENT_TYPES))]
Description = Annotated[str, Meta(max_length=1_024)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class WebhookCreate(_Body):
    """Body of ``webhook/create``: where to send, which events, and optionally one task's only."""

    url: Url
    events: Events
    taskId: Id | None = None
    description: Description | None = None


class WebhookUpdate(_Body):
    """Body of ``webhook/{id}/update``: the fields sent change (``taskId: null``: every task)."""

    url: Url | UnsetType = UNSET
    events: Events | UnsetType = UNSET
    taskId: Id | None | UnsetType = UNSET
    description: Description | None | UnsetType = UNSET


@lru_cache(maxsize=8)
def _allow(entries: tuple[str, ...]) -> AllowList:
    return AllowList.parse(entries)


#: how long a create or update waits for the URL's host name to resolve
RESOLVE_TIMEOUT = 5.0


async def _check_url(ctx: AppContext, url: str) -> None:
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await check_url(url, _allow(ctx.settings.http_allow))
    except BlockedAddress as e:
        raise ApiError(400, f"Invalid url: {e}") from None
    except TimeoutError:
        raise ApiError(400, f"Invalid url: its host did not resolve within {RESOLVE_TIMEOUT:g} s") from None


def _check_events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        expected = ", ".join(EVENT_TYPES)
        raise ApiError(400, f"Invalid events: unknown event type {unknown[0]!r}; expected some of {expected}")
    return list(dict.fromkeys(events))


async def create_webhook(ctx: AppContext, account_id: str, body: WebhookCreate) -> dict[str, str]:
    """Register a webhook: ``{"id", "secret"}``. 400 for a URL that may not be reached or an unknown event
    type, 404 for a task this account does not have."""
    events = _check_events(body.events)
    await _check_url(ctx, body.url)
    webhook_id, secret = await ctx.store.webhooks.create(
        account_id, body.url, events, body.taskId, body.description or "", ctx.clock.now_ms()
    )
    return {"id": webhook_id, "secret": secret}


async def update_webhook(ctx: AppContext, account_id: str, webhook_id: str, body: WebhookUpdate) -> None:
    """Change the fields sent. 404 for a webhook (or a task) this account does not have; 400 as create."""
    changes: dict[str, Any] = {f: v for f in body.__struct_fields__ if (v := getattr(body, f)) is not UNSET}
    if "events" in changes:
        changes["events"] = _check_events(changes["events"])
    if "url" in changes:
        await _check_url(ctx, changes["url"])
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    if not await ctx.store.webhooks.update(account_id, webhook_id, changes, ctx.clock.now_ms()):
        raise not_found()


async def fetch_webhook(ctx: AppContext, account_id: str, webhook_id: str) -> dict[str, Any]:
    """The webhook (never its secret); 404 when this account has none by that id."""
    item = await ctx.store.webhooks.get(account_id, webhook_id)
    if item is None:
        raise not_found()
    return item


async def delete_webhook(ctx: AppContext, account_id: str, webhook_id: str) -> None:
    """Delete the webhook and its deliveries (pending ones are not sent); 404 when there is none."""
    if not await ctx.store.webhooks.delete(account_id, webhook_id):
        raise not_found()


async def list_webhooks(ctx: AppContext, account_id: str, query: ListQuery) -> list[dict[str, Any]]:
    """One page of the account's webhooks."""
    return [WEBHOOK.to_wire(r) for r in await ctx.store.list_page(WEBHOOK, account_id, query)]


async def list_deliveries(ctx: AppContext, account_id: str, webhook_id: str, query: ListQuery) -> list[dict[str, Any]]:
    """One page of a webhook's deliveries; 404 when this account has no such webhook."""
    await fetch_webhook(ctx, account_id, webhook_id)
    return await _delivery_page(ctx, account_id, webhook_id, query)


async def _delivery_page(ctx: AppContext, account_id: str, webhook_id: str, query: ListQuery) -> list[dict[str, Any]]:
    """`list_deliveries` for a webhook already checked to be this account's."""
    rows = await ctx.store.list_page(DELIVERY, account_id, query, parent_id=webhook_id)
    return [DELIVERY.to_wire(r) for r in rows]


@post("/api/v1/webhook/create", operation_id="webhookCreate")
async def create(request: Request[Any, Any, Any]) -> Response[bytes]:
    ctx, account_id = await authed(request)
    body = await read_body(request, WebhookCreate)
    return json_response(await create_webhook(ctx, account_id, body))


@get("/api/v1/webhook/list", operation_id="webhookList")
async def list_items(request: Request[Any, Any, Any]) -> Response[Any]:
    ctx, account_id = await authed(request)
    fmt = negotiate(request)
    query, total = parse_list_query(request)

    async def fetch(q: ListQuery) -> list[dict[str, Any]]:
        return await list_webhooks(ctx, account_id, q)

    return await respond_list(request, fmt, fetch, query, total)


@get("/api/v1/webhook/{webhook_id:str}/fetch", operation_id="webhookFetch")
async def fetch_one(request: Request[Any, Any, Any], webhook_id: FromPath[str]) -> Response[bytes]:
    ctx, account_id = await authed(request)
    return json_response(await fetch_webhook(ctx, account_id, webhook_id))


@post("/api/v1/webhook/{webhook_id:str}/update", operation_id="webhookUpdate")
async def update(request: Request[Any, Any, Any], webhook_id: FromPath[str]) -> Response[bytes]:
    ctx, account_id = await authed(request)
    body = await read_body(request, WebhookUpdate)
    await update_webhook(ctx, account_id, webhook_id, body)
    return json_response({"id": webhook_id})


@post("/api/v1/webhook/{webhook_id:str}/delete", operation_id="webhookDelete")
async def delete(request: Request[Any, Any, Any], webhook_id: FromPath[str]) -> Response[bytes]:
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    await delete_webhook(ctx, account_id, webhook_id)
    return json_response({"id": webhook_id})


@get("/api/v1/webhook/{webhook_id:str}/delivery/list", operation_id="webhookDeliveryList")
async def delivery_list(request: Request[Any, Any, Any], webhook_id: FromPath[str]) -> Response[Any]:
    ctx, account_id = await authed(request)
    fmt = negotiate(request)
    query, total = parse_list_query(request, {"status": "status", "eventType": "event_type"})
    await fetch_webhook(ctx, account_id, webhook_id)  # 404 before a stream starts (once, not per page)

    async def fetch(q: ListQuery) -> list[dict[str, Any]]:
        return await _delivery_page(ctx, account_id, webhook_id, q)

    return await respond_list(request, fmt, fetch, query, total)


def webhook_routes() -> list[HTTPRouteHandler]:
    return [create, list_items, fetch_one, update, delete, delivery_list]
