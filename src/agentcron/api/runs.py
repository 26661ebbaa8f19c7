"""Run endpoints: trigger, cancel, execution list and execution cancel."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from agentcron.api.context import AppContext, authed
from agentcron.api.paging import parse_list_query, respond_list
from agentcron.api.schemas import Empty
from agentcron.api.wire import json_response, negotiate, read_body
from agentcron.errors import not_found
from agentcron.signals import ExecutionsCanceled, ExecutionsQueued
from agentcron.store.base import ListQuery
from agentcron.store.resources import EXECUTION, TASK


async def trigger_task(ctx: AppContext, account_id: str, task_id: str) -> None:
    """Queue a manual execution of the task. Raises `ApiError` 404 for a task this account does not have,
    429 at the account's caps."""
    s = ctx.settings
    run = await ctx.store.tasks.trigger(
        account_id, task_id, ctx.clock.now_ms(), s.max_concurrent_executions, s.max_executions_per_day
    )
    ctx.signals.emit(ExecutionsQueued([run]))


async def cancel_runs(ctx: AppContext, account_id: str, task_id: str, execution_id: str | None = None) -> int:
    """Cancel the task's queued and running executions (or only ``execution_id``); how many were canceled.
    Raises `ApiError` 404 for a task (or execution of it) this account does not have."""
    canceled = await ctx.store.tasks.cancel(account_id, task_id, ctx.clock.now_ms(), execution_id)
    if canceled:
        ctx.signals.emit(ExecutionsCanceled(canceled))
    return len(canceled)


@post("/api/v1/task/{task_id:str}/trigger", operation_id="taskTrigger")
async def trigger(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Queue an additional execution now (asynchronous; ``nextRunAt`` untouched). It runs after any
    execution of the task that is still active. 429 ``LIMITS_REACHED`` when the account is at a cap."""
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    await trigger_task(ctx, account_id, task_id)
    return json_response({"id": task_id})


@post("/api/v1/task/{task_id:str}/cancel", operation_id="taskCancel")
async def cancel(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Cancel every queued or running execution of the task (status ``canceled``, outcome ``failure``);
    the running bot is interrupted. A no-op 200 when nothing runs."""
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    await cancel_runs(ctx, account_id, task_id)
    return json_response({"id": task_id})


@post("/api/v1/task/{task_id:str}/execution/{execution_id:str}/cancel", operation_id="taskExecutionCancel")
async def cancel_execution(
    request: Request[Any, Any, Any], task_id: FromPath[str], execution_id: FromPath[str]
) -> Response[bytes]:
    """Cancel one execution; 404 unless it belongs to this task of this account. No-op when not active."""
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    await cancel_runs(ctx, account_id, task_id, execution_id)
    return json_response({"id": execution_id, "taskId": task_id})


@get("/api/v1/task/{task_id:str}/execution/{execution_id:str}/fetch", operation_id="taskExecutionFetch")
async def execution_fetch(
    request: Request[Any, Any, Any], task_id: FromPath[str], execution_id: FromPath[str]
) -> Response[bytes]:
    """One execution (extension); 404 unless it belongs to this task of this account."""
    ctx, account_id = await authed(request)
    row = await ctx.store.get_row(EXECUTION, account_id, execution_id)
    if row is None or row["task_id"] != task_id or not await ctx.store.exists(TASK, account_id, task_id):
        raise not_found()
    return json_response(EXECUTION.to_wire(row))


@get("/api/v1/task/{task_id:str}/execution/list", operation_id="taskExecutionList")
async def execution_list(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[Any]:
    """Run history, newest first by default; ``status`` filters (idle, running, canceled)."""
    ctx, account_id = await authed(request)
    fmt = negotiate(request)
    if not await ctx.store.exists(TASK, account_id, task_id):
        raise not_found()
    query, total = parse_list_query(request, {"status": "status", "outcome": "outcome"})

    async def fetch(q: ListQuery) -> list[dict[str, Any]]:
        rows = await ctx.store.list_page(EXECUTION, account_id, q, parent_id=task_id)
        return [EXECUTION.to_wire(r) for r in rows]

    return await respond_list(request, fmt, fetch, query, total)


def run_routes() -> list[HTTPRouteHandler]:
    return [trigger, cancel, cancel_execution, execution_fetch, execution_list]
