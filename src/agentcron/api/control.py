"""Task controls (extensions): pause and resume.

While paused a task's ``nextRunAt`` is null and no scheduled slot fires; a manual trigger still runs and a
running execution is not interrupted. Resume computes the next slot from now: slots that passed while
paused are not run (a pause is not an outage). A pause with ``until`` ends by itself then (the scheduler
resumes it within a second).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from agentcron.api.context import authed
from agentcron.api.schemas import Empty, PauseBody
from agentcron.api.wire import json_response, read_body
from agentcron.errors import ApiError
from agentcron.signals import ScheduleChanged, TaskPaused, TasksResumed


@post("/api/v1/task/{task_id:str}/pause", operation_id="taskPause")
async def pause(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Pause the task (``{"reason"?, "until"?}``); pausing a paused task replaces its reason and until."""
    ctx, account_id = await authed(request)
    body = await read_body(request, PauseBody)
    now = ctx.clock.now_ms()
    if body.until is not None and body.until <= now:
        raise ApiError(
            400, f"Invalid until: {body.until} is not in the future (epoch milliseconds; now is {now}), or omit it"
        )
    await ctx.store.tasks.pause(account_id, task_id, now, body.reason, body.until)
    ctx.signals.emit(TaskPaused(task_id, body.until))
    return json_response({"id": task_id})


@post("/api/v1/task/{task_id:str}/resume", operation_id="taskResume")
async def resume(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """Resume the task: its next slot from now. A no-op 200 when it is not paused."""
    ctx, account_id = await authed(request)
    await read_body(request, Empty)
    if await ctx.store.tasks.resume(account_id, task_id, ctx.clock.now_ms()):
        ctx.signals.emit(TasksResumed([task_id]))
        ctx.signals.emit(ScheduleChanged(task_id))
    return json_response({"id": task_id})


def control_routes() -> list[HTTPRouteHandler]:
    return [pause, resume]
