"""``agentcron runs``: a task's executions (list, show) and its live event stream (tail)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agentcron.cli.control import show_run
from agentcron.cli.http import DEFAULT_URL, Api, JsonOpt, LimitOpt, SecretOpt, UrlOpt
from agentcron.cli.output import duration, emit_json, epoch_ms, one_line, status_text, table, when
from agentcron.cli.watch import EventLines, show, subscribe

app = typer.Typer(name="runs", help="A task's runs: list, show, and tail its live events.", no_args_is_help=True)

TaskArg = Annotated[str, typer.Argument(metavar="TASK", help="The task's id.")]


@app.command("list", epilog="Example: agentcron runs list TASK_ID --status running")
def list_runs(
    task_id: TaskArg,
    status: Annotated[str | None, typer.Option("--status", help="idle, running or canceled (comma list).")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="pending, success or failure.")] = None,
    limit: LimitOpt = 50,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a task's runs, newest first."""
    with Api(url, secret) as api:
        runs = api.items(f"/task/{task_id}/execution/list", limit, status=status, outcome=outcome)
    if as_json:
        emit_json(runs)
        return
    rows = []
    for r in runs:
        started, ended = epoch_ms(r.get("startedAt")), epoch_ms(r.get("completedAt"))
        took = None if started is None or ended is None else ended - started
        rows.append(
            [
                r.get("id"),
                r.get("trigger"),
                status_text(r.get("status"), r.get("outcome")),
                when(r.get("startedAt") or r.get("createdAt")),
                duration(took),
                one_line(r.get("summary") or r.get("reason"), 60),
            ]
        )
    table(["ID", "TRIGGER", "STATUS", "STARTED", "DURATION", "SUMMARY"], rows, empty="no runs")


@app.command("show", epilog="Example: agentcron runs show TASK_ID RUN_ID")
def show_one(
    task_id: TaskArg,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The execution's id.")],
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one run: status, outcome, times, tokens and summary."""
    with Api(url, secret) as api:
        run = api.get(f"/task/{task_id}/execution/{run_id}/fetch")
    if as_json:
        emit_json(run)
    else:
        show_run(run)


@app.command(
    "tail",
    epilog="Example: agentcron runs tail TASK_ID --history 20   (Ctrl-C to stop; --json for JSON lines)",
)
def tail(
    task_id: TaskArg,
    history: Annotated[int, typer.Option("--history", min=0, max=1000, help="Replay this many past events first.")] = 0,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Follow a task's events live: one line per event (time, execution, operation, duration, result or
    error), until Ctrl-C."""
    events = EventLines()
    with Api(url, secret) as api:
        try:
            with subscribe(api, task_id, history) as r:
                if not as_json:
                    print(f"following task {task_id} (Ctrl-C to stop)", file=sys.stderr, flush=True)
                for event in api.lines(r):
                    show(events, event, as_json)
        except KeyboardInterrupt:
            return
    print("the server closed the stream", file=sys.stderr)
    raise typer.Exit(1)
