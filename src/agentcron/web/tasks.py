"""The Tasks page: the account's tasks with filters, search by name, cursor paging and a live refresh."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.response import Redirect, Template
from markupsafe import Markup, escape

from agentcron import ids
from agentcron.schedule_words import schedule_in_words
from agentcron.store.base import ListQuery
from agentcron.store.resources import BOT, TASK
from agentcron.web.access import Viewer, viewer
from agentcron.web.render import ago, when

#: rows per page unless ``take`` asks for another number (1 to 100)
TAKE = 50


@dataclass(frozen=True, slots=True)
class TaskFilters:
    q: str = ""
    bot: str = ""
    status: str = ""
    paused: str = ""
    cursor: str = ""
    take: int = TAKE

    @classmethod
    def of(cls, request: Request[Any, Any, Any]) -> TaskFilters:
        p = request.query_params
        try:
            take = min(100, max(1, int(p.get("take") or TAKE)))
        except ValueError:
            take = TAKE
        status = p.get("status") or ""
        paused = p.get("paused") or ""
        return cls(
            q=(p.get("q") or "").strip()[:200],
            bot=(p.get("bot") or "").strip()[:64],
            status=status if status in ("idle", "running") else "",
            paused=paused if paused in ("true", "false") else "",
            cursor=(p.get("cursor") or "").strip()[:64],
            take=take,
        )

    @property
    def any(self) -> bool:
        return bool(self.q or self.bot or self.status or self.paused)

    def params(self, cursor: str | None = None) -> str:
        """The query string of these filters, at ``cursor`` (none: the first page)."""
        pairs = [("q", self.q), ("bot", self.bot), ("status", self.status), ("paused", self.paused)]
        if self.take != TAKE:
            pairs.append(("take", str(self.take)))
        if cursor:
            pairs.append(("cursor", cursor))
        return urlencode([(k, v) for k, v in pairs if v])

    def query(self) -> ListQuery:
        q = ListQuery(take=self.take)
        if self.bot:
            q.equals["bot_id"] = [self.bot]
        if self.status:
            q.equals["status"] = [self.status]
        if self.paused:
            q.present["paused_at"] = self.paused == "true"
        if self.q:
            q.contains["name"] = self.q
        at = ids.id_time(self.cursor) if self.cursor else None
        if at is not None:
            q.after = (at, self.cursor)
        return q


#: the task columns a row of the Tasks table is made of, in `row_parts`'s order
ROW_COLUMNS = (
    "id",
    "name",
    "bot_id",
    "schedule",
    "timezone",
    "status",
    "outcome",
    "paused_at",
    "last_run_at",
    "next_run_at",
)


@functools.lru_cache(maxsize=1024)
def _escaped(text: str) -> str:
    """``text`` escaped for HTML, for the few texts many rows share (bot names, outcomes)."""
    return str(escape(text))


@functools.lru_cache(maxsize=1024)
def _schedule_cell(schedule: str | None, tz: str | None) -> str:
    """The "schedule" cell of every task with this schedule and zone: the words and the zone, escaped."""
    words, zone = escape(schedule_in_words(schedule)), escape(tz or "UTC")
    return f'<td data-label="Schedule">{words}<span class="sub">{zone}</span></td>'


@functools.lru_cache(maxsize=8192)
def _when(ms: int | None, tz: str | None) -> str:
    """`when` escaped (tasks of one schedule and zone share their next run, so this repeats within a page)."""
    return str(escape(when(ms, tz)))


@functools.lru_cache(maxsize=8192)
def row_parts(values: tuple[Any, ...], bot: str) -> tuple[str, str]:
    """A row of the Tasks table as escaped HTML, made once per version of the row (the page polls the same
    rows every few seconds), for a task's `ROW_COLUMNS` values and its bot's name: the HTML before the "last
    run" text (which follows the clock, see `rows_html`) and after it. Every value is escaped; a row not
    cached yet costs a few microseconds (f-strings and cached cells, not `Markup.format`)."""
    id_, name, _bot_id, schedule, tz, status, outcome, paused_at, last, next_run = values
    state = "paused" if paused_at is not None else ("running" if status == "running" else "idle")
    if state == "running":
        outcome = "pending"
    elif last is None or outcome is None:
        outcome = ""
    tid, oc = escape(id_), _escaped(outcome)
    head = (
        f'<tr id="task-{tid}"><td data-label="Name"><a href="/app/tasks/{tid}">{escape(name or "(no name)")}</a>'
        f'</td><td data-label="Bot">{_escaped(bot)}</td>{_schedule_cell(schedule, tz)}'
        f'<td data-label="Status"><span class="badge {state}">{state}</span></td><td data-label="Last outcome">'
        f'{f"""<span class="outcome {oc}">{oc}</span>""" if outcome else "—"}'
        f'</td><td data-label="Last run"><span title="{_when(last, tz)}">'
    )
    return head, f'</span></td><td data-label="Next run">{_when(next_run, tz) or "—"}</td></tr>'


def rows_html(rows: Sequence[Sequence[Any]], bot_names: dict[str, str], now: int) -> Markup:
    """The Tasks table's rows (tasks' `ROW_COLUMNS` values) as one HTML fragment: each row's cached
    `row_parts` around its "last run" text ("5 min ago" or "never": words and digits of our own, nothing
    to escape), so a page does no escaping and no template work per row."""
    out = []
    for values in rows:
        bot_id, last = values[2], values[8]
        head, tail = row_parts(tuple(values), str(bot_names.get(bot_id) or bot_id) if bot_id else "—")
        out.append(head + (ago(last, now) if last is not None else "never") + tail)
    return Markup("\n".join(out))


def task_state(task: dict[str, Any]) -> str:
    """The badge of a task: ``paused``, ``running`` or ``idle``."""
    if task.get("pausedAt") is not None:
        return "paused"
    return "running" if task.get("status") == "running" else "idle"


async def bot_list(who: Viewer) -> list[dict[str, Any]]:
    """The account's bots (the newest 100), for names and pickers."""
    rows = await who.ctx.store.list_page(BOT, who.account_id, ListQuery(take=100))
    return [{"id": r["id"], "name": r["name"], "model": r["model"]} for r in rows]


async def _list_context(who: Viewer, f: TaskFilters) -> dict[str, Any]:
    rows = await who.ctx.store.list_values(TASK, who.account_id, f.query(), ROW_COLUMNS)
    bots = await bot_list(who)
    bot_names = {b["id"]: b["name"] or b["id"] for b in bots}
    next_cursor = rows[-1][0] if len(rows) == f.take else None
    return {
        "tasks": rows,
        "rows": rows_html(rows, bot_names, who.now),
        "bots": bots,
        "f": f,
        "now": who.now,
        "query": f.params(f.cursor or None),
        "first_query": f.params(),
        "next_cursor": next_cursor,
        "next_query": f.params(next_cursor),
        "csrf": who.csrf,
        "section": "Tasks",
    }


@get("/app", name="console-home")
async def home() -> Redirect:
    return Redirect("/app/tasks", status_code=303)


@get("/app/tasks", name="console-tasks")
async def tasks_page(request: Request[Any, Any, Any]) -> Template:
    who = await viewer(request)
    return Template("tasks.html", context=await _list_context(who, TaskFilters.of(request)))


@get("/app/tasks/list", name="console-task-list")
async def tasks_fragment(request: Request[Any, Any, Any]) -> Template:
    """The table part of the Tasks page (polled by the page every few seconds, and on filter changes)."""
    who = await viewer(request)
    return Template("_task_list.html", context=await _list_context(who, TaskFilters.of(request)))


def tasks_routes() -> list[Any]:
    return [home, tasks_page, tasks_fragment]
