"""The ``agentcron`` client commands, run as the real executable (``python -m agentcron``) against a real
server on both backends: ``tasks trigger --wait`` exit codes, ``runs tail`` printing a whole run and ending
on Ctrl-C, export -> import round trips with progress output, ``--json`` parseable on every command, and
the exit codes and messages of bad usage (2), refused requests (1) and a server that is down (1).

Independent invocations run at once (`run_many`): each is a Python start-up of ~0.3 s."""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import Server, free_port
from tests.http_helpers import API, new_task, wait_bot

AGENTCRON = [sys.executable, "-m", "agentcron"]


def _env(server: Server | None, secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCRON_")}
    env["COLUMNS"] = "200"
    if server is not None:
        env["AGENTCRON_URL"] = server.url
        env["AGENTCRON_DATABASE_URL"] = server.db_url
    if secret is not None:
        env["AGENTCRON_SECRET"] = secret
    return env


def start(server: Server | None, secret: str | None, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*AGENTCRON, *args],
        env=_env(server, secret),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli(server: Server | None, secret: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``agentcron ARGS`` with AGENTCRON_URL, AGENTCRON_SECRET and AGENTCRON_DATABASE_URL of ``server``."""
    return finish(start(server, secret, *args))


def run_many(server: Server | None, secret: str | None, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Each command at once; their results in order."""
    procs = [start(server, secret, *args) for args in commands]
    return [finish(p) for p in procs]


def ok_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return json.loads(done.stdout)


# -- tasks trigger --wait ---------------------------------------------------------------------------------


def test_trigger_wait_exits_0_on_success_and_1_on_failure(server: Server) -> None:
    secret = server.account("cli-trigger")
    with server.client(secret) as c:
        good = new_task(c, botId=wait_bot(c, 0.1), schedule="never")
        botless = new_task(c, schedule="never")  # its run fails: NO_BOT
    success, as_json, failure, queued = run_many(
        server,
        secret,
        ["tasks", "trigger", good, "--wait"],
        ["tasks", "trigger", good, "--wait", "--json"],
        ["tasks", "trigger", botless, "--wait"],
        ["tasks", "trigger", botless],  # without --wait: queued, exit 0 at once
    )
    assert success.returncode == 0, success.stderr
    assert "idle/success" in success.stdout and "waited 0.1 s" in success.stdout
    assert "operationEnd" not in success.stderr and "op end" in success.stderr  # the run, line by line
    run = ok_json(as_json)
    assert run["taskId"] == good and run["outcome"] == "success" and run["trigger"] == "trigger"
    assert failure.returncode == 1, (failure.stdout, failure.stderr)
    assert "idle/failure" in failure.stdout and "NO_BOT" in failure.stderr
    assert queued.returncode == 0 and queued.stdout.strip() == f"triggered {botless}"


# -- runs tail ------------------------------------------------------------------------------------------


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout lines, read by a thread (so the test can wait with a deadline)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: queue.Queue[str], done: Any, timeout: float = 20) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if done(line):
            return seen
    raise AssertionError(f"not seen in time; got {seen}")


def _interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    return proc.returncode, err


def test_runs_tail_prints_a_whole_run_and_ends_on_ctrl_c(server: Server) -> None:
    secret = server.account("cli-tail")
    with server.client(secret) as c:
        task = new_task(c, botId=wait_bot(c, 0.2), schedule="never")
        # (--history: a run that starts before the stream is registered is replayed, not missed)
        tail = start(server, secret, "runs", "tail", task, "--history", "1000")
        raw = start(server, secret, "runs", "tail", task, "--history", "1000", "--json")
        lines, json_lines = _lines(tail), _lines(raw)
        time.sleep(0.3)
        assert c.post(f"{API}/task/{task}/trigger", json={}).status_code == 200
        printed = _until(lines, lambda line: re.search(r"\s\send\s\s", line) is not None)
        events = [json.loads(line) for line in _until(json_lines, lambda line: '"executionEnd"' in line)]
    for proc in (tail, raw):
        code, err = _interrupt(proc)
        assert code == 0 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    execution = events[0]["data"]["executionId"]
    assert [e["type"] for e in events] == [
        "executionBegin",
        "operationBegin",
        "operationEnd",
        "operationBegin",
        "operationEnd",
        "operationBegin",
        "operationEnd",
        "executionEnd",
    ]
    assert len(printed) == len(events)
    assert all(execution in line for line in printed)
    begin, *_, wait_end, _, _, end = printed
    assert "begin" in begin and "trigger" in begin
    assert "op end" in wait_end and "wait" in wait_end and "waited 0.2 s" in wait_end and " ms" in wait_end
    assert "end" in end and "idle/success" in end and "Completed task" in end


# -- export -> import -----------------------------------------------------------------------------------


def _comparable(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in t.items() if k not in ("id", "createdAt", "updatedAt")} for t in tasks]


def test_export_import_round_trip_with_progress(server: Server, tmp_path: Path) -> None:
    source = server.account("cli-export")
    with server.client(source) as c:  # (no bots: a bot id names a bot of the source account only)
        new_task(c, name="digest", schedule="0 9 * * 1-5", timezone="Europe/Berlin", meta={"k": [1, "a"]})
        new_task(c, name="never", description='line one\nline two, "quoted"', schedule="never")
        paused = new_task(c, name="paused", schedule="hourly")
        assert c.post(f"{API}/task/{paused}/pause", json={"reason": "holiday"}).status_code == 200
    files = {fmt: tmp_path / f"tasks.{fmt}" for fmt in ("json", "jsonl", "csv")}
    exported = run_many(server, source, *(["export", "-o", str(f)] for f in files.values()), ["export", "--json"])
    for done in exported[:3]:
        assert done.returncode == 0 and "exported 3 tasks to" in done.stdout, done.stderr
    original = ok_json(exported[3])  # (to stdout, the whole export as one JSON document)
    assert len(original) == 3
    assert json.loads(files["json"].read_text()) == original
    targets = {fmt: server.account(f"cli-import-{fmt}") for fmt in files}
    # (a progress bar is drawn when asked for, or on a terminal: not here, without --progress)
    extra = {"json": ["--progress"], "csv": ["--progress"], "jsonl": ["--json"]}
    imports = [start(server, targets[fmt], "import", str(f), *extra[fmt]) for fmt, f in files.items()]
    for fmt, proc in zip(files, imports, strict=True):
        done = finish(proc)
        if fmt == "jsonl":
            assert ok_json(done)["count"] == 3 and "Uploading" not in done.stderr
        else:
            assert done.returncode == 0 and done.stdout.strip() == f"imported 3 tasks from {files[fmt]}", done.stderr
            assert f"Uploading tasks.{fmt}" in done.stderr and "100%" in done.stderr  # the progress bar
        with server.client(targets[fmt]) as c:
            again = c.get(f"{API}/task/export", headers={"accept": "application/jsonl"})
        assert _comparable([json.loads(line)["data"] for line in again.text.splitlines()]) == _comparable(original)


def test_import_lists_bad_rows_by_line_and_imports_nothing(server: Server, tmp_path: Path) -> None:
    secret = server.account("cli-bad-import")
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"name": "fine"}\n{"type": "ping"}\n\n{"name": "x", "schedule": "nope"}\n{"name": 3}\n')
    table = tmp_path / "bad.csv"
    with io.StringIO() as buf:
        csv.writer(buf).writerows([["name", "description", "schedule"], ["a", "two\nlines", "daily"], ["b", "", "x"]])
        table.write_text(buf.getvalue())
    bad_jsonl, bad_csv = run_many(server, secret, ["import", str(jsonl)], ["import", str(table)])
    assert bad_jsonl.returncode == 1, bad_jsonl.stderr
    assert "2 of 3 rows are invalid" in bad_jsonl.stderr
    assert "line 4 (row 2): Invalid schedule" in bad_jsonl.stderr and "line 5 (row 3):" in bad_jsonl.stderr
    assert bad_csv.returncode == 1 and "line 4 (row 2): Invalid schedule" in bad_csv.stderr, bad_csv.stderr
    with server.client(secret) as c:
        assert c.get(f"{API}/task/list").json()["items"] == []


# -- --json everywhere ----------------------------------------------------------------------------------


def test_every_client_command_prints_json(server: Server, tmp_path: Path) -> None:
    secret = server.account("cli-json")
    with server.client(secret) as c:
        bot = str(
            c.post(f"{API}/bot/create", json={"name": "B", "model": "test", "abilities": [{"type": "time"}]}).json()[
                "id"
            ]
        )
        task = new_task(c, botId=bot, schedule="30 2 * * *", timezone="Europe/Berlin", meta={"owner": "ops", "n": 3})
        paused = new_task(c, schedule="hourly")
        assert c.post(f"{API}/task/{paused}/pause", json={}).status_code == 200
        to_pause, to_delete = new_task(c, schedule="daily"), new_task(c, schedule="never")
    run = ok_json(run_cli(server, secret, "tasks", "trigger", task, "--wait", "--json"))
    hour_ago = str(int(time.time() * 1000) - 3_600_000)
    until = "2999-01-01T00:00Z"
    results = run_many(
        server,
        secret,
        ["bots", "create", "--name", "C", "--model", "test", "--ability", 'wait={"seconds": 1}', "--json"],
        ["bots", "list", "--json"],
        ["bots", "show", bot, "--json"],
        ["tasks", "create", "--name", "N", "--schedule", "daily", "--meta", "a=b", "--json"],
        ["tasks", "list", "--bot", bot, "--json"],
        ["tasks", "show", task, "--json"],
        ["tasks", "update", task, "--description", "D", "--meta", "extra=true", "--json"],
        ["tasks", "preview", task, "-n", "3", "--json"],
        # (02:30 on the Sundays of March: the last one falls in the gap of the switch to summer time)
        ["tasks", "preview", "--schedule", "30 2 * 3 0", "--timezone", "Europe/Berlin", "-n", "10", "--json"],
        ["tasks", "backfill", task, "--from", hour_ago, "--to", "now", "--json"],
        ["runs", "list", task, "--json"],
        ["runs", "list", task, "--status", "canceled", "--json"],
        ["runs", "show", task, run["id"], "--json"],
        ["tasks", "cancel", task, "--json"],
        ["tasks", "pause", to_pause, "--reason", "r", "--until", until, "--json"],
        ["tasks", "resume", paused, "--json"],
        ["tasks", "delete", to_delete, "--yes", "--json"],
        ["export", "-o", str(tmp_path / "t.csv"), "--json"],
    )
    new_bot, bots, shown_bot, created, tasks, shown, updated, preview, dst, backfill = results[:10]
    runs, canceled, one, cancel, pause, resume, delete, exported = results[10:]
    assert {bot, ok_json(new_bot)["id"]} >= {b["id"] for b in ok_json(bots)} >= {bot}
    assert ok_json(shown_bot)["abilities"][0]["type"] == "time"
    assert ok_json(created)["id"]
    assert [t["id"] for t in ok_json(tasks)] == [task]
    assert ok_json(shown)["meta"]["owner"] == "ops" and ok_json(shown)["meta"]["n"] == 3  # (update runs alongside)
    assert ok_json(updated)["id"] == task
    assert len(ok_json(preview)["items"]) == 3
    assert any(item["dst"] == "gap" for item in ok_json(dst)["items"]) and ok_json(dst)["warnings"]
    assert ok_json(backfill)["count"] >= 0
    assert run["id"] in [r["id"] for r in ok_json(runs)]
    assert all(r["status"] == "canceled" for r in ok_json(canceled))  # (cancel runs alongside)
    assert ok_json(one)["id"] == run["id"]
    assert [ok_json(d) for d in (cancel, pause, resume, delete)] == [
        {"id": i} for i in (task, to_pause, paused, to_delete)
    ]
    summary = ok_json(exported)
    assert summary["file"] == str(tmp_path / "t.csv") and summary["format"] == "csv"
    assert summary["count"] == len(list(csv.reader(io.StringIO((tmp_path / "t.csv").read_text())))) - 1
    listed_paused, shown_after, shown_paused = run_many(
        server,
        secret,
        ["tasks", "list", "--paused", "--json"],
        ["tasks", "show", task, "--json"],
        ["tasks", "show", to_pause, "--json"],
    )
    assert [t["id"] for t in ok_json(listed_paused)] == [to_pause]
    after = ok_json(shown_after)
    assert after["description"] == "D" and after["meta"] == {"owner": "ops", "n": 3, "extra": True}
    pause_fields = ok_json(shown_paused)
    assert pause_fields["pauseReason"] == "r"
    assert pause_fields["pausedUntil"] == int(datetime(2999, 1, 1, tzinfo=UTC).timestamp() * 1000)


# -- exit codes and messages ----------------------------------------------------------------------------


def test_a_refused_request_exits_1_with_the_servers_message(server: Server) -> None:
    secret = server.account("cli-errors")
    missing, invalid, wrong, tail404 = run_many(
        server,
        secret,
        ["tasks", "show", "cnothere0000000000000000"],  # 404
        ["tasks", "create", "--name", "x", "--schedule", "every blue moon"],  # 400
        ["tasks", "list", "--secret", "sk-wrong"],  # 401
        ["runs", "tail", "cnothere0000000000000000"],  # 404 on a stream
    )
    for done, message in (
        (missing, "agentcron: Not found (404 NOT_FOUND)"),
        (invalid, "agentcron: Invalid schedule: 'every blue moon'"),
        (wrong, "agentcron: Invalid API secret (401 NOT_AUTHENTICATED)"),
        (tail404, "agentcron: Not found (404 NOT_FOUND)"),
    ):
        assert done.returncode == 1 and done.stderr.startswith(message), (done.args, done.stderr)
        assert done.stdout == ""


def test_bad_usage_exits_2_a_down_server_is_named_and_every_command_has_help(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    unknown = tmp_path / "tasks.txt"
    unknown.write_text("[]")
    results = run_many(
        None,
        "sk-any",
        ["tasks", "show"],  # missing argument
        ["tasks", "list", "--nope"],  # unknown option
        ["tasks", "backfill", "x", "--from", "yesterday", "--to", "now"],  # not a time
        ["tasks", "preview"],  # neither ID nor --schedule
        ["tasks", "preview", "--schedule", "daily", "-n", "200"],  # -n is 1 to 100
        ["tasks", "delete", "x"],  # no --yes, not a terminal
        ["tasks", "list", "--secret", ""],  # no secret
        ["import", str(unknown)],  # no format
        ["tasks", "list", "--url", down],  # nobody listens there
        ["runs", "tail", "x", "--url", down],
        ["account", "list", "--database-url", "postgresql://agentcron:hunter2@127.0.0.1:1/nope"],
        ["--help"],
        ["tasks", "trigger", "--help"],
        ["runs", "tail", "-h"],
        ["token", "list", "--help"],
    )
    usage, unknown_option, when, neither, too_many, unconfirmed, no_secret, no_format = results[:8]
    unreachable, tail_down, no_database, *helps = results[8:]
    for done in results[:8]:
        assert done.returncode == 2 and done.stdout == "", (done.args, done.stderr)
    assert "Missing argument" in usage.stderr and "No such option" in unknown_option.stderr
    assert "not a time" in when.stderr and "--schedule" in neither.stderr and "--yes" in unconfirmed.stderr
    assert "AGENTCRON_SECRET" in no_secret.stderr and "--format" in no_format.stderr and "-n" in too_many.stderr
    for done in (unreachable, tail_down):
        assert done.returncode == 1 and done.stderr.startswith(f"agentcron: cannot reach the server at {down}")
    assert no_database.returncode == 1
    assert no_database.stderr.startswith("agentcron: database postgresql://agentcron:***@127.0.0.1:1")
    assert "hunter2" not in no_database.stderr
    for done in helps:
        assert done.returncode == 0 and "Example" in done.stdout, done.stdout


def test_tasks_show_prints_the_token_budget_and_its_usage(server: Server) -> None:
    secret = server.account("cli-budget")
    with server.client(secret) as c:
        task = new_task(c, schedule="never", tokenBudget={"limit": 5000, "period": "week"})
    shown = run_cli(server, secret, "tasks", "show", task)
    assert shown.returncode == 0, shown.stderr
    assert "0 of 5000 this week, resets " in shown.stdout
