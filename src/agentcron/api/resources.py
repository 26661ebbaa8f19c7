"""Bots, contacts and conversations: the neighbour resources tasks reference."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from agentcron import ids
from agentcron.api.context import AppContext, authed
from agentcron.api.crud import ResourceApi, check_bot_contact, require_ref, routes
from agentcron.api.paging import parse_list_query, respond_list
from agentcron.api.schemas import BotWrite, ContactWrite, ConversationWrite
from agentcron.api.wire import negotiate
from agentcron.engine import mcp_servers
from agentcron.engine.ability_config import ConfigProblem, check_abilities
from agentcron.engine.models import ModelConfigError, parse_model
from agentcron.errors import ApiError, not_found
from agentcron.store.base import ListQuery
from agentcron.store.db import Row, Tx
from agentcron.store.resources import BOT, CONTACT, CONVERSATION, MESSAGE, TASK


def _unlink_tasks(column: str) -> Any:
    async def on_delete(ctx: AppContext, tx: Tx, account_id: str, row: Row) -> bool:
        await ctx.store.tasks.unlink(tx, account_id, column, row["id"])
        return False

    return on_delete


async def _contact_defaults(
    ctx: AppContext, tx: Tx, account_id: str, fields: dict[str, Any], existing: Row | None, now: int
) -> dict[str, Any]:
    # The SDK types declare `fingerprint` a required string on every contact: mint one if none is sent.
    if existing is None and not fields.get("fingerprint"):
        return {"fingerprint": ids.new_id(now)}
    if existing is not None and "fingerprint" in fields and not fields["fingerprint"]:
        return {"fingerprint": existing["fingerprint"]}
    return {}


async def _bot_checks(
    ctx: AppContext, tx: Tx, account_id: str, fields: dict[str, Any], existing: Row | None, now: int
) -> dict[str, Any]:
    # The sent model and abilities must be usable, by the rules a run applies, MCP servers named by the
    # ones the operator declares; whether an API key is configured is left to the run (the configuration
    # may change after the bot is written, so runs check the MCP servers again).
    model = fields.get("model")
    if model and model.strip():  # empty: the server's default model
        try:
            parse_model(model)
        except ModelConfigError as e:
            raise ApiError(400, f"Invalid model: {e}") from None
    if fields.get("abilities") is not None:
        try:
            check_abilities(msgspec.to_builtins(fields["abilities"]), mcp_servers.declared(ctx.settings))
        except ConfigProblem as p:
            raise ApiError(400, f"Invalid {p.field}: {p.reason}") from None
    return {}


async def _conversation_refs(
    ctx: AppContext, tx: Tx, account_id: str, fields: dict[str, Any], existing: Row | None, now: int
) -> dict[str, Any]:
    await check_bot_contact(ctx, tx, account_id, fields)
    if fields.get("taskId") is not None:
        await require_ref(ctx, tx, account_id, TASK, fields["taskId"], "Task")
    return {}


async def _conversation_messages(
    ctx: AppContext, tx: Tx, account_id: str, conversation_id: str, fields: dict[str, Any], now: int
) -> None:
    for i, message in enumerate(fields.get("messages") or []):
        await ctx.store.insert(
            MESSAGE,
            {
                "id": ids.new_id(now + i),
                "account_id": account_id,
                "conversation_id": conversation_id,
                "type": message.type,
                "text": message.text,
                "meta": None,
                # Keep the given order: ids embed created_at (the cursor), so space messages 1 ms apart.
                "created_at": now + i,
                "updated_at": now,
            },
            tx,
        )


BOTS = ResourceApi(
    BOT,
    BotWrite,
    json_fields=frozenset({"meta", "abilities"}),
    prepare=_bot_checks,
    on_delete=_unlink_tasks("bot_id"),
)
CONTACTS = ResourceApi(CONTACT, ContactWrite, prepare=_contact_defaults, on_delete=_unlink_tasks("contact_id"))
CONVERSATIONS = ResourceApi(
    CONVERSATION,
    ConversationWrite,
    filters={"botId": "bot_id", "contactId": "contact_id", "taskId": "task_id"},
    prepare=_conversation_refs,
    after_create=_conversation_messages,
)


@get("/api/v1/conversation/{conversation_id:str}/message/list", operation_id="conversationMessageList")
async def message_list(request: Request[Any, Any, Any], conversation_id: FromPath[str]) -> Response[Any]:
    ctx, account_id = await authed(request)
    fmt = negotiate(request)
    if not await ctx.store.exists(CONVERSATION, account_id, conversation_id):
        raise not_found()
    query, total = parse_list_query(request)

    async def fetch(q: ListQuery) -> list[dict[str, Any]]:
        rows = await ctx.store.list_page(MESSAGE, account_id, q, parent_id=conversation_id)
        return [MESSAGE.to_wire(r) for r in rows]

    return await respond_list(request, fmt, fetch, query, total)


def resource_routes() -> list[HTTPRouteHandler]:
    return [*routes(BOTS), *routes(CONTACTS), *routes(CONVERSATIONS), message_list]
