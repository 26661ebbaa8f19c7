"""Task configuration endpoints: create, list, export, fetch, update, delete, contact/{id}/task/list.

Run-related endpoints (trigger, cancel, executions, subscribe) live in `agentcron.api.runs`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from agentcron.api.context import AppContext, authed
from agentcron.api.crud import ResourceApi, check_bot_contact, routes
from agentcron.api.imports import task_import_route
from agentcron.api.paging import FetchPage, parse_list_query, respond_list
from agentcron.api.schemas import RetryPolicy, TaskWrite
from agentcron.api.wire import negotiate
from agentcron.errors import ApiError, not_found
from agentcron.schedule import ScheduleError
from agentcron.schedule_preview import dst_warnings
from agentcron.signals import ScheduleChanged
from agentcron.slots import next_slot
from agentcron.store.base import ListQuery
from agentcron.store.db import Row, Tx
from agentcron.store.resources import CONTACT, TASK, TASK_EXPORT_OMIT, json_in

TASK_PRESENCE = {"paused": "paused_at"}
TASK_FILTERS = {
    "botId": "bot_id",
    "contactId": "contact_id",
    "status": "status",
    "blueprintId": "blueprint_id",
}


async def prepare_task(
    ctx: AppContext, tx: Tx, account_id: str, fields: dict[str, Any], existing: Row | None, now: int
) -> dict[str, Any]:
    """Validate references and the schedule; derive ``next_run_at``; store ``maxCalls`` (not a wire field).

    Raises `ApiError` 404 for a bot/contact this account does not have, 400 ``Invalid schedule: ...`` /
    ``Invalid timezone: ...`` for a schedule or timezone that cannot be evaluated. ``nextRunAt`` is
    recomputed from ``now`` whenever the schedule or the timezone is written (null when no future slot).
    400 ``Invalid retryPolicy: ...`` for a policy whose ``maxDelayMs`` is below its ``initialDelayMs``.
    """
    await check_bot_contact(ctx, tx, account_id, fields)
    out: dict[str, Any] = {}
    retry = fields.get("retryPolicy")
    if isinstance(retry, RetryPolicy):
        problem = retry.policy().problem()
        if problem is not None:
            raise ApiError(400, problem)
        out["retry_policy"] = json_in(retry.policy().to_wire())  # (every field, as the API answers it)
    if fields.get("maxIterations") == 0:
        out["max_iterations"] = None  # contract: 0 means null
    if "maxCalls" in fields:  # written, never answered (contract); 0 means null: the default, 10,000
        out["max_calls"] = fields["maxCalls"] or None
    for wire, column in (("schedule", "schedule"), ("timezone", "timezone")):
        if wire in fields:
            out[column] = fields[wire].strip() if fields[wire] else None
    if existing is None or "schedule" in fields or "timezone" in fields:
        schedule = out.get("schedule", existing["schedule"] if existing else None)
        timezone = out.get("timezone", existing["timezone"] if existing else None)
        try:
            out["next_run_at"] = next_slot(schedule, timezone, now)
        except ScheduleError as e:
            raise ApiError(400, str(e)) from None
        if existing is not None and existing["paused_at"] is not None:
            out["next_run_at"] = None  # an update keeps a paused task paused (resume computes the slot)
    return out


async def delete_task(ctx: AppContext, tx: Tx, account_id: str, row: Row) -> bool:
    return await ctx.store.tasks.delete(tx, row, ctx.clock.now_ms())


#: warnings a create or update answers with, at most
WARNINGS_MAX = 20


def _warnings(ctx: AppContext, row: dict[str, Any]) -> dict[str, Any]:
    """``{"warnings": [...]}`` when DST moves or doubles any of the task's runs in the next 366 days."""
    try:
        found = dst_warnings(row.get("schedule"), row.get("timezone"), ctx.clock.now_ms())
    except ScheduleError:  # (validated before the write; a schedule gone bad since has no warnings to give)
        return {}
    return {"warnings": found[:WARNINGS_MAX]} if found else {}


async def token_usage(ctx: AppContext, items: list[dict[str, Any]]) -> None:
    """``tokensUsed`` and ``budgetResetsAt`` (computed fields, null as read) of a page of tasks: one query per
    page, none when no task of it has a ``tokenBudget``."""
    await ctx.store.budgets.task_usage(items, ctx.clock.now_ms())


#: a task without a budget as the database writes its JSON (the computed fields follow ``tokenBudget``, null as
#: read): nothing to add. (On SQLite a ``meta`` holding this very text could make a page's
#: budgeted task read as one without: its own listing shows null usage, nothing else.)
_NO_BUDGET = '"tokenBudget":null,"tokensUsed":null,"budgetResetsAt":null,'


async def token_usage_json(ctx: AppContext, texts: list[str]) -> list[str]:
    """`token_usage` for a page the database wrote as JSON (``tokensUsed``/``budgetResetsAt`` already in
    place as nulls): tasks without a budget are left as they are (the usual case, and the hot path of
    task/list: one scan of the page, no per-row work); the others are decoded, computed with one query and
    written again."""
    if ",".join(texts).count(_NO_BUDGET) >= len(texts):
        return texts
    budgeted = [i for i, t in enumerate(texts) if _NO_BUDGET not in t]
    items = [msgspec.json.decode(texts[i]) for i in budgeted]
    await token_usage(ctx, items)
    out = list(texts)
    for i, item in zip(budgeted, items, strict=True):
        out[i] = msgspec.json.encode(item).decode()
    return out


def _rescheduled(ctx: AppContext, task_id: str, columns: dict[str, Any]) -> None:
    if "next_run_at" in columns:
        ctx.signals.emit(ScheduleChanged(task_id))


TASKS = ResourceApi(
    TASK,
    TaskWrite,
    filters=TASK_FILTERS,
    prepare=prepare_task,
    presence_filters=TASK_PRESENCE,
    on_delete=delete_task,
    committed=_rescheduled,
    answer=_warnings,
    json_fields=frozenset({"meta", "tokenBudget", "retryPolicy"}),
    enrich=token_usage,
    enrich_json=token_usage_json,
)


def export_pages(ctx: AppContext, account_id: str) -> FetchPage:
    """Pages of the account's tasks as ``task/export`` writes them (configuration, no run state)."""

    async def fetch(q: ListQuery) -> list[dict[str, Any]]:
        rows = await ctx.store.list_page(TASK, account_id, q)
        return [TASK.to_wire(r, TASK_EXPORT_OMIT) for r in rows]

    return fetch


@get("/api/v1/task/export", operation_id="taskExport")
async def export_tasks(request: Request[Any, Any, Any]) -> Response[Any]:
    """Task configurations without run state (nor the computed ``tokensUsed``/``budgetResetsAt``); the
    format comes only from Accept (CSV renders meta as YAML)."""
    ctx, account_id = await authed(request)
    fmt = negotiate(request)
    query, total = parse_list_query(request, TASK_FILTERS, TASK_PRESENCE)
    return await respond_list(request, fmt, export_pages(ctx, account_id), query, total, yaml_meta=True)


@get("/api/v1/contact/{contact_id:str}/task/list", operation_id="contactTaskList")
async def contact_task_list(request: Request[Any, Any, Any], contact_id: FromPath[str]) -> Response[Any]:
    ctx, account_id = await authed(request)
    fmt = negotiate(request)
    if not await ctx.store.exists(CONTACT, account_id, contact_id):
        raise not_found()
    query, total = parse_list_query(request, TASK_FILTERS, TASK_PRESENCE)
    query.equals["contact_id"] = [contact_id]

    async def fetch(q: ListQuery) -> list[dict[str, Any]]:
        items = [TASK.to_wire(r) for r in await ctx.store.list_page(TASK, account_id, q)]
        await token_usage(ctx, items)
        return items

    return await respond_list(request, fmt, fetch, query, total)


def task_routes() -> list[HTTPRouteHandler]:
    # export must be registered before the generic /{item_id}/... routes are matched; Litestar matches
    # static segments first, so order here is only for readability.
    return [export_tasks, task_import_route(TASKS), contact_task_list, *routes(TASKS)]
