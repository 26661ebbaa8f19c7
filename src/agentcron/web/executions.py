"""The execution page: the run's live timeline, its summary, outcome and tokens, and its transcript.

The timeline (``static/timeline.js``) reads ``.../events``: the events of this one execution as JSONL,
from the task's event log (its last 1,000 events) and then live from the event bus, ending after the
execution's ``executionEnd``. It is the subscribe stream of ``task/{id}/subscribe`` narrowed to one run,
same-origin and signed in by the session cookie (a revoked secret ends it, as it ends a subscription).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.response import Stream, Template

from agentcron.api.wire import JSONL
from agentcron.errors import not_found
from agentcron.events import line_of
from agentcron.events.bus import Event
from agentcron.events.lifecycle import END
from agentcron.store.base import ListQuery
from agentcron.store.resources import EXECUTION, MESSAGE
from agentcron.web.access import SignInRequired, Viewer, viewer
from agentcron.web.task_page import execution_view, load_task

HISTORY = 1000
TRANSCRIPT_MAX = 1000


def belongs(event: Event, execution_id: str) -> bool:
    """Whether a task event is one of this execution's: its frame events name it, its operations' ids start
    with it (``<executionId>-<n>``)."""
    data = event.data
    if not isinstance(data, dict):
        return False
    if data.get("executionId") == execution_id:
        return True
    op = data.get("id")
    return isinstance(op, str) and op.startswith(execution_id + "-")


def final(event: Event) -> bool:
    """An ``executionEnd`` with an outcome (a run handed back at shutdown ends pending, and runs again)."""
    return event.type == END and isinstance(event.data, dict) and event.data.get("outcome") not in (None, "pending")


def state_of(view: dict[str, Any]) -> str:
    """What ``#timeline-state`` says: ``queued``, ``running``, ``completed``, ``failed`` or ``canceled``."""
    if view["active"]:
        return "running" if view["status"] == "running" else "queued"
    if view["status"] == "canceled":
        return "canceled"
    return "completed" if view["outcome"] == "success" else "failed"


async def load_execution(who: Viewer, task_id: str, execution_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task and the execution row. Raises `ApiError` 404 unless the execution is this task's, this
    account's."""
    task = await load_task(who, task_id)
    row = await who.ctx.store.get_row(EXECUTION, who.account_id, execution_id)
    if row is None or row["task_id"] != task_id:
        raise not_found()
    return task, dict(row)


async def transcript(who: Viewer, conversation_id: str | None) -> list[dict[str, Any]]:
    """The run's conversation, oldest first (at most `TRANSCRIPT_MAX` messages)."""
    if not conversation_id:
        return []
    out: list[dict[str, Any]] = []
    q = ListQuery(take=100, order="asc")
    while len(out) < TRANSCRIPT_MAX:
        rows = await who.ctx.store.list_page(MESSAGE, who.account_id, q, parent_id=conversation_id)
        out.extend({"type": r["type"], "text": r["text"]} for r in rows)
        if len(rows) < q.take:
            break
        q.after = (rows[-1]["created_at"], rows[-1]["id"])
    return out


async def _context(who: Viewer, task_id: str, execution_id: str) -> dict[str, Any]:
    task, row = await load_execution(who, task_id, execution_id)
    view = execution_view(row)
    return {
        "task": task,
        "e": view,
        "row": row,
        "state": state_of(view),
        "messages": await transcript(who, row.get("conversation_id")),
        "now": who.now,
        "csrf": who.csrf,
        "section": "Tasks",
    }


@get("/app/tasks/{task_id:str}/executions/{execution_id:str}", name="console-execution")
async def execution_page(request: Request[Any, Any, Any], task_id: str, execution_id: str) -> Template:
    who = await viewer(request)
    return Template("execution.html", context=await _context(who, task_id, execution_id))


@get("/app/tasks/{task_id:str}/executions/{execution_id:str}/details", name="console-execution-details")
async def details_fragment(request: Request[Any, Any, Any], task_id: str, execution_id: str) -> Template:
    """Summary, outcome, tokens and transcript (fetched again by the timeline when the run ends)."""
    who = await viewer(request)
    return Template("_run_details.html", context=await _context(who, task_id, execution_id))


@get("/app/tasks/{task_id:str}/executions/{execution_id:str}/events", name="console-execution-events")
async def events(request: Request[Any, Any, Any], task_id: str, execution_id: str) -> Stream:
    """This execution's events as JSONL: what the event log still holds, then live ones, up to its
    ``executionEnd`` (for a finished run whose events were pruned: one made from the stored outcome)."""
    who = await viewer(request)
    _, row = await load_execution(who, task_id, execution_id)
    bus = who.ctx.events
    clock = who.ctx.clock

    async def still_signed_in() -> bool:
        try:
            return (await viewer(request)).account_id == who.account_id
        except SignInRequired:
            return False

    async def lines() -> AsyncIterator[bytes]:
        sub = bus.subscribe(task_id)  # before the history: no event falls between the two
        try:
            history = [e for e in await bus.history(task_id, HISTORY) if belongs(e, execution_id)]
            last = max((e.seq for e in history), default=0)
            if history:
                yield b"".join(e.line() for e in history)
            if any(final(e) for e in history):
                return
            view = execution_view(row)
            if not view["active"]:  # finished, its end no longer in the log
                data = {"executionId": execution_id, "taskId": task_id, "status": row["status"]}
                data.update(outcome=row["outcome"], summary=row.get("summary") or "")
                yield line_of(END, clock.now_ms(), data)
                return
            while True:
                batch = await sub.take()
                mine = [e for e in batch if e.seq > last and belongs(e, execution_id)]
                if batch:
                    last = max(last, batch[-1].seq)
                if sub.dropped or ((mine or sub.ping_due) and not await still_signed_in()):
                    return  # (the page reloads the stream, or shows the sign-in page)
                if sub.ping_due:
                    sub.ping_due = False
                    if not mine:
                        yield line_of("ping", clock.now_ms(), {})
                if mine:
                    yield b"".join(e.line() for e in mine)
                    if any(final(e) for e in mine):
                        return
        finally:
            bus.unsubscribe(sub)

    return Stream(lines(), media_type=JSONL, headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def execution_routes() -> list[Any]:
    return [execution_page, details_fragment, events]
