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
from agentcron.errors import limits_reached, not_found
from agentcron.schedule import ScheduleError
from agentcron.slots import next_slot
from agentcron.store.base import ListQuery
from agentcron.store.db import Row, Tx
from agentcron.store.resources import EXECUTION, TASK
from agentcron.store.runs import NewExecution, RunStore


def _signal(ctx: AppContext, name: str, *args: Any) -> None:
    fn = ctx.services.get(name)
    if fn is not None:
        fn(*args)


async def _task_or_404(ctx: AppContext, tx: Tx, account_id: str, task_id: str) -> Row:
    task = await ctx.store.get_row(TASK, account_id, task_id, tx)  # (NUL-safe: the store guards ids)
    if task is None:
        raise not_found()
    return task


async def _after_cancel(ctx: AppContext, tx: Tx, task: Row, canceled: list[str], now: int) -> None:
    """The task is idle again; its next slot is recomputed from now (in its own timezone)."""
    if not canceled:
        return
    try:
        nxt = next_slot(task["schedule"], task["timezone"], now)
    except ScheduleError:
        nxt = None
    await tx.execute("UPDATE tasks SET next_run_at = $2 WHERE id = $1", task["id"], nxt)


@post("/api/v1/task/{task_id:str}/trigger", operation_id="taskTrigger")
async def trigger(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Queue an additional execution now (asynchronous; ``nextRunAt`` untouched). It runs after any
    execution of the task that is still active. 429 ``LIMITS_REACHED`` when the account is at a cap."""
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    runs = RunStore(ctx.store)
    s = ctx.settings
    now = ctx.clock.now_ms()
    async with ctx.store.db.tx(write=True) as tx:
        task = await _task_or_404(ctx, tx, account_id, task_id)
        usage = await runs.account_usage(tx, [account_id], now, s.max_concurrent_executions, s.max_executions_per_day)
        active, today = usage[account_id]
        if 0 < s.max_concurrent_executions <= active:
            raise limits_reached(
                f"Limit reached: {active} executions are queued or running (max {s.max_concurrent_executions})"
            )
        if 0 < s.max_executions_per_day <= today:
            raise limits_reached(
                f"Limit reached: {today} executions in the last 24 hours (max {s.max_executions_per_day})"
            )
        await runs.insert_executions(tx, [NewExecution(task, "trigger", None)], now)
        await runs.record_usage(tx, {account_id: 1}, now)
    _signal(ctx, "wake_worker")
    return json_response({"id": task_id})


@post("/api/v1/task/{task_id:str}/cancel", operation_id="taskCancel")
async def cancel(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Cancel every queued or running execution of the task (status ``canceled``, outcome ``failure``);
    the running bot is interrupted. A no-op 200 when nothing runs."""
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    now = ctx.clock.now_ms()
    async with ctx.store.db.tx(write=True) as tx:
        task = await _task_or_404(ctx, tx, account_id, task_id)
        canceled = await RunStore(ctx.store).cancel(tx, task_id, now)
        await _after_cancel(ctx, tx, task, canceled, now)
    _signal(ctx, "cancel_local", canceled)
    return json_response({"id": task_id})


@post("/api/v1/task/{task_id:str}/execution/{execution_id:str}/cancel", operation_id="taskExecutionCancel")
async def cancel_execution(
    request: Request[Any, Any, Any], task_id: FromPath[str], execution_id: FromPath[str]
) -> Response[bytes]:
    """Cancel one execution; 404 unless it belongs to this task of this account. No-op when not active."""
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    now = ctx.clock.now_ms()
    async with ctx.store.db.tx(write=True) as tx:
        task = await _task_or_404(ctx, tx, account_id, task_id)
        if "\x00" in execution_id:  # PostgreSQL text cannot hold NUL; such an id exists nowhere
            raise not_found()
        owned = await tx.fetchrow(
            "SELECT id FROM task_executions WHERE id = $1 AND task_id = $2 AND account_id = $3",
            execution_id,
            task_id,
            account_id,
        )
        if owned is None:
            raise not_found()
        canceled = await RunStore(ctx.store).cancel(tx, task_id, now, execution_id)
        await _after_cancel(ctx, tx, task, canceled, now)
    _signal(ctx, "cancel_local", canceled)
    return json_response({"id": execution_id, "taskId": task_id})


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
    return [trigger, cancel, cancel_execution, execution_list]
