"""``agentcron tasks``: list, show, create, update and delete tasks on a server (the run controls, trigger to
backfill, are in `agentcron.cli.control`)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from agentcron.cli.http import DEFAULT_URL, Api, JsonOpt, LimitOpt, SecretOpt, UrlOpt, parse_meta
from agentcron.cli.output import USAGE, CliError, emit_json, emit_text, record, status_text, table, when

app = typer.Typer(
    name="tasks",
    help="Tasks on a server: list, show, create, update, delete, trigger, pause, preview, backfill.",
    no_args_is_help=True,
)

NameOpt = Annotated[str | None, typer.Option("--name", help="The task's name (its instruction's title).")]
BotOpt = Annotated[str | None, typer.Option("--bot", help="Id of the bot that runs it.")]
ScheduleOpt = Annotated[
    str | None, typer.Option("--schedule", help="Cron (0 9 * * 1-5), an alias (daily, hourly), a date, or never.")
]
TimezoneOpt = Annotated[str | None, typer.Option("--timezone", help="IANA timezone the schedule is read in.")]
DescriptionOpt = Annotated[str | None, typer.Option("--description", help="The instruction the bot is given.")]
MetaOpt = Annotated[
    list[str] | None,
    typer.Option("--meta", metavar="K=V", help="A meta field (repeatable); V is read as JSON when it is JSON."),
]


def task_row(t: dict[str, Any]) -> list[Any]:
    schedule = t.get("schedule") or "-"
    if t.get("timezone"):
        schedule = f"{schedule} ({t['timezone']})"
    return [
        t.get("id"),
        t.get("name"),
        schedule,
        status_text(t.get("status"), t.get("outcome")),
        when(t.get("lastRunAt")),
        "paused" if t.get("pausedAt") is not None else when(t.get("nextRunAt")),
        t.get("botId"),
    ]


TASK_COLUMNS = ["ID", "NAME", "SCHEDULE", "STATUS", "LAST RUN", "NEXT RUN", "BOT"]


def show_task(t: dict[str, Any]) -> None:
    pairs: list[tuple[str, Any]] = [
        ("id", t.get("id")),
        ("name", t.get("name")),
        ("description", t.get("description")),
        ("bot", t.get("botId")),
        ("contact", t.get("contactId")),
        ("schedule", t.get("schedule")),
        ("timezone", t.get("timezone")),
        ("status", status_text(t.get("status"), t.get("outcome"))),
        ("last run", when(t.get("lastRunAt"))),
        ("next run", when(t.get("nextRunAt"))),
    ]
    if t.get("pausedAt") is not None:
        until = f" until {when(t['pausedUntil'])}" if t.get("pausedUntil") else ""
        reason = f": {t['pauseReason']}" if t.get("pauseReason") else ""
        pairs.append(("paused", f"since {when(t['pausedAt'])}{until}{reason}"))
    budget = t.get("tokenBudget")
    if isinstance(budget, dict):
        used = t.get("tokensUsed") or 0
        pairs.append(
            (
                "token budget",
                f"{used} of {budget.get('limit')} this {budget.get('period')}, resets {when(t.get('budgetResetsAt'))}",
            )
        )
    pairs += [
        ("overlap", t.get("overlapPolicy")),
        ("misfire", t.get("misfirePolicy")),
        ("missed", t.get("missedCount")),
        ("max time", t.get("maxTime")),
        ("meta", t.get("meta")),
        ("created", when(t.get("createdAt"))),
        ("updated", when(t.get("updatedAt"))),
    ]
    record(pairs)


def _warn(answer: dict[str, Any]) -> None:
    for warning in answer.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)


@app.command("list", epilog="Example: agentcron tasks list --status running --bot BOT_ID")
def list_tasks(
    bot: BotOpt = None,
    status: Annotated[str | None, typer.Option("--status", help="idle or running (comma list).")] = None,
    paused: Annotated[
        bool | None, typer.Option("--paused/--active", help="Only paused, or only active, tasks.")
    ] = None,
    limit: LimitOpt = 100,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the account's tasks, newest first."""
    with Api(url, secret) as api:
        flag = None if paused is None else str(paused).lower()
        tasks = api.items("/task/list", limit, botId=bot, status=status, paused=flag)
    if as_json:
        emit_json(tasks)
    else:
        table(TASK_COLUMNS, (task_row(t) for t in tasks), empty="no tasks")


@app.command("show", epilog="Example: agentcron tasks show TASK_ID")
def show(
    task_id: Annotated[str, typer.Argument(metavar="ID", help="The task's id.")],
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one task."""
    with Api(url, secret) as api:
        task = api.get(f"/task/{task_id}/fetch")
    if as_json:
        emit_json(task)
    else:
        show_task(task)


def _body(
    name: str | None,
    bot: str | None,
    schedule: str | None,
    timezone: str | None,
    description: str | None,
    meta: list[str] | None,
    merge_meta: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (
        ("name", name),
        ("botId", bot),
        ("schedule", schedule),
        ("timezone", timezone),
        ("description", description),
    ):
        if value is not None:
            body[key] = value
    fields = parse_meta(meta)
    if fields:
        body["meta"] = {"$update": fields} if merge_meta else fields
    return body


@app.command(
    "create", epilog="Example: agentcron tasks create --name 'Daily digest' --bot BOT_ID --schedule '0 9 * * 1-5'"
)
def create(
    name: Annotated[str, typer.Option("--name", help="The task's name (its instruction's title).")],
    schedule: Annotated[
        str, typer.Option("--schedule", help="Cron (0 9 * * 1-5), an alias (daily, hourly), a date, or never.")
    ],
    bot: BotOpt = None,
    timezone: TimezoneOpt = None,
    description: DescriptionOpt = None,
    meta: MetaOpt = None,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a task; prints its id (and what daylight saving time does to its runs, if anything)."""
    body = _body(name, bot, schedule, timezone, description, meta, merge_meta=False)
    with Api(url, secret) as api:
        answer = api.post("/task/create", body)
    if as_json:
        emit_json(answer)
        return
    _warn(answer)
    emit_text(str(answer["id"]))


@app.command("update", epilog="Example: agentcron tasks update TASK_ID --schedule hourly --meta owner=ops")
def update(
    task_id: Annotated[str, typer.Argument(metavar="ID", help="The task's id.")],
    name: NameOpt = None,
    bot: BotOpt = None,
    schedule: ScheduleOpt = None,
    timezone: TimezoneOpt = None,
    description: DescriptionOpt = None,
    meta: MetaOpt = None,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the given fields of a task (--meta fields are merged into its meta)."""
    body = _body(name, bot, schedule, timezone, description, meta, merge_meta=True)
    if not body:
        raise CliError("nothing to update: give at least one of --name, --bot, --schedule, ... (see --help)", USAGE)
    with Api(url, secret) as api:
        answer = api.post(f"/task/{task_id}/update", body)
    if as_json:
        emit_json(answer)
        return
    _warn(answer)
    emit_text(f"updated {answer['id']}")


@app.command("delete", epilog="Example: agentcron tasks delete TASK_ID --yes")
def delete(
    task_id: Annotated[str, typer.Argument(metavar="ID", help="The task's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a task and its runs (asks first on a terminal; elsewhere needs --yes)."""
    if not yes:
        if not sys.stdin.isatty():
            raise CliError("deleting needs --yes when not asked on a terminal", USAGE)
        if not typer.confirm(f"Delete task {task_id} and its runs?"):
            raise typer.Exit(1)
    with Api(url, secret) as api:
        answer = api.post(f"/task/{task_id}/delete")
    if as_json:
        emit_json(answer)
    else:
        emit_text(f"deleted {answer['id']}")
