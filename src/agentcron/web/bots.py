"""Bots (list, create, edit with model and abilities) and contacts (list).

Bot forms are decoded with the API's `BotWrite` and written by `create_item` / `update_item` with the bot
resource's checks (the model must be usable, every ability's config valid), so the messages are the API's.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.response import Redirect, Template

from agentcron.api.crud import create_item, update_item
from agentcron.api.resources import BOTS
from agentcron.api.schemas import BotWrite
from agentcron.api.wire import decode_fields
from agentcron.errors import ApiError, not_found
from agentcron.store.base import ListQuery
from agentcron.store.resources import BOT, CONTACT
from agentcron.web.access import Viewer, checked_form, viewer
from agentcron.web.task_form import field_of

LIST_TAKE = 100
BOT_FIELDS = frozenset({"name", "model", "description", "abilities"})


@get("/app/bots", name="console-bots")
async def bots_page(request: Request[Any, Any, Any]) -> Template:
    who = await viewer(request)
    rows = await who.ctx.store.list_page(BOT, who.account_id, ListQuery(take=LIST_TAKE))
    bots = [BOT.to_wire(r) for r in rows]
    return Template("bots.html", context={"bots": bots, "csrf": who.csrf, "section": "Bots", "now": who.now})


@get("/app/contacts", name="console-contacts")
async def contacts_page(request: Request[Any, Any, Any]) -> Template:
    who = await viewer(request)
    rows = await who.ctx.store.list_page(CONTACT, who.account_id, ListQuery(take=LIST_TAKE))
    contacts = [CONTACT.to_wire(r) for r in rows]
    return Template("contacts.html", context={"contacts": contacts, "csrf": who.csrf, "section": "Contacts"})


def _values(bot: dict[str, Any] | None) -> dict[str, str]:
    if bot is None:
        return {"name": "", "model": "", "description": "", "abilities": "[]"}
    abilities = bot.get("abilities") or []
    return {
        "name": bot.get("name") or "",
        "model": bot.get("model") or "",
        "description": bot.get("description") or "",
        "abilities": msgspec.json.format(msgspec.json.encode(abilities), indent=2).decode(),
    }


def _form(
    who: Viewer, bot: dict[str, Any] | None, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Template:
    context = {
        "bot": bot,
        "v": values,
        "errors": errors,
        "default_model": who.ctx.settings.default_model,
        "csrf": who.csrf,
        "section": "Bots",
    }
    return Template("bot_form.html", context=context, status_code=status)


async def _load(who: Viewer, bot_id: str) -> dict[str, Any]:
    bot = await who.ctx.store.get(BOT, who.account_id, bot_id)
    if bot is None:
        raise not_found()
    return dict(bot)


@get("/app/bots/new", name="console-bot-new")
async def new_bot(request: Request[Any, Any, Any]) -> Template:
    who = await viewer(request)
    return _form(who, None, _values(None), {})


@get("/app/bots/{bot_id:str}/edit", name="console-bot-edit")
async def edit_bot(request: Request[Any, Any, Any], bot_id: str) -> Template:
    who = await viewer(request)
    bot = await _load(who, bot_id)
    return _form(who, bot, _values(bot), {})


async def _save(request: Request[Any, Any, Any], bot_id: str | None) -> Template | Redirect:
    who, form = await checked_form(request)
    bot = await _load(who, bot_id) if bot_id is not None else None
    values = {k: str(form.get(k) or "") for k in ("name", "model", "description", "abilities")}
    fields: dict[str, Any] = {k: values[k].strip() for k in ("name", "model", "description")}
    text = values["abilities"].strip()
    try:
        try:
            fields["abilities"] = msgspec.json.decode(text) if text else []
        except msgspec.DecodeError as e:
            raise ApiError(400, f"Invalid abilities: not JSON ({e}); write a list such as []") from None
        body = decode_fields(BotWrite, fields)
        if bot_id is None:
            await create_item(BOTS, who.ctx, who.account_id, body)
        else:
            await update_item(BOTS, who.ctx, who.account_id, bot_id, body)
    except ApiError as e:
        if e.status == 404 and e.message == "Not found":
            raise
        errors = {field_of(e.message, BOT_FIELDS) or "form": e.message}
        return _form(who, bot, values, errors, e.status)
    return Redirect("/app/bots", status_code=303)


@post("/app/bots/new", name="console-bot-create", status_code=303)
async def create_bot(request: Request[Any, Any, Any]) -> Template | Redirect:
    return await _save(request, None)


@post("/app/bots/{bot_id:str}/edit", name="console-bot-update", status_code=303)
async def update_bot(request: Request[Any, Any, Any], bot_id: str) -> Template | Redirect:
    return await _save(request, bot_id)


def bot_routes() -> list[Any]:
    return [bots_page, contacts_page, new_bot, edit_bot, create_bot, update_bot]
