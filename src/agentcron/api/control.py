"""Task controls (extensions): pause, resume and backfill.

While paused a task's ``nextRunAt`` is null and no scheduled slot fires; a manual trigger still runs, a
running execution is not interrupted and retries still waiting are canceled. Resume computes the next slot
from now: slots that passed while paused are not run (a pause is not an outage). A pause with ``until`` ends
by itself then (the scheduler resumes it within a second).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from agentcron.api.context import AppContext, authed
from agentcron.api.schemas import BackfillBody, Empty, PauseBody
from agentcron.api.wire import json_response, read_body
from agentcron.errors import ApiError
from agentcron.signals import ExecutionsCanceled, ExecutionsQueued, ScheduleChanged, TaskPaused, TasksResumed


async def pause_task(ctx: AppContext, account_id: str, task_id: str, reason: str | None, until: int | None) -> None:
    """Pause the task. Raises `ApiError` 400 for an ``until`` not in the future, 404 for a task this account
    does not have."""
    now = ctx.clock.now_ms()
    if until is not None and until <= now:
        raise ApiError(
            400, f"Invalid until: {until} is not in the future (epoch milliseconds; now is {now}), or omit it"
        )
    dropped = await ctx.store.tasks.pause(account_id, task_id, now, reason, until)
    ctx.signals.emit(TaskPaused(task_id, until))
    if dropped:
        ctx.signals.emit(ExecutionsCanceled(dropped))


async def resume_task(ctx: AppContext, account_id: str, task_id: str) -> None:
    """Resume the task (a no-op when it is not paused). Raises `ApiError` 404 for a task this account does
    not have."""
    if await ctx.store.tasks.resume(account_id, task_id, ctx.clock.now_ms()):
        ctx.signals.emit(TasksResumed([task_id]))
        ctx.signals.emit(ScheduleChanged(task_id))


async def backfill_task(ctx: AppContext, account_id: str, task_id: str, from_: int, to: int) -> int:
    """Queue the task's slots in ``[from_, to)``; how many were queued. Raises `ApiError` 400 unless
    ``from_ < to <= now``, 404 for a task this account does not have."""
    now = ctx.clock.now_ms()
    if not from_ < to <= now:
        raise ApiError(
            400,
            f"Invalid range: expected from < to <= now (epoch milliseconds; now is {now}), "
            f"got from {from_} and to {to}",
        )
    runs = await ctx.store.tasks.backfill(account_id, task_id, from_, to, now)
    if runs:
        ctx.signals.emit(ExecutionsQueued(runs))
    return len(runs)


@post("/api/v1/task/{task_id:str}/pause", operation_id="taskPause")
async def pause(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Pause the task (``{"reason"?, "until"?}``); pausing a paused task replaces its reason and until."""
    ctx, account_id = await authed(request)
    body = await read_body(request, PauseBody)
    await pause_task(ctx, account_id, task_id, body.reason, body.until)
    return json_response({"id": task_id})


@post("/api/v1/task/{task_id:str}/resume", operation_id="taskResume")
async def resume(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Resume the task: its next slot from now. A no-op 200 when it is not paused."""
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    await resume_task(ctx, account_id, task_id)
    return json_response({"id": task_id})


@post("/api/v1/task/{task_id:str}/backfill", operation_id="taskBackfill")
async def backfill(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Queue one execution per slot of the task's schedule in ``[from, to)`` (at most 1,000), run one at a
    time in slot order; answers ``{"id", "count"}`` (slots that already have an execution are left out)."""
    ctx, account_id = await authed(request)
    body = await read_body(request, BackfillBody)
    count = await backfill_task(ctx, account_id, task_id, body.from_, body.to)
    return json_response({"id": task_id, "count": count})


def control_routes() -> list[HTTPRouteHandler]:
    return [pause, resume, backfill]
