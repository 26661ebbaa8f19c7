"""Webhooks: the account's endpoints (list, create with the signing secret shown once, delete) and each
one's delivery log, through the API's own functions (`agentcron.api.webhooks`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from agentcron.api.webhooks import (
    WebhookCreate,
    create_webhook,
    delete_webhook,
    fetch_webhook,
    list_deliveries,
    list_webhooks,
)
from agentcron.api.wire import decode_fields
from agentcron.errors import ApiError
from agentcron.store.base import ListQuery
from agentcron.store.notices import EVENT_TYPES
from agentcron.store.resources import TASK
from agentcron.web.access import Viewer, checked_form, viewer
from agentcron.web.task_form import field_of

WEBHOOK_FIELDS = frozenset({"url", "events", "taskId", "description"})


async def _page(who: Viewer, **extra: Any) -> dict[str, Any]:
    webhooks = await list_webhooks(who.ctx, who.account_id, ListQuery(take=100))
    tasks = await who.ctx.store.list_page(TASK, who.account_id, ListQuery(take=100))
    return {
        "webhooks": webhooks,
        "tasks": [{"id": t["id"], "name": t["name"]} for t in tasks],
        "task_names": {t["id"]: t["name"] or t["id"] for t in tasks},
        "event_types": EVENT_TYPES,
        "errors": {},
        "v": {"events": list(EVENT_TYPES)},
        "csrf": who.csrf,
        "section": "Webhooks",
        "now": who.now,
        **extra,
    }


@get("/app/webhooks", name="console-webhooks")
async def webhooks_page(request: Request[Any, Any, Any]) -> Template:
    who = await viewer(request)
    return Template("webhooks.html", context=await _page(who))


@post("/app/webhooks", name="console-webhook-create", status_code=200)
async def create(request: Request[Any, Any, Any]) -> Template:
    """Create a webhook; the page then shows its signing secret, this once."""
    who, form = await checked_form(request)
    values = {
        "url": str(form.get("url") or "").strip(),
        "events": [e for e in form.getall("events", []) if isinstance(e, str)],
        "taskId": str(form.get("taskId") or "").strip() or None,
        "description": str(form.get("description") or "").strip() or None,
    }
    try:
        body = decode_fields(WebhookCreate, {k: v for k, v in values.items() if v is not None})
        created = await create_webhook(who.ctx, who.account_id, body)
    except ApiError as e:
        errors = {field_of(e.message, WEBHOOK_FIELDS) or "form": e.message}
        return Template("webhooks.html", context=await _page(who, errors=errors, v=values), status_code=e.status)
    return Template("webhooks.html", context=await _page(who, created=created))


@post("/app/webhooks/{webhook_id:str}/delete", name="console-webhook-delete", status_code=303)
async def delete(request: Request[Any, Any, Any], webhook_id: str) -> Redirect:
    who, _ = await checked_form(request)
    await delete_webhook(who.ctx, who.account_id, webhook_id)
    return Redirect("/app/webhooks", status_code=303)


@get("/app/webhooks/{webhook_id:str}", name="console-webhook")
async def deliveries_page(request: Request[Any, Any, Any], webhook_id: str) -> Template:
    """A webhook and its delivery log, newest first."""
    who = await viewer(request)
    webhook = await fetch_webhook(who.ctx, who.account_id, webhook_id)
    deliveries = await list_deliveries(who.ctx, who.account_id, webhook_id, ListQuery(take=100))
    context = {"w": webhook, "deliveries": deliveries, "csrf": who.csrf, "section": "Webhooks", "now": who.now}
    return Template("webhook.html", context=context)


def webhook_routes() -> list[Any]:
    return [webhooks_page, create, delete, deliveries_page]
