"""``agentcron export`` and ``agentcron import``: every task of the account to a file (JSON, JSONL or CSV, as
``task/export`` writes them) and back (``task/import``: all rows or none; bad rows are listed by line)."""

from __future__ import annotations

import csv
import enum
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from agentcron.cli.http import DEFAULT_URL, JSONL, Api, JsonOpt, SecretOpt, UrlOpt
from agentcron.cli.output import USAGE, CliError, emit_json, note

app = typer.Typer()


class Format(enum.StrEnum):
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


MEDIA = {Format.json: "application/json", Format.jsonl: JSONL, Format.csv: "text/csv"}
SUFFIXES = {".json": Format.json, ".jsonl": Format.jsonl, ".ndjson": Format.jsonl, ".csv": Format.csv}
#: JSONL lines an import skips (README, "Import"), so they are no row
SKIPPED = {"result", "nop", "ping"}
#: bad rows listed at most (the rest are counted)
SHOW_ERRORS = 50
CHUNK = 64 * 1024

FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="json, jsonl or csv (default: from the file name's extension, else json)."),
]


def _format_of(path: Path | None, given: Format | None) -> Format | None:
    if given is not None:
        return given
    return None if path is None else SUFFIXES.get(path.suffix.lower())


@app.command("export", epilog="Examples: agentcron export -o tasks.jsonl;  agentcron export --format csv > tasks.csv")
def export(
    fmt: FormatOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here (default: stdout).")] = None,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export every task's configuration (no run state), newest first; agentcron import reads it back."""
    chosen = _format_of(output, fmt) or Format.json
    sink = io.BytesIO()
    count = 0
    with Api(url, secret) as api:
        accept = MEDIA[Format.jsonl] if chosen is Format.json else MEDIA[chosen]
        with api.stream("GET", "/task/export", headers={"accept": accept}) as r:
            if chosen is Format.json:
                items: list[Any] = []
                for event in api.lines(r):
                    _check_line(event)
                    if event.get("type") == "item":
                        items.append(event["data"])
                sink.write(json.dumps(items, ensure_ascii=False, indent=2).encode() + b"\n")
                count = len(items)
            else:
                for chunk in r.iter_bytes():  # (a transport error: `Api.stream` raises CliError)
                    sink.write(chunk)
    data = sink.getvalue()
    if chosen is Format.jsonl:
        for line in data.splitlines():
            if line.strip():
                event = json.loads(line)
                _check_line(event)
                count += event.get("type") == "item"
    elif chosen is Format.csv:
        records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        if records and records[-1][:1] and records[-1][0].startswith("#error:"):
            raise CliError(f"the server stopped the export part way: {records[-1][0][7:].strip()}")
        count = max(0, sum(1 for rec in records if rec) - 1)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        if not as_json:
            note(f"exported {tasks(count)} ({chosen})")
        return
    try:
        output.write_bytes(data)
    except OSError as e:
        raise CliError(f"cannot write {output}: {e.strerror or e}") from None
    if as_json:
        emit_json({"file": str(output), "format": str(chosen), "count": count})
    else:
        print(f"exported {tasks(count)} to {output} ({chosen})")


def tasks(n: int) -> str:
    return f"{n} task" if n == 1 else f"{n} tasks"


def _check_line(event: dict[str, Any]) -> None:
    if event.get("type") == "error":
        message = (event.get("data") or {}).get("message")
        raise CliError(f"the server stopped the export part way: {message}")


def row_lines(fmt: Format, data: bytes) -> list[int]:
    """The line of the file each row starts on, by row index as the server counts rows (JSON: none)."""
    lines: list[int] = []
    if fmt is Format.jsonl:
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            kind = value.get("type") if isinstance(value, dict) else None
            if kind not in SKIPPED:
                lines.append(number)
    elif fmt is Format.csv:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""))
        end, header = 0, True
        try:
            for rec in reader:
                start, end = end + 1, reader.line_num
                if header:
                    header = False
                elif rec:
                    lines.append(start)
        except csv.Error:
            pass  # (the server says what is wrong)
    return lines


def _bad_rows(err: CliError, fmt: Format, data: bytes) -> CliError:
    """The server's refusal with every bad row (``errors: [{index, message}]``) named by its line."""
    errors = (err.body or {}).get("errors")
    if not isinstance(errors, list):
        return err
    lines = row_lines(fmt, data)
    details = []
    for e in errors[:SHOW_ERRORS]:
        index = int(e.get("index", -1))
        where = f"line {lines[index]}" if 0 <= index < len(lines) else f"row {index + 1}"
        details.append(f"{where} (row {index + 1}): {e.get('message')}")
    if len(errors) > SHOW_ERRORS:
        details.append(f"... and {len(errors) - SHOW_ERRORS} more")
    return CliError(err.message, err.code, details, err.body)


def _upload(data: bytes, progress: Progress | None, name: str) -> Iterator[bytes]:
    task = progress.add_task(f"Uploading {name}", total=len(data)) if progress else None
    for start in range(0, len(data), CHUNK):
        chunk = data[start : start + CHUNK]
        yield chunk
        if progress is not None and task is not None:
            progress.advance(task, len(chunk))
    if progress is not None and task is not None:
        progress.update(task, description="Checking the rows on the server")


@app.command("import", epilog="Example: agentcron import tasks.jsonl   (all rows are created, or none)")
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A file agentcron export (or task/export) wrote.")],
    fmt: FormatOpt = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Show a progress bar (default: when stderr is a terminal)."),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a task for every row of an export file; a file with bad rows creates nothing and lists them."""
    chosen = _format_of(file, fmt)
    if chosen is None:
        raise CliError(f"cannot tell the format of {file}: name it .json, .jsonl or .csv, or pass --format", USAGE)
    try:
        data = file.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {file}: {e.strerror or e}", USAGE) from None
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        console = Console(file=sys.stderr, force_terminal=True if progress else None)
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
        )
        bar = Progress(*columns, console=console, transient=False)
    with Api(url, secret) as api:
        headers = {"content-type": MEDIA[chosen], "content-length": str(len(data))}
        try:
            if bar is not None:
                with bar:
                    r = api.call("POST", "/task/import", content=_upload(data, bar, file.name), headers=headers)
            else:
                r = api.call("POST", "/task/import", content=data, headers=headers)
        except CliError as e:
            raise _bad_rows(e, chosen, data) from None
    answer = r.json()
    if as_json:
        emit_json(answer)
    else:
        print(f"imported {tasks(answer['count'])} from {file}")
