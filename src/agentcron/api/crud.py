"""Create / list / fetch / update / delete handlers shared by every resource (``/api/v1/<name>/...``).

A `ResourceApi` describes one resource; `routes` turns it into Litestar handlers. Resource-specific
behaviour (reference checks, derived columns, delete side effects) lives in its hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response.base import ASGIResponse

from agentcron import ids
from agentcron.api.context import AppContext, authed
from agentcron.api.paging import parse_list_query, respond_list
from agentcron.api.schemas import clean_meta, present
from agentcron.api.wire import json_asgi, json_page, json_response, negotiate, read_body
from agentcron.errors import not_found
from agentcron.store.base import ListQuery
from agentcron.store.db import Row, Tx
from agentcron.store.resources import BOT, CONTACT, Resource, json_in

#: prepare(ctx, tx, account_id, fields sent, existing row or None, now) -> extra/overridden columns;
#: raises `ApiError` to refuse the write.
Prepare = Callable[[AppContext, Tx, str, dict[str, Any], Row | None, int], Awaitable[dict[str, Any]]]
#: after_create(ctx, tx, account_id, new id, fields sent, now): writes that belong to the new row.
AfterCreate = Callable[[AppContext, Tx, str, str, dict[str, Any], int], Awaitable[None]]
#: committed(ctx, id, columns written): after the write committed (signals to the rest of the process).
Committed = Callable[[AppContext, str, dict[str, Any]], None]
#: answer(ctx, row as written): extra fields of the create/update answer besides ``id`` (e.g. warnings).
Answer = Callable[[AppContext, dict[str, Any]], dict[str, Any]]
#: on_delete(ctx, tx, account_id, row) -> True if the hook deleted (or scheduled deletion of) the row
OnDelete = Callable[[AppContext, Tx, str, Row], Awaitable[bool]]
#: enrich(ctx, wire items): adds computed fields to fetched and listed items in place (one call per page)
Enrich = Callable[[AppContext, list[dict[str, Any]]], Awaitable[None]]
#: enrich_json(ctx, items as JSON texts) -> texts whose comma-join is the items with the computed fields (pages
#: the database wrote)
EnrichJson = Callable[[AppContext, list[str]], Awaitable[list[str]]]


@dataclass(frozen=True)
class ResourceApi:
    res: Resource
    write: type[msgspec.Struct]
    filters: dict[str, str] = field(default_factory=dict)
    prepare: Prepare | None = None
    on_delete: OnDelete | None = None
    after_create: AfterCreate | None = None
    committed: Committed | None = None
    answer: Answer | None = None
    #: query parameter -> column: ``true`` lists rows where the column is set, ``false`` where it is null
    presence_filters: dict[str, str] = field(default_factory=dict)
    #: wire fields stored as JSON
    json_fields: frozenset[str] = frozenset({"meta"})
    #: defaults for create, by column
    defaults: dict[str, Any] = field(default_factory=dict)
    enrich: Enrich | None = None
    #: `enrich` for a page of items the database wrote as JSON (required with `enrich`)
    enrich_json: EnrichJson | None = None


def columns_from(api: ResourceApi, fields: dict[str, Any], existing: Row | None) -> dict[str, Any]:
    """Map sent wire fields to column values; ``meta`` is cleaned and may merge via ``{"$update":{}}``."""
    out: dict[str, Any] = {}
    for wire, value in fields.items():
        if wire == "meta" and isinstance(value, dict):
            if set(value) == {"$update"} and isinstance(value["$update"], dict):
                old = existing["meta"] if existing is not None else None
                base = msgspec.json.decode(old) if isinstance(old, str) else (old or {})
                value = {**base, **clean_meta(value["$update"])}
            else:
                value = clean_meta(value)
        if not api.res.has(wire):
            continue  # handled by a hook (e.g. conversation messages)
        if wire in ("name", "description") and value is None:
            value = ""
        column = api.res.column_for(wire)
        out[column] = json_in(value) if wire in api.json_fields else value
    return out


async def require_ref(ctx: AppContext, tx: Tx, account_id: str, res: Resource, ref: Any, label: str) -> None:
    """Raise 404 ``<label> not found`` unless ``ref`` is None or names a row of this account."""
    if ref is not None and not await ctx.store.exists(res, account_id, ref, tx):
        raise not_found(f"{label} not found")


async def check_bot_contact(ctx: AppContext, tx: Tx, account_id: str, fields: dict[str, Any]) -> None:
    if "botId" in fields:
        await require_ref(ctx, tx, account_id, BOT, fields["botId"], "Bot")
    if "contactId" in fields:
        await require_ref(ctx, tx, account_id, CONTACT, fields["contactId"], "Contact")


async def create_item(api: ResourceApi, ctx: AppContext, account_id: str, body: msgspec.Struct) -> dict[str, Any]:
    """Create a row of ``api``'s resource from a decoded write body; the answer ``{"id", ...extra}``.
    Raises `ApiError` from the resource's checks (the console calls this too: one set of rules)."""
    res = api.res
    fields = present(body)
    now = ctx.clock.now_ms()
    row: dict[str, Any] = {"name": "", "description": "", **api.defaults}
    row.update(columns_from(api, fields, None))
    new_id = ids.new_id(now)
    row.update(id=new_id, account_id=account_id, created_at=now, updated_at=now)
    async with ctx.store.transaction() as tx:
        if api.prepare is not None:
            row.update(await api.prepare(ctx, tx, account_id, fields, None, now))
        await ctx.store.insert(res, row, tx)
        if api.after_create is not None:
            await api.after_create(ctx, tx, account_id, new_id, fields, now)
    if api.committed is not None:
        api.committed(ctx, new_id, row)
    return {"id": new_id, **(api.answer(ctx, row) if api.answer is not None else {})}


async def update_item(
    api: ResourceApi, ctx: AppContext, account_id: str, item_id: str, body: msgspec.Struct
) -> dict[str, Any]:
    """Update the fields sent in ``body``; the answer ``{"id", ...extra}``. Raises `ApiError` 404 for a row
    this account does not have, and the resource's checks."""
    res = api.res
    fields = present(body)
    store = ctx.store
    async with store.transaction() as tx:
        existing = await store.get_row(res, account_id, item_id, tx)
        if existing is None:
            raise not_found()
        now = ctx.clock.now_ms()
        changes = columns_from(api, fields, existing)
        if api.prepare is not None:
            changes.update(await api.prepare(ctx, tx, account_id, fields, existing, now))
        changes["updated_at"] = now
        await store.update(res, account_id, item_id, changes, tx)
    if api.committed is not None:
        api.committed(ctx, item_id, changes)
    extra = api.answer(ctx, {**existing, **changes}) if api.answer is not None else {}
    return {"id": item_id, **extra}


async def delete_item(api: ResourceApi, ctx: AppContext, account_id: str, item_id: str) -> None:
    """Delete the row (through the resource's ``on_delete`` hook). Raises `ApiError` 404 for a row this
    account does not have."""
    store = ctx.store
    async with store.transaction() as tx:
        existing = await store.get_row(api.res, account_id, item_id, tx)
        if existing is None:
            raise not_found()
        handled = api.on_delete is not None and await api.on_delete(ctx, tx, account_id, existing)
        if not handled:
            await store.delete(api.res, account_id, item_id, tx)


def routes(api: ResourceApi, prefix: str = "/api/v1") -> list[HTTPRouteHandler]:
    res = api.res
    base = f"{prefix}/{res.name}"
    write_type = api.write

    async def create(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx, account_id = await authed(request)
        return json_response(await create_item(api, ctx, account_id, await read_body(request, write_type)))

    async def list_items(request: Request[Any, Any, Any]) -> ASGIResponse:
        ctx, account_id = await authed(request)
        fmt = negotiate(request)
        query, total = parse_list_query(request, api.filters, api.presence_filters)
        if fmt == "json":  # the database writes the items' JSON (the hot path: no per-row Python)
            page = await ctx.store.list_page_json(res, account_id, query)
            if page is not None:
                items, last = page
                if api.enrich_json is not None:
                    items = await api.enrich_json(ctx, items)
                return json_page(items, last or request.query_params.get("cursor") or "")

        async def fetch(q: ListQuery) -> list[dict[str, Any]]:
            items = [res.to_wire(r) for r in await ctx.store.list_page(res, account_id, q)]
            if api.enrich is not None:
                await api.enrich(ctx, items)
            return items

        response = await respond_list(request, fmt, fetch, query, total)
        return response.to_asgi_response(app=None, request=request)

    async def fetch_one(request: Request[Any, Any, Any]) -> ASGIResponse:
        # The id comes straight from the route match: a declared path parameter would cost a signature
        # model conversion per request on the hottest endpoint.
        ctx, account_id = await authed(request)
        item = await ctx.store.get(res, account_id, request.path_params["item_id"])
        if item is None:
            raise not_found()
        if api.enrich is not None:
            await api.enrich(ctx, [item])
        return json_asgi(item)

    async def update(request: Request[Any, Any, Any], item_id: FromPath[str]) -> Response[bytes]:
        ctx, account_id = await authed(request)
        body = await read_body(request, write_type)
        return json_response(await update_item(api, ctx, account_id, item_id, body))

    async def delete(request: Request[Any, Any, Any], item_id: FromPath[str]) -> Response[bytes]:
        ctx, account_id = await authed(request)
        await delete_item(api, ctx, account_id, item_id)
        return json_response({"id": item_id})

    return [
        post(f"{base}/create", name=f"{res.name}-create", operation_id=f"{res.name}Create")(create),
        get(f"{base}/list", name=f"{res.name}-list", operation_id=f"{res.name}List")(list_items),
        get(f"{base}/{{item_id:str}}/fetch", name=f"{res.name}-fetch", operation_id=f"{res.name}Fetch")(fetch_one),
        post(f"{base}/{{item_id:str}}/update", name=f"{res.name}-update", operation_id=f"{res.name}Update")(update),
        post(f"{base}/{{item_id:str}}/delete", name=f"{res.name}-delete", operation_id=f"{res.name}Delete")(delete),
    ]
