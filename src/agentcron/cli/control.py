"""``agentcron tasks`` run controls: trigger (and wait for the run), cancel, pause, resume, preview and
backfill. Registered on the ``tasks`` group of `agentcron.cli.tasks`."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from agentcron.cli.http import DEFAULT_URL, Api, JsonOpt, SecretOpt, UrlOpt, parse_when
from agentcron.cli.output import (
    USAGE,
    CliError,
    duration,
    emit_json,
    emit_text,
    epoch_ms,
    record,
    status_text,
    table,
    when,
)
from agentcron.cli.tasks import TimezoneOpt, app
from agentcron.cli.watch import EventLines, show, wait_for

TaskArg = Annotated[str, typer.Argument(metavar="ID", help="The task's id.")]


def _new_run(before: set[str], after: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The manual run the trigger queued: the oldest execution of trigger ``trigger`` not listed before."""
    fresh = [e for e in after if e["id"] not in before and e.get("trigger") == "trigger"]
    return fresh[-1] if fresh else None


def show_run(run: dict[str, Any]) -> None:
    """An execution as a field/value table."""
    started, ended = epoch_ms(run.get("startedAt")), epoch_ms(run.get("completedAt"))
    took = None if started is None or ended is None else ended - started
    tokens = None
    if run.get("inputTokens") or run.get("outputTokens"):
        tokens = f"{run.get('inputTokens') or 0} in, {run.get('outputTokens') or 0} out"
    record(
        [
            ("execution", run.get("id")),
            ("task", run.get("taskId")),
            ("status", status_text(run.get("status"), run.get("outcome"))),
            ("trigger", run.get("trigger")),
            ("reason", run.get("reason")),
            ("slot", when(run.get("scheduledFor")) if run.get("scheduledFor") else None),
            ("attempt", run.get("attempt")),
            ("created", when(run.get("createdAt"))),
            ("started", when(run.get("startedAt"))),
            ("completed", when(run.get("completedAt"))),
            ("duration", duration(took) if took is not None else None),
            ("model requests", run.get("modelRequests")),
            ("tokens", tokens),
            ("conversation", run.get("conversationId")),
            ("summary", run.get("summary")),
        ]
    )


@app.command(
    "trigger",
    epilog="Example: agentcron tasks trigger TASK_ID --wait   (exit status 0: the run succeeded; 1: it failed)",
)
def trigger(
    task_id: TaskArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run, print its summary; exit 1 unless it succeeds.")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a task now (its schedule is untouched); with --wait, follow the run to its end."""
    with Api(url, secret) as api:
        runs = f"/task/{task_id}/execution/list"
        before = {e["id"] for e in api.items(runs, 100)} if wait else set()
        answer = api.post(f"/task/{task_id}/trigger")
        if not wait:
            emit_json(answer) if as_json else emit_text(f"triggered {answer['id']}")
            return
        run = _new_run(before, api.items(runs, 100))
        if run is None:
            raise CliError(f"the run was queued but could not be found in task/{task_id}/execution/list")
        events = EventLines()
        if not as_json:
            print(f"waiting for execution {run['id']} (Ctrl-C stops waiting, not the run)", file=sys.stderr)
        try:
            done = wait_for(api, task_id, run["id"], lambda e: None if as_json else show(events, e, False, True))
        except KeyboardInterrupt:
            print(f"\nstopped waiting; execution {run['id']} goes on", file=sys.stderr)
            raise typer.Exit(130) from None
    if as_json:
        emit_json(done)
    else:
        show_run(done)
    if done.get("outcome") != "success" or done.get("status") != "idle":
        raise typer.Exit(1)


@app.command("cancel", epilog="Example: agentcron tasks cancel TASK_ID")
def cancel(task_id: TaskArg, url: UrlOpt = DEFAULT_URL, secret: SecretOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel every queued or running run of a task."""
    with Api(url, secret) as api:
        answer = api.post(f"/task/{task_id}/cancel")
    emit_json(answer) if as_json else emit_text(f"canceled the runs of {answer['id']}")


@app.command("pause", epilog="Example: agentcron tasks pause TASK_ID --reason 'holiday' --until 2026-01-05T08:00")
def pause(
    task_id: TaskArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (shown with the task).")] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", metavar="WHEN", help="Resume by itself then: ISO 8601 (local time if no offset), epoch ms."
        ),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pause a task: no scheduled run fires until it is resumed (a manual trigger still runs)."""
    body: dict[str, Any] = {}
    if reason is not None:
        body["reason"] = reason
    if until is not None:
        body["until"] = parse_when(until, "--until")
    with Api(url, secret) as api:
        answer = api.post(f"/task/{task_id}/pause", body)
    if as_json:
        emit_json(answer)
    else:
        emit_text(f"paused {answer['id']}" + (f" until {when(body['until'])}" if until else ""))


@app.command("resume", epilog="Example: agentcron tasks resume TASK_ID")
def resume(task_id: TaskArg, url: UrlOpt = DEFAULT_URL, secret: SecretOpt = None, as_json: JsonOpt = False) -> None:
    """Resume a paused task: its next run is the schedule's next slot from now."""
    with Api(url, secret) as api:
        answer = api.post(f"/task/{task_id}/resume")
    emit_json(answer) if as_json else emit_text(f"resumed {answer['id']}")


@app.command(
    "preview",
    epilog="Examples: agentcron tasks preview TASK_ID -n 5;  "
    "agentcron tasks preview --schedule '30 2 * * *' --timezone Europe/Berlin",
)
def preview(
    task_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="A saved task (or give --schedule).")] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", help="A schedule to try instead of a task's.")] = None,
    timezone: TimezoneOpt = None,
    take: Annotated[int, typer.Option("-n", "--take", min=1, max=100, help="How many runs.")] = 10,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The next runs of a task, or of a schedule, with what daylight saving time does to each."""
    if (task_id is None) == (schedule is None):
        raise CliError("give a task ID or --schedule (one of them)", USAGE)
    if task_id is not None and timezone is not None:
        raise CliError("--timezone goes with --schedule; a task's preview uses the task's timezone", USAGE)
    with Api(url, secret) as api:
        if task_id is not None:
            answer = api.get(f"/task/{task_id}/preview", take=take)
        else:
            answer = api.post("/schedule/preview", {"schedule": schedule, "timezone": timezone, "take": take})
    if as_json:
        emit_json(answer)
        return
    dst = {"gap": "gap: moved past the skipped hour", "fold": "fold: this wall time occurs twice"}
    rows = [[when(r["runAt"]), r["localTime"], dst.get(r.get("dst") or "", r.get("dst"))] for r in answer["items"]]
    table(["RUN AT (HERE)", "LOCAL TIME", "DST"], rows, empty="no runs ahead")
    for warning in answer.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)


@app.command("backfill", epilog="Example: agentcron tasks backfill TASK_ID --from 2026-01-01 --to 2026-01-08")
def backfill(
    task_id: TaskArg,
    start: Annotated[
        str, typer.Option("--from", metavar="WHEN", help="First instant (included): ISO 8601 or epoch ms.")
    ],
    end: Annotated[str, typer.Option("--to", metavar="WHEN", help="Last instant (excluded), not after now.")],
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue one run per slot of the task's schedule between two instants (run one at a time)."""
    body = {"from": parse_when(start, "--from"), "to": parse_when(end, "--to")}
    with Api(url, secret) as api:
        answer = api.post(f"/task/{task_id}/backfill", body)
    emit_json(answer) if as_json else emit_text(f"queued {answer['count']} runs of {answer['id']}")
