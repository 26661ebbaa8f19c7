"""Task import (extension): ``POST task/import`` takes what ``task/export`` writes and creates every row as a
new task of the account, all in one transaction, or none.

The format comes from Content-Type: JSON (an array of tasks, or ``{"items": [...]}``), JSONL (export lines
``{"type":"item","data":{...}}``, or bare objects; ``result``/``nop``/``ping`` lines are skipped) or CSV
(export's: a header row, ``meta`` as YAML, an empty cell is null, numbers read by the column's type).

Each row is checked by the rules and with the messages of ``task/create``; the whole file is checked before
anything is written, and a file with bad rows answers 400 with every bad row (``errors: [{index,
message}]``, index 0-based in the file's rows). The file's ids and timestamps are not reused: new ids are
minted in the order of the file's ``(createdAt, id)`` (rows without them after, in file order), so an
export of the imported tasks lists them in the order the original export did. The pause fields are
restored, except a ``pausedUntil`` that has passed: that task comes back resumed.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import yaml
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from msgspec import UNSET, Raw, UnsetType

from agentcron import ids
from agentcron.api.context import AppContext, authed
from agentcron.api.crud import ResourceApi, columns_from
from agentcron.api.schemas import TaskImport, TaskWrite, present
from agentcron.api.wire import (
    BODY,
    MAX_DEPTH,
    deep_field,
    deep_path,
    free_field,
    free_json_problem,
    free_value_problem,
    has_nul,
    json_response,
    too_deep,
)
from agentcron.errors import CODES, ApiError
from agentcron.signals import ScheduleChanged
from agentcron.store.db import Tx
from agentcron.store.resources import BOT, CONTACT

#: rows one import takes at most (413 beyond)
IMPORT_MAX_ROWS = 10_000
#: request body limit of ``task/import`` alone (other routes: ``AGENTCRON_MAX_BODY_BYTES``): 10,000 rows of
#: a few KB each (descriptions are often long prompts)
IMPORT_MAX_BODY = 64 * 1024 * 1024

MEDIA_TYPES = {
    "application/json": "json",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "text/csv": "csv",
}
#: fields of a row that are not written as sent (restored by hand, or only read to order the new ids)
NOT_WRITTEN = frozenset(set(TaskImport.__struct_fields__) - set(TaskWrite.__struct_fields__))
#: CSV columns holding a JSON object (export writes them as JSON text; ``meta`` is YAML)
JSON_CELLS = ("retryPolicy",)
#: JSONL event lines that carry no task (an export emits none of them; other servers' streams may)
SKIPPED_EVENTS = frozenset({"result", "nop", "ping"})
NUL_MESSAGE = "Invalid request body: strings must not contain NUL (\\u0000)"

Source = TypeVar("Source")
_row_decoder = msgspec.json.Decoder(TaskImport, strict=False)  # (as task/create decodes bodies)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: ~7x faster


class _Envelope(msgspec.Struct):
    """A JSON export (``{"items", "cursor"}``); keys besides ``items`` are ignored."""

    items: list[Raw]


class _Line(msgspec.Struct):
    """A JSONL event line; a bare task has no ``type``."""

    type: str | UnsetType = UNSET
    data: Raw | UnsetType = UNSET


class _BadRow(Exception):
    """A row that cannot be imported; the message is the one ``task/create`` gives for the same body."""


# -- reading the file -----------------------------------------------------------------------------------


def media_format(request: Request[Any, Any, Any]) -> str:
    """json, jsonl or csv, from Content-Type (parameters such as charset ignored). Raises `ApiError` 415."""
    sent = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = MEDIA_TYPES.get(sent)
    if fmt is None:
        raise ApiError(
            415,
            f"Unsupported content type {sent!r}: an import is application/json, application/jsonl "
            "(or application/x-ndjson) or text/csv, as task/export writes them",
        )
    return fmt


def json_rows(body: bytes) -> list[Raw]:
    """The rows of a JSON array or ``{"items": [...]}``. Raises `ApiError` 400 for anything else."""
    if not body.strip():
        return []
    try:
        top = msgspec.json.decode(body, type=list[Raw] | _Envelope)
    except msgspec.ValidationError as e:
        raise ApiError(400, f'Invalid import: expected an array of tasks or {{"items": [...]}}: {e}') from None
    except msgspec.DecodeError as e:
        raise ApiError(400, f"Invalid JSON body: {e}") from None
    except RecursionError:  # (a row hundreds of levels deep: msgspec recurses per level, even to skip it)
        raise ApiError(400, _too_deep_file(body)) from None
    return top.items if isinstance(top, _Envelope) else top


def _too_deep_file(body: bytes) -> str:
    """The message for a JSON file that cannot be split in rows, for a row nested too deep to read."""
    path = deep_path(body) or []
    if path[:1] == ["items"]:
        path = path[1:]
    if not path or not isinstance(path[0], int):
        return f"Invalid import: nested deeper than {MAX_DEPTH} levels; a row's meta nests at most {MAX_DEPTH} deep"
    field = free_field(path[1:])
    if field == BODY:  # (not a field: the row is not an object)
        return f"Invalid import: row {path[0]} (0-based) nests deeper than {MAX_DEPTH} levels; a row is a task object"
    return f"Invalid import: row {path[0]} (0-based) cannot be read: {too_deep(field)}"


def jsonl_rows(body: bytes) -> list[bytes | Raw | _BadRow]:
    """The rows of a JSONL file: each line's ``data`` (``item`` lines) or the line itself (bare objects).
    Blank lines and ``result``/``nop``/``ping`` events are skipped. Raises `ApiError` 400 for an ``error``
    event: the stream that wrote the file failed part way, so the file is not a whole export."""
    rows: list[bytes | Raw | _BadRow] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            event: _Line | None = msgspec.json.decode(line, type=_Line)
        except msgspec.MsgspecError:
            event = None  # not an event: decoding it as a task gives create's message
        except RecursionError:  # (an item or a bare row hundreds of levels deep)
            path = deep_path(line) or []
            rows.append(_BadRow(too_deep(free_field(path[1:] if path[:1] == ["data"] else path))))
            continue
        if event is None or event.type is UNSET:
            rows.append(line)
        elif event.type == "item":
            rows.append(event.data if event.data is not UNSET else _BadRow('Invalid item line: no "data"'))
        elif event.type == "error":
            raise ApiError(
                400, f"Invalid import: line {number} is an error event; the export that wrote this file failed"
            )
        elif event.type not in SKIPPED_EVENTS:
            rows.append(line)  # refused by name: unknown field `type`
    return rows


def csv_rows(body: bytes) -> tuple[list[str], list[list[str]]]:
    """The header and the records of a CSV file (UTF-8, an optional BOM). Raises `ApiError` 400 for text
    that is not CSV or a header naming a column ``task/export`` does not write."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"Invalid CSV: not UTF-8 (byte {e.start})") from None
    # (a process-wide limit, default 128 KiB a cell: a large meta would not fit; raising it harms nothing)
    csv.field_size_limit(max(csv.field_size_limit(), IMPORT_MAX_BODY))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as e:
        raise ApiError(400, f"Invalid CSV at line {reader.line_num}: {e}") from None
    if not records:
        return [], []
    header = records[0]
    known = TaskImport.__struct_fields__
    for i, name in enumerate(header):
        if name not in known:
            raise ApiError(400, f"Invalid CSV header: unknown column {name!r}; the columns are task/export's")
        if name in header[:i]:
            raise ApiError(400, f"Invalid CSV header: column {name!r} appears twice")
    return header, [r for r in records[1:] if r]  # (csv gives [] for a blank line)


# -- one row --------------------------------------------------------------------------------------------


def decode_json_row(raw: bytes | Raw) -> TaskImport:
    """Raises `_BadRow` with create's message."""
    try:
        row = _row_decoder.decode(raw)
    except msgspec.ValidationError as e:
        raise _BadRow(f"Invalid request body: {e}") from None
    except msgspec.DecodeError as e:
        raise _BadRow(f"Invalid JSON body: {e}") from None
    except RecursionError:
        raise _BadRow(too_deep(deep_field(bytes(raw)))) from None
    problem = free_json_problem(row)
    if problem is not None:
        raise _BadRow(problem)
    if b"\\u0000" in bytes(raw) and has_nul(msgspec.json.decode(raw)):
        raise _BadRow(NUL_MESSAGE)
    return row


def decode_csv_row(header: list[str], cells: list[str]) -> TaskImport:
    """A record as a row: empty cells are null, ``meta`` is YAML, the rest converts by the field's type
    (``"60000"`` is a number in ``sessionDuration``, a string in ``name``). Raises `_BadRow`."""
    if len(cells) != len(header):
        raise _BadRow(f"Invalid CSV row: {len(cells)} cells where the header has {len(header)}")
    if any("\x00" in cell for cell in cells):
        raise _BadRow(NUL_MESSAGE)
    fields: dict[str, Any] = {name: cell or None for name, cell in zip(header, cells, strict=True)}
    meta = fields.get("meta")
    if meta is not None:
        fields["meta"] = meta_of(meta)
    budget = fields.get("tokenBudget")
    if budget is not None:  # (export writes it as JSON)
        try:
            fields["tokenBudget"] = msgspec.json.decode(budget)
        except msgspec.DecodeError:
            raise _BadRow('Invalid tokenBudget: not JSON such as {"limit": 100000, "period": "day"}') from None
    for name in JSON_CELLS:
        if fields.get(name) is not None:
            fields[name] = json_cell(name, fields[name])
    try:
        return msgspec.convert(fields, TaskImport, strict=False)  # (meta_of checked the only free JSON)
    except msgspec.ValidationError as e:
        raise _BadRow(f"Invalid request body: {e}") from None


def json_cell(name: str, text: str) -> Any:
    """A CSV cell holding a JSON object as export writes it (``retryPolicy``). Raises `_BadRow`."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as e:
        raise _BadRow(f"Invalid {name}: not JSON ({e})") from None
    except RecursionError:
        raise _BadRow(too_deep(name)) from None


def meta_of(text: str) -> Any:
    """A CSV ``meta`` cell's YAML as data. Anchors and aliases are refused (a few hundred bytes of aliases
    expand to gigabytes), and so are tags (export writes plain YAML); a NUL decoded from an escape is refused
    as in a JSON body, and so is a value nested deeper or holding a number larger than a JSON body takes
    (`free_value_problem`), or one YAML cannot represent in Python (a date such as 2024-02-30). Raises
    `_BadRow`."""
    try:
        for token in yaml.scan(text, Loader=_YAML_LOADER):
            if isinstance(token, yaml.AnchorToken | yaml.AliasToken | yaml.TagToken):
                raise _BadRow("Invalid meta: YAML anchors, aliases and tags are not accepted (export writes none)")
        value = yaml.load(text, Loader=_YAML_LOADER)  # (a safe loader)
    except yaml.YAMLError as e:
        raise _BadRow(f"Invalid meta: not YAML ({str(e).splitlines()[0]})") from None
    except RecursionError:  # (the YAML reader recurses per level: it gives up a few hundred levels deep)
        raise _BadRow(too_deep("meta")) from None
    except (ValueError, OverflowError) as e:  # a date that does not exist, an integer of over 4,300 digits
        raise _BadRow(f"Invalid meta: a value YAML cannot read ({e})") from None
    problem = free_value_problem("meta", value)
    if problem is not None:
        raise _BadRow(problem)
    if has_nul(value):
        raise _BadRow(NUL_MESSAGE)
    return value


def read_rows(fmt: str, body: bytes) -> tuple[list[TaskImport | None], dict[int, str]]:
    """Every row of the file (None where it is bad) and the bad rows' messages by index. Raises `ApiError`
    413 beyond `IMPORT_MAX_ROWS` rows, 400 for a file that is not one of the formats."""
    if fmt == "csv":
        header, records = csv_rows(body)
        _check_count(len(records))
        return _decode_all(records, lambda cells: decode_csv_row(header, cells))
    sources = json_rows(body) if fmt == "json" else jsonl_rows(body)
    _check_count(len(sources))
    return _decode_all(sources, decode_json_row)


def _check_count(n: int) -> None:
    if n > IMPORT_MAX_ROWS:
        raise ApiError(413, f"Too many rows: {n:,} in one import; it takes at most {IMPORT_MAX_ROWS:,} tasks")


def _decode_all(
    sources: Sequence[Source | _BadRow], decode: Callable[[Source], TaskImport]
) -> tuple[list[TaskImport | None], dict[int, str]]:
    rows: list[TaskImport | None] = []
    errors: dict[int, str] = {}
    for index, source in enumerate(sources):
        try:
            if isinstance(source, _BadRow):
                raise source
            rows.append(decode(source))
        except _BadRow as e:
            rows.append(None)
            errors[index] = str(e)
    return rows, errors


def new_ids(rows: list[TaskImport | None], now: int) -> list[str]:
    """A fresh id per row, increasing in the order of the rows' ``(createdAt, id)`` (rows without
    ``createdAt`` last, in file order): tasks created at the same instant list in id order."""
    minted = sorted(ids.new_id(now) for _ in rows)  # (sorted: the id counter may wrap within a batch)

    def key(index: int) -> tuple[bool, int, str, int]:
        row = rows[index]
        created = row.createdAt if row is not None and isinstance(row.createdAt, int) else None
        old_id = row.id if row is not None and isinstance(row.id, str) else ""
        return (created is None, created or 0, old_id, index)

    out = [""] * len(rows)
    for new, index in zip(minted, sorted(range(len(rows)), key=key), strict=True):
        out[index] = new
    return out


def _value(v: Any) -> Any:
    return None if v is UNSET else v


def paused_columns(row: TaskImport, now: int) -> dict[str, Any]:
    """The pause to restore: none, or paused_at/reason/until with no next slot. A ``pausedUntil`` that has
    passed restores no pause (the task would have been resumed then). Raises `_BadRow`."""
    paused_at, reason, until = _value(row.pausedAt), _value(row.pauseReason), _value(row.pausedUntil)
    if paused_at is None:
        if reason is not None or until is not None:
            raise _BadRow("Invalid pause: pauseReason and pausedUntil need pausedAt (epoch ms), or all three null")
        return {}
    if until is not None and until <= now:
        return {}
    return {"paused_at": paused_at, "pause_reason": reason, "paused_until": until, "next_run_at": None}


# -- the endpoint ---------------------------------------------------------------------------------------


def rejected(errors: dict[int, str], total: int) -> Response[bytes]:
    return json_response(
        {
            "message": f"Invalid import: {len(errors):,} of {total:,} rows are invalid; nothing was imported",
            "code": CODES[400],
            "errors": [{"index": i, "message": m} for i, m in sorted(errors.items())],
        },
        400,
    )


async def build_rows(
    ctx: AppContext,
    tx: Tx,
    tasks: ResourceApi,
    account_id: str,
    rows: list[TaskImport | None],
    fresh: list[str],
    now: int,
    errors: dict[int, str],
) -> list[dict[str, Any]]:
    """The column values of each good row, built as ``task/create`` builds them; a row failing one of
    create's checks (bot, contact, then those of the ``prepare`` hook) or the pause's goes to ``errors``.
    Bots and contacts are looked up once for the whole file."""
    assert tasks.prepare is not None
    store = ctx.store
    sent = [present(r) if r is not None else {} for r in rows]
    bots = await store.owned(BOT, account_id, {f["botId"] for f in sent if f.get("botId") is not None}, tx)
    contacts = await store.owned(
        CONTACT, account_id, {f["contactId"] for f in sent if f.get("contactId") is not None}, tx
    )
    out: list[dict[str, Any]] = []
    for index, (row, fields) in enumerate(zip(rows, sent, strict=True)):
        if row is None:
            continue
        try:
            if fields.get("botId") is not None and fields["botId"] not in bots:
                raise _BadRow("Bot not found")
            if fields.get("contactId") is not None and fields["contactId"] not in contacts:
                raise _BadRow("Contact not found")
            written = {k: v for k, v in fields.items() if k not in NOT_WRITTEN}
            values: dict[str, Any] = {"name": "", "description": "", **tasks.defaults}
            values.update(columns_from(tasks, written, None))
            values.update(id=fresh[index], account_id=account_id, created_at=now, updated_at=now)
            # (references are checked above, for the whole file: `prepare` gets the row without them)
            unchecked = {k: v for k, v in written.items() if k not in ("botId", "contactId")}
            try:
                values.update(await tasks.prepare(ctx, tx, account_id, unchecked, None, now))
            except ApiError as e:
                raise _BadRow(e.message) from None
            values.update(paused_columns(row, now))
        except _BadRow as e:
            errors[index] = str(e)
            continue
        out.append(values)
    return out


async def vanished_refs(ctx: AppContext, tx: Tx, account_id: str, written: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Bots and contacts the rows reference that are no longer the account's (deleted since they were
    checked), by resource name."""
    out: dict[str, set[str]] = {}
    for res, column in ((BOT, "bot_id"), (CONTACT, "contact_id")):
        refs = {r[column] for r in written if r.get(column) is not None}
        out[res.name] = refs - await ctx.store.owned(res, account_id, refs, tx) if refs else set()
    return out


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What an import did: the new task ids in file order (none when any row is bad or on a dry run), the
    bad rows' messages by 0-based index, and how many rows the file had."""

    ids: list[str]
    errors: dict[int, str]
    total: int


async def import_file(
    ctx: AppContext, tasks: ResourceApi, account_id: str, fmt: str, body: bytes, dry_run: bool = False
) -> ImportOutcome:
    """Check every row of an export file as ``task/create`` would, then (unless ``dry_run`` or a row is bad)
    create them all in one transaction. Raises `ApiError` 413 / 400 for a file too long or not ``fmt``."""
    # Parsed in a thread: a large file (YAML meta in CSV) takes seconds that other requests must not wait.
    rows, errors = await asyncio.to_thread(read_rows, fmt, body)
    if not rows:
        return ImportOutcome([], {}, 0)
    now = ctx.clock.now_ms()
    fresh = new_ids(rows, now)
    # Checked outside the write: on SQLite a write transaction holds the one writer (ticks, outcomes)
    # for its whole length. (A file already refused is still read through, for every bad row.)
    async with ctx.store.transaction() as tx:
        written = await build_rows(ctx, tx, tasks, account_id, rows, fresh, now, errors)
    if errors or dry_run:
        return ImportOutcome([], errors, len(rows))
    async with ctx.store.transaction(write=True) as tx:
        gone = await vanished_refs(ctx, tx, account_id, written)
        for row in written:
            if row.get("bot_id") in gone[BOT.name] or row.get("contact_id") in gone[CONTACT.name]:
                errors[fresh.index(row["id"])] = "Bot or contact deleted while the file was imported"
        if not errors:
            await ctx.store.insert_rows(tasks.res, written, tx)
    if errors:
        return ImportOutcome([], errors, len(rows))
    due = next((r["id"] for r in written if r.get("next_run_at") is not None), None)
    if due is not None:
        ctx.signals.emit(ScheduleChanged(due))  # once: the scheduler then looks at every task
    return ImportOutcome(fresh, {}, len(rows))


def task_import_route(tasks: ResourceApi) -> HTTPRouteHandler:
    """``POST task/import`` for the task resource ``tasks`` (its ``prepare`` hook derives the columns)."""

    @post(
        "/api/v1/task/import",
        operation_id="taskImport",
        name="task-import",
        request_max_body_size=IMPORT_MAX_BODY,
    )
    async def import_tasks(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Create a task per row of an export; answers ``{"count", "items": [{"id"}]}`` in file order."""
        ctx, account_id = await authed(request)
        fmt = media_format(request)
        outcome = await import_file(ctx, tasks, account_id, fmt, await request.body())
        if outcome.errors:
            return rejected(outcome.errors, outcome.total)
        return json_response({"count": len(outcome.ids), "items": [{"id": i} for i in outcome.ids]})

    return import_tasks
