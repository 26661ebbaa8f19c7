"""What the commands print: Rich tables for people, one JSON document (or JSON lines for streams) with
``--json``, and the errors every command ends with (`CliError`: a message on stderr and an exit code, never
a traceback).

Results go to stdout, everything else (errors, progress, hints) to stderr, so ``--json`` output pipes clean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

#: columns of ids, shown whole however narrow the terminal
IDS = frozenset({"ID", "BOT", "TASK"})
#: exit codes: a refused request (or one that could not be made), and bad usage (click's own code)
REFUSED, USAGE = 1, 2


class CliError(Exception):
    """Ends the command: ``agentcron: <message>`` on stderr, then exit ``code``."""

    def __init__(
        self, message: str, code: int = REFUSED, details: Sequence[str] = (), body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        #: more lines printed after the message (the bad rows of an import)
        self.details = list(details)
        #: the server's error answer, when there was one
        self.body = body


def stdout() -> Console:
    # (made per call: tests and pipes swap sys.stdout; highlight off so ids and numbers keep their look; not
    # on a terminal, lines are as long as they need: a pipe has no width to fit)
    wide = None if sys.stdout.isatty() else 10_000
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=wide)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False)


def fail(error: CliError) -> int:
    """Print the error; its exit code."""
    print(f"agentcron: {error.message}", file=sys.stderr)
    for line in error.details:
        print(f"  {line}", file=sys.stderr)
    sys.stderr.flush()
    return error.code


def note(message: str) -> None:
    """A line for the person at the terminal (stderr), e.g. what a command did when stdout holds data."""
    print(message, file=sys.stderr, flush=True)


def emit_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def emit_json_line(value: Any) -> None:
    """One JSON line on stdout (streams), flushed at once."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def emit_text(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def when(ms: Any) -> str:
    """An epoch-ms instant (or an ISO string, as ``completedAt``) in local time, to the second; ``-``."""
    if ms is None or ms == "":
        return "-"
    try:
        if isinstance(ms, str):
            at = datetime.fromisoformat(ms.replace("Z", "+00:00"))
        else:
            at = datetime.fromtimestamp(int(ms) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return str(ms)
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def clock(ms: int) -> str:
    """An epoch-ms instant as a local time of day, to the millisecond (stream lines)."""
    at = datetime.fromtimestamp(ms / 1000, UTC).astimezone()
    return at.strftime("%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


def duration(ms: Any) -> str:
    if ms is None:
        return "-"
    seconds = float(ms) / 1000
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def epoch_ms(value: Any) -> int | None:
    """``value`` (epoch ms, or an ISO string) as epoch ms, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def one_line(text: Any, width: int = 60) -> str:
    """A value cut to one line of at most ``width`` characters."""
    if text is None:
        return "-"
    if isinstance(text, dict | list):
        text = json.dumps(text, ensure_ascii=False)
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def cell(value: Any) -> Text:
    """A table cell: text as it is (no Rich markup), JSON for structures, ``-`` for null."""
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, dict | list):
        return Text(json.dumps(value, ensure_ascii=False))
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    return Text(str(value))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "nothing to show") -> None:
    """Rows as a Rich table on stdout (a hint on stderr instead when there are none)."""
    rows = list(rows)
    if not rows:
        note(empty)
        return
    t = Table(box=None, header_style="bold", pad_edge=False)
    for i, name in enumerate(columns):
        if name in IDS:  # (never cut an id: it is what the next command takes)
            t.add_column(name, no_wrap=True, min_width=max(len(str(row[i] or "")) for row in rows))
        else:
            t.add_column(name)
    for row in rows:
        t.add_row(*(v if isinstance(v, Text) else cell(v) for v in row))
    stdout().print(t)


def record(pairs: Iterable[tuple[str, Any]]) -> None:
    """One object as a two-column table of field and value."""
    t = Table(box=None, show_header=False, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for key, value in pairs:
        t.add_row(key, value if isinstance(value, Text) else cell(value))
    stdout().print(t)


def status_text(status: Any, outcome: Any = None) -> Text:
    """``status/outcome`` coloured: green success, red failure, yellow running or queued."""
    label = str(status) if outcome is None else f"{status}/{outcome}"
    style = {"success": "green", "failure": "red", "pending": "yellow"}.get(str(outcome), "")
    if status in ("running", "canceled"):
        style = "yellow" if status == "running" else "red"
    return Text(label, style=style)
