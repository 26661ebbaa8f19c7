"""The task form (new and edit) and its live schedule preview.

The form's fields are decoded with the API's own write type (`TaskWrite`, via `decode_fields`) and written
by the API's own functions (`create_item` / `update_item` with the task resource's checks), so the rules and
the messages are the API's; a message naming a field is shown next to that field.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, get, post
from litestar.datastructures.multi_dicts import FormMultiDict
from litestar.response import Redirect, Template

from agentcron.api.crud import create_item, update_item
from agentcron.api.schedules import preview_schedule
from agentcron.api.schemas import TaskWrite
from agentcron.api.tasks import TASKS
from agentcron.api.wire import decode_fields
from agentcron.errors import ApiError
from agentcron.schedule_preview import warnings_of
from agentcron.store.base import ListQuery
from agentcron.store.resources import CONTACT, TASK
from agentcron.web.access import Viewer, checked_form, viewer
from agentcron.web.render import when
from agentcron.web.task_page import load_task, parse_local
from agentcron.web.tasks import bot_list

TEXT = ("name", "description", "schedule", "timezone")
REFS = ("botId", "contactId")
#: number fields: wire name -> (label, hint with the limits the API enforces)
NUMBERS: dict[str, tuple[str, str]] = {
    "maxIterations": ("Max iterations", "Model requests per run, 0 to 100,000 (0 or empty: the default)"),
    "maxTime": ("Max time (ms)", "Wall time per run in milliseconds, 0 to 86,400,000"),
    "maxCalls": ("Max calls", "Tool calls per run, 0 to 100,000"),
    "sessionDuration": ("Session duration (ms)", "Conversation session length in milliseconds, 0 to 3,600,000"),
    # issue 12 (shown when the API takes them)
    "pauseAfterFailures": ("Pause after failures", "Pause the task after this many failed slots in a row, 1 to 100"),
}
CHOICES: dict[str, tuple[str, list[str]]] = {
    "overlapPolicy": ("When a run is still going", ["skip", "queue", "allow", "cancelPrevious"]),
    "misfirePolicy": ("Missed slots (service was down)", ["coalesce", "skip", "all"]),
}
#: the form's two fields of the API's ``tokenBudget`` object ({limit, period})
BUDGET = {"budgetLimit": "limit", "budgetPeriod": "period"}
BUDGET_PERIODS = ["day", "week", "month"]
#: where an API message about a nested field is shown
_ALIASES = {
    "tokenBudget.limit": "budgetLimit",
    "tokenBudget.period": "budgetPeriod",
    "tokenBudget": "budgetLimit",
    "retryPolicy": "retryMaxAttempts",
}
TASK_FIELDS = frozenset((*TEXT, *REFS, *NUMBERS, *CHOICES, *BUDGET, "retryMaxAttempts"))
PREVIEW_TAKE = 10
_AT_FIELD = re.compile(r"at `\$\.([\w.]+)")
_INVALID = re.compile(r"^Invalid (\w+)")


def writable(name: str) -> bool:
    """Whether the API's task write type has this field (issue 12's fields appear when they land)."""
    return name in TaskWrite.__struct_fields__


def field_of(message: str, known: frozenset[str] | None = None) -> str | None:
    """The form field an API message is about (``... - at `$.maxTime``` / ``Invalid schedule: ...`` /
    ``Bot not found``), or None; ``Invalid <word>`` counts when the word is one of ``known`` (default: the
    task form's fields)."""
    found = _AT_FIELD.search(message)
    if found:
        path = found.group(1)
        return _ALIASES.get(path) or _ALIASES.get(path.split(".")[0]) or path.split(".")[0]
    if message.startswith("Bot not found"):
        return "botId"
    if message.startswith("Contact not found"):
        return "contactId"
    found = _INVALID.match(message)
    if found and found.group(1) in (TASK_FIELDS if known is None else known):
        return found.group(1)
    return None


def fields_of(form: FormMultiDict, existing: dict[str, Any] | None) -> dict[str, Any]:
    """The form as API fields: empty text is "" (name, description) or null; an empty number is null (on
    create: left out, the default). ``retryMaxAttempts`` is the ``retryPolicy``'s ``maxAttempts`` (its
    delays kept from ``existing``, the task edited, else the defaults)."""
    editing = existing is not None
    out: dict[str, Any] = {}
    for name in (*TEXT, *REFS, *NUMBERS, *CHOICES):
        if not writable(name):
            continue
        raw = form.get(name)
        value = raw.strip() if isinstance(raw, str) else ""
        if value:
            out[name] = value
        elif name in ("name", "description"):
            out[name] = ""
        elif editing and name not in CHOICES:
            out[name] = None  # cleared (the policies cannot be: an empty one is left as it is)
    if writable("tokenBudget"):
        sent = {key: _text(form, name) for name, key in BUDGET.items()}
        if any(sent.values()):  # (one of the two missing: the API says which)
            out["tokenBudget"] = {key: value or None for key, value in sent.items()}
        elif editing:
            out["tokenBudget"] = None
    if writable("retryPolicy"):
        attempts = _text(form, "retryMaxAttempts")
        if attempts:
            old = existing.get("retryPolicy") if existing is not None else None
            out["retryPolicy"] = {**(old if isinstance(old, dict) else {}), "maxAttempts": attempts}
        elif editing:
            out["retryPolicy"] = None
    return out


def _text(form: FormMultiDict, name: str) -> str:
    raw = form.get(name)
    return raw.strip() if isinstance(raw, str) else ""


async def _choices(who: Viewer) -> dict[str, Any]:
    contacts = await who.ctx.store.list_page(CONTACT, who.account_id, ListQuery(take=100))
    return {
        "bots": await bot_list(who),
        "contacts": [{"id": c["id"], "name": c["name"]} for c in contacts],
        "numbers": {k: v for k, v in NUMBERS.items() if writable(k)},
        "choices": {k: v for k, v in CHOICES.items() if writable(k)},
        "budget": writable("tokenBudget"),
        "retries": writable("retryPolicy"),
        "budget_periods": BUDGET_PERIODS,
        "csrf": who.csrf,
        "section": "Tasks",
    }


def preview_context(schedule: str, timezone: str, start: str, viewer_zone: str, now: int) -> dict[str, Any]:
    """The next runs of a schedule for the preview: each in the task's zone and the viewer's, DST flagged."""
    tz = timezone or None
    try:
        after = parse_local(start, tz, "from") if start else now
        runs = preview_schedule(schedule, tz, after, PREVIEW_TAKE) if schedule else []
    except ApiError as e:
        return {"runs": [], "warnings": [], "problem": e.message, "schedule": schedule}
    items = [
        {
            "task_time": when(r.run_at, tz),
            "viewer_time": when(r.run_at, viewer_zone or "UTC"),
            "dst": r.dst,
            "warning": r.warning,
        }
        for r in runs
    ]
    return {
        "runs": items,
        "warnings": warnings_of(runs),
        "problem": None,
        "schedule": schedule,
        "viewer_zone": viewer_zone or "UTC",
        "task_zone": tz or "UTC",
    }


def _form_values(task: dict[str, Any] | None, form: FormMultiDict | None) -> dict[str, Any]:
    if form is not None:
        return {k: v for k, v in form.items() if isinstance(v, str)}
    if task is None:
        return {"overlapPolicy": "skip", "misfirePolicy": "coalesce"}
    values = {k: ("" if v is None else str(v)) for k, v in task.items()}
    retry = task.get("retryPolicy")
    if isinstance(retry, dict):
        values["retryMaxAttempts"] = str(retry.get("maxAttempts") or "")
    budget = task.get("tokenBudget")
    if isinstance(budget, dict):
        values.update({name: str(budget.get(key) or "") for name, key in BUDGET.items()})
    return values


async def _render(
    who: Viewer,
    task: dict[str, Any] | None,
    form: FormMultiDict | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Template:
    values = _form_values(task, form)
    context = await _choices(who)
    context.update(
        task=task,
        v=values,
        errors=errors or {},
        error=error,
        preview=preview_context(
            values.get("schedule", ""), values.get("timezone", ""), values.get("from", ""), "", who.now
        ),
    )
    return Template("task_form.html", context=context, status_code=status)


@get("/app/tasks/new", name="console-task-new")
async def new_task(request: Request[Any, Any, Any]) -> Template:
    return await _render(await viewer(request), None)


async def editable_task(who: Viewer, task_id: str) -> dict[str, Any]:
    """The task as its edit form shows it: `load_task`'s fields plus ``maxCalls``, which the API stores but
    never answers (without it, saving the form as shown would clear the task's tool-call cap). Raises 404."""
    task = await load_task(who, task_id)
    row = await who.ctx.store.get_row(TASK, who.account_id, task_id)
    task["maxCalls"] = None if row is None else row["max_calls"]
    return task


@get("/app/tasks/{task_id:str}/edit", name="console-task-edit")
async def edit_task(request: Request[Any, Any, Any], task_id: str) -> Template:
    who = await viewer(request)
    return await _render(who, await editable_task(who, task_id))


async def _save(request: Request[Any, Any, Any], task_id: str | None) -> Template | Redirect:
    who, form = await checked_form(request)
    task = await load_task(who, task_id) if task_id is not None else None
    try:
        body = decode_fields(TaskWrite, fields_of(form, task))
        if task_id is None:
            answer = await create_item(TASKS, who.ctx, who.account_id, body)
        else:
            answer = await update_item(TASKS, who.ctx, who.account_id, task_id, body)
    except ApiError as e:
        if e.status == 404 and task_id is not None and e.message == "Not found":
            raise
        field = field_of(e.message)
        if field is not None:
            return await _render(who, task, form, {field: e.message}, None, e.status)
        return await _render(who, task, form, None, e.message, e.status)
    return Redirect(f"/app/tasks/{answer['id']}?done={'created' if task_id is None else 'saved'}", status_code=303)


@post("/app/tasks/new", name="console-task-create", status_code=303)
async def create_task(request: Request[Any, Any, Any]) -> Template | Redirect:
    return await _save(request, None)


@post("/app/tasks/{task_id:str}/edit", name="console-task-update", status_code=303)
async def update_task(request: Request[Any, Any, Any], task_id: str) -> Template | Redirect:
    return await _save(request, task_id)


@get("/app/preview", name="console-preview")
async def preview_fragment(request: Request[Any, Any, Any]) -> Template:
    """The schedule preview of the form (``schedule``, ``timezone``, ``from``, ``viewerZone``)."""
    who = await viewer(request)
    p = request.query_params
    context = preview_context(
        (p.get("schedule") or "").strip()[:256],
        (p.get("timezone") or "").strip()[:64],
        (p.get("from") or "").strip()[:32],
        (p.get("viewerZone") or "").strip()[:64],
        who.now,
    )
    return Template("_preview.html", context={"p": context})


def task_form_routes() -> list[Any]:
    return [new_task, edit_task, create_task, update_task, preview_fragment]
