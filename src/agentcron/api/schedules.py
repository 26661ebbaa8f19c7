"""Schedule previews (extensions): the next runs of a schedule, or of a saved task, with what daylight saving
time does to each (`agentcron.schedule_preview`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from agentcron.api.context import authed
from agentcron.api.schemas import PreviewBody
from agentcron.api.wire import json_response, read_body
from agentcron.errors import ApiError, not_found
from agentcron.schedule import ScheduleError
from agentcron.schedule_preview import PreviewRun, preview, warnings_of
from agentcron.store.resources import TASK

TAKE_DEFAULT, TAKE_MAX = 10, 100


def preview_schedule(schedule: str, timezone: str | None, after: int, take: int) -> list[PreviewRun]:
    """The next ``take`` runs of ``schedule`` in ``timezone`` after ``after``. Raises `ApiError` 400 with
    task create's message for a schedule or timezone that cannot be evaluated."""
    try:
        return preview(schedule, timezone, after, take)
    except ScheduleError as e:
        raise ApiError(400, str(e)) from None


def _answer(runs: list[PreviewRun]) -> Response[bytes]:
    items = [{"runAt": r.run_at, "localTime": r.local_time, "dst": r.dst} for r in runs]
    return json_response({"items": items, "warnings": warnings_of(runs)})


@post("/api/v1/schedule/preview", operation_id="schedulePreview", status_code=200)
async def schedule_preview(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The next ``take`` runs of ``schedule`` in ``timezone`` after ``after`` (default now); 400 with the
    messages of task create for a schedule or timezone that cannot be evaluated."""
    ctx, _account_id = await authed(request)
    body = await read_body(request, PreviewBody)
    after = ctx.clock.now_ms() if body.after is None else body.after
    return _answer(preview_schedule(body.schedule, body.timezone, after, body.take))


@get("/api/v1/task/{task_id:str}/preview", operation_id="taskPreview")
async def task_preview(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[bytes]:
    """The saved task's next runs (``take``, default 10, at most 100), in its timezone. A paused task
    has none, unless its pause ends (``pausedUntil``): then they start after that."""
    ctx, account_id = await authed(request)
    raw = request.query_params.get("take")
    try:
        take = TAKE_DEFAULT if raw in (None, "") else int(raw)
    except ValueError:
        take = 0
    if not 1 <= take <= TAKE_MAX:
        raise ApiError(400, f"Invalid take: {raw!r}; expected an integer from 1 to {TAKE_MAX}")
    task = await ctx.store.get_row(TASK, account_id, task_id)
    if task is None:
        raise not_found()
    after = ctx.clock.now_ms()
    if task["paused_at"] is not None:
        if task["paused_until"] is None:
            return _answer([])
        after = max(after, int(task["paused_until"]))
    try:
        runs = preview(task["schedule"], task["timezone"], after, take)
    except ScheduleError:  # valid when written, not any more (tzdata changed): nothing will run
        runs = []
    return _answer(runs)


def schedule_routes() -> list[HTTPRouteHandler]:
    return [schedule_preview, task_preview]
