"""The task page: its configuration, its run controls, its executions and 30 days of outcomes.

Every button posts a form (with the CSRF token) to an action here, which calls the API's own function
(`agentcron.api.runs`, `agentcron.api.control`, `agentcron.api.crud`) and comes back to the page with what
happened, or with the API's message when it refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get, post
from litestar.datastructures.multi_dicts import FormMultiDict
from litestar.handlers import HTTPRouteHandler
from litestar.response import Redirect, Template

from agentcron import ids
from agentcron.api.context import AppContext
from agentcron.api.control import backfill_task, pause_task, resume_task
from agentcron.api.crud import delete_item
from agentcron.api.runs import cancel_runs, trigger_task
from agentcron.api.tasks import TASKS
from agentcron.errors import ApiError, not_found
from agentcron.store.base import ListQuery
from agentcron.store.resources import CONTACT, EXECUTION, TASK
from agentcron.web.access import Viewer, checked_form, viewer
from agentcron.web.render import zone
from agentcron.web.tasks import bot_list, task_state

EXECUTIONS_TAKE = 25
DONE = {
    "triggered": "Run queued: it starts as soon as a worker is free.",
    "canceled": "Canceled the task's queued and running executions.",
    "canceled-one": "Execution canceled.",
    "paused": "Task paused: no scheduled run fires until it is resumed.",
    "resumed": "Task resumed: its next run is computed from now.",
    "saved": "Task saved.",
    "created": "Task created.",
}


async def load_task(who: Viewer, task_id: str) -> dict[str, Any]:
    """The task as the API shows it, plus ``state``. Raises `ApiError` 404 (another account's task too)."""
    task = await who.ctx.store.get(TASK, who.account_id, task_id)
    if task is None:
        raise not_found()
    task = dict(task)
    if TASKS.enrich is not None:  # computed fields (token budget usage)
        await TASKS.enrich(who.ctx, [task])
    task["state"] = task_state(task)
    return task


def execution_view(row: dict[str, Any]) -> dict[str, Any]:
    """An execution row (columns) as the task page shows it."""
    started, completed = row.get("started_at"), row.get("completed_at")
    status, outcome = row["status"], row["outcome"]
    active = status != "canceled" and outcome == "pending"
    return {
        "id": row["id"],
        "trigger": row.get("kind") or "",
        "scheduled_for": row.get("scheduled_for"),
        "started_at": started,
        "completed_at": completed,
        "duration": (completed - started) if started is not None and completed is not None else None,
        "status": ("waiting" if row.get("resume_at") else "queued") if active and status == "idle" else status,
        "outcome": outcome,
        "tokens": (row.get("input_tokens") or 0) + (row.get("output_tokens") or 0),
        "summary": row.get("summary") or "",
        "active": active,
    }


def chart(days: list[Any]) -> dict[str, Any]:
    """Bars of the outcome chart: per day its stacked counts, scaled to the busiest day."""
    top = max((d.success + d.failure + d.canceled for d in days), default=0) or 1
    return {"days": days, "top": top}


async def page_context(who: Viewer, task_id: str, cursor: str = "") -> dict[str, Any]:
    store = who.ctx.store
    task = await load_task(who, task_id)
    q = ListQuery(take=EXECUTIONS_TAKE)
    at = ids.id_time(cursor) if cursor else None
    if at is not None:
        q.after = (at, cursor)
    rows = await store.list_page(EXECUTION, who.account_id, q, parent_id=task_id)
    executions = [execution_view(r) for r in rows]
    bots = {b["id"]: b for b in await bot_list(who)}
    contact = await store.get(CONTACT, who.account_id, task["contactId"]) if task.get("contactId") else None
    days = await store.run_stats.daily_outcomes(who.account_id, task_id, who.now)
    return {
        "task": task,
        "bot": bots.get(task.get("botId") or ""),
        "contact": contact,
        "executions": executions,
        "next_cursor": executions[-1]["id"] if len(executions) == EXECUTIONS_TAKE else None,
        "cursor": cursor,
        "chart": chart(days),
        "now": who.now,
        "csrf": who.csrf,
        "section": "Tasks",
    }


@get("/app/tasks/{task_id:str}", name="console-task")
async def task_page(request: Request[Any, Any, Any], task_id: str) -> Template:
    who = await viewer(request)
    context = await page_context(who, task_id, (request.query_params.get("cursor") or "")[:64])
    context["notice"] = DONE.get(request.query_params.get("done") or "")
    return Template("task.html", context=context)


@get("/app/tasks/{task_id:str}/executions", name="console-task-executions")
async def executions_fragment(request: Request[Any, Any, Any], task_id: str) -> Template:
    """The executions table (polled while a run is queued or in progress)."""
    who = await viewer(request)
    context = await page_context(who, task_id, (request.query_params.get("cursor") or "")[:64])
    return Template("_executions.html", context=context)


def parse_local(value: str, tz: str | None, label: str) -> int:
    """A ``datetime-local`` value read as wall time in ``tz`` (UTC when none), as epoch ms. Raises `ApiError`
    400 naming ``label``."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiError(400, f"Invalid {label}: {value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=zone(tz) or UTC)
    return int(naive.timestamp() * 1000)


async def _refused(who: Viewer, task_id: str, e: ApiError) -> Template:
    if e.status == 404:
        raise e
    context = await page_context(who, task_id)
    context["error"] = e.message
    return Template("task.html", context=context, status_code=e.status)


def _text(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _act(request: Request[Any, Any, Any], task_id: str, action: str) -> Template | Redirect:
    who, form = await checked_form(request)
    ctx: AppContext = who.ctx
    try:
        if action == "trigger":
            await trigger_task(ctx, who.account_id, task_id)
            done = "triggered"
        elif action == "cancel":
            await cancel_runs(ctx, who.account_id, task_id)
            done = "canceled"
        elif action == "resume":
            await resume_task(ctx, who.account_id, task_id)
            done = "resumed"
        elif action == "pause":
            task = await load_task(who, task_id)
            until_text = _text(form, "until")
            until = parse_local(until_text, task.get("timezone"), "until") if until_text else None
            await pause_task(ctx, who.account_id, task_id, _text(form, "reason")[:1024] or None, until)
            done = "paused"
        elif action == "backfill":
            task = await load_task(who, task_id)
            tz = task.get("timezone")
            start = parse_local(_text(form, "from"), tz, "from")
            end = parse_local(_text(form, "to"), tz, "to")
            count = await backfill_task(ctx, who.account_id, task_id, start, end)
            context = await page_context(who, task_id)
            context["notice"] = (
                f"Backfill queued: {count} run{'s' if count != 1 else ''}, one at a time in slot order."
                if count
                else "Nothing to backfill: no slot of the schedule in that range is without an execution."
            )
            return Template("task.html", context=context)
        else:  # delete
            await delete_item(TASKS, ctx, who.account_id, task_id)
            return Redirect("/app/tasks", status_code=303)
    except ApiError as e:
        return await _refused(who, task_id, e)
    return Redirect(f"/app/tasks/{task_id}?done={done}", status_code=303)


def _action(action: str) -> HTTPRouteHandler:
    """``POST /app/tasks/{id}/<action>``: one of the task page's buttons."""

    async def handler(request: Request[Any, Any, Any], task_id: str) -> Template | Redirect:
        return await _act(request, task_id, action)

    status = 200 if action == "backfill" else 303  # (backfill answers with the page and its count)
    return post(f"/app/tasks/{{task_id:str}}/{action}", name=f"console-{action}", status_code=status)(handler)


@post("/app/tasks/{task_id:str}/executions/{execution_id:str}/cancel", name="console-cancel-one", status_code=303)
async def cancel_one(request: Request[Any, Any, Any], task_id: str, execution_id: str) -> Template | Redirect:
    who, _ = await checked_form(request)
    try:
        await cancel_runs(who.ctx, who.account_id, task_id, execution_id)
    except ApiError as e:
        return await _refused(who, task_id, e)
    return Redirect(f"/app/tasks/{task_id}?done=canceled-one", status_code=303)


def task_page_routes() -> list[Any]:
    actions = [_action(a) for a in ("trigger", "cancel", "pause", "resume", "backfill", "delete")]
    return [task_page, executions_fragment, *actions, cancel_one]
