"""Following a task's event stream (``POST task/{id}/subscribe``, JSONL): one readable line per event for
``runs tail`` and ``tasks trigger --wait`` (time, execution, operation, duration, result or error), and
waiting for one execution to end.

The stream frames each execution with ``executionBegin`` / ``executionEnd`` (README, "Subscribe").
Operation and ``error`` events do not name their execution: an operation's id starts with it
(``<executionId>-<n>``), and an ``error`` belongs to the latest execution still open.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from rich.text import Text

from agentcron.cli.http import JSONL, Api
from agentcron.cli.output import CliError, clock, duration, emit_json_line, one_line, stderr, stdout

Event = dict[str, Any]
#: how long a replay may take to arrive (it is one write, sent as the stream opens)
REPLAY_S = 2.0


class EventLines:
    """Turns events into lines, remembering when each execution and operation began (for durations)."""

    def __init__(self) -> None:
        self.began: dict[str, int] = {}  # execution id -> createdAt of its executionBegin
        self.ops: dict[str, int] = {}  # operation id -> createdAt of its operationBegin
        self.open: list[str] = []  # executions begun and not ended, oldest first

    def execution_of(self, event: Event) -> str | None:
        data = event.get("data") or {}
        if "executionId" in data:
            return str(data["executionId"])
        op = data.get("id")
        if isinstance(op, str) and "-" in op:
            return op.rsplit("-", 1)[0]
        return self.open[-1] if self.open else None

    def line(self, event: Event) -> Text | None:
        """The event's line, or None for keep-alives."""
        kind = str(event.get("type"))
        if kind == "ping":
            return None
        at = int(event.get("createdAt") or 0)
        data = event.get("data") or {}
        execution = self.execution_of(event) or "-"
        took: int | None = None
        name, detail, style = "", "", ""
        if kind == "executionBegin":
            self.began[execution] = at
            if execution not in self.open:
                self.open.append(execution)
            slot = data.get("scheduledFor")
            name = str(data.get("trigger") or "")
            detail = f"attempt {data.get('attempt', 1)}" + (f", slot {clock(int(slot))}" if slot else "")
            label, style = "begin", "cyan"
        elif kind == "executionEnd":
            if execution in self.open:
                self.open.remove(execution)
            began = self.began.pop(execution, None)
            took = None if began is None else at - began
            outcome = str(data.get("outcome"))
            name = f"{data.get('status')}/{outcome}"
            detail = one_line(data.get("summary"), 100)
            label = "end"
            style = {"success": "green", "failure": "red"}.get(outcome, "yellow")
        elif kind in ("operationBegin", "operationEnd"):
            op = str(data.get("id"))
            name = str((data.get("action") or {}).get("name") or "-")
            if kind == "operationBegin":
                self.ops[op] = at
                label, detail = "op begin", one_line(_inputs(data), 80)
            else:
                began = self.ops.pop(op, None)
                took = None if began is None else at - began
                error = data.get("error")
                if error is not None:
                    label, style, detail = "op failed", "red", _error_text(error)
                else:
                    label, detail = "op end", one_line(data.get("result"), 100)
        elif kind == "error":
            label, style, detail = "error", "red", _error_text(data)
        else:
            label, detail = kind, one_line(data, 100)
        text = Text()
        text.append(clock(at), style="dim")
        text.append(f"  {execution}  ")
        text.append(f"{label:<9}", style=style or "bold")
        text.append(f"  {name}")
        if took is not None:
            text.append(f"  {duration(took)}", style="dim")
        if detail and detail != "-":
            text.append(f"  {detail}", style="red" if style == "red" else "")
        return text


def _inputs(data: Event) -> Any:
    value = (data.get("action") or {}).get("input")
    return None if value in ({}, None, "") else value


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return one_line(f"{code}: {message}" if code else message, 120)
    return one_line(error, 120)


def show(events: EventLines, event: Event, as_json: bool, to_stderr: bool = False) -> None:
    """Print one event: its JSON line, or its readable line (pings left out)."""
    if event.get("type") == "ping":
        return
    if as_json:
        emit_json_line(event)
        return
    line = events.line(event)
    if line is not None:
        (stderr() if to_stderr else stdout()).print(line, soft_wrap=True)


def subscribe(api: Api, task_id: str, history: int, read_s: float = 60.0) -> Any:
    """The task's event stream (a context manager). A live stream sends a keep-alive every 15 s: ``read_s``
    without a byte means the server is gone."""
    return api.stream(
        "POST",
        f"/task/{task_id}/subscribe",
        read_s=read_s,
        json={"historyLength": history},
        headers={"accept": JSONL},
    )


def finished(execution: Event) -> bool:
    """The execution has ended for good (a run handed back at shutdown is queued again: not ended)."""
    return execution.get("status") == "canceled" or (
        execution.get("status") == "idle" and execution.get("outcome") not in (None, "pending")
    )


def wait_for(api: Api, task_id: str, execution_id: str, on_event: Callable[[Event], None], history: int = 200) -> Event:
    """Follow the task's stream until ``execution_id`` ends, passing its events to ``on_event``; the
    execution as ``fetch`` reads it then.

    The stream replays the task's last ``history`` events first, so a run that began (or even ended)
    before the stream was open is still seen whole. A run that had ended already and is not in the replay
    (a chatty task) is taken as ``fetch`` reads it after `REPLAY_S`; each keep-alive (every 15 s) re-reads
    a running one, in case its end fell outside the replay."""
    path = f"/task/{task_id}/execution/{execution_id}/fetch"
    ended = finished(api.get(path))
    with subscribe(api, task_id, history, read_s=REPLAY_S if ended else 60.0) as r:
        seen = False
        try:
            for event in _events(r):
                kind = event.get("type")
                data = event.get("data") or {}
                if kind == "executionBegin" and data.get("executionId") == execution_id:
                    seen = True
                if seen:
                    on_event(event)
                if kind == "executionEnd" and data.get("executionId") == execution_id:
                    if data.get("outcome") != "pending":  # (pending: handed back at shutdown, runs again)
                        break
                if kind == "ping" and finished(api.get(path)):
                    break
            else:
                raise CliError(f"the server closed the event stream of task {task_id} before the run ended")
        except httpx.ReadTimeout as e:
            if not ended:
                raise api.unreachable(e) from None
    # The stream's end can come a moment before the execution row is read back with it.
    deadline = time.monotonic() + 5
    while not finished(current := api.get(path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return dict(current)


def _events(r: httpx.Response) -> Iterator[Event]:
    for line in r.iter_lines():
        if line.strip():
            value = json.loads(line)
            if isinstance(value, dict):
                yield value
