"""List endpoints: query parsing (cursor, order, take, filters, ``meta.K=v``) and rendering as one JSON
page or as a server-paginated JSONL / CSV / SSE stream (contract section 4).

A stream has sent its status line before its first record, so rendering one must not fail (a failure then
drops the connection: the client sees a cut body, not an error). Rows written before the input limits, or
straight to the database, can nest far deeper than the 32 levels a write takes; they are rendered thus:

- JSON, JSONL and SSE write every value as it is stored, at any depth (`encode` falls back to a writer
  without recursion).
- CSV: a ``meta`` that cannot be written as YAML (the YAML writer recurses: a few hundred levels) is written
  as its JSON text instead, which is YAML too (flow style): the cell reads back as the same value (an import
  refuses it when it nests deeper than 32 levels, as it refuses such a ``meta`` in any form).
- A page the server cannot read at all (the database fails, or a stored value is too deep for the JSON
  decoder of the store: about 1,000 levels) ends the stream where it stands, after the records already sent,
  with a last record saying so: JSONL ``{"type":"error","data":{"message","code"}}`` (SSE: the same as a
  ``data:`` event), CSV a row of one cell ``#error: <message>`` (which an import refuses, so a cut export is
  never imported as if whole). A JSON page fails before its status line: 500.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import yaml
from litestar import Request, Response
from litestar.response import Stream

from agentcron import ids
from agentcron.api.wire import JSONL, encode, json_response
from agentcron.errors import CODES, ApiError
from agentcron.store.base import ListQuery

Item = dict[str, Any]
FetchPage = Callable[[ListQuery], Awaitable[list[Item]]]

_META_KEY = re.compile(r"^meta(?:\.([^.\[\]]+)|\[([^\]]+)\])$")
PAGE_MAX = 100
#: ``take`` is at most this in magnitude: the largest integer every JSON client (JavaScript's numbers) holds
TAKE_LIMIT = 2**53 - 1


def parse_list_query(
    request: Request[Any, Any, Any],
    filters: Mapping[str, str] | None = None,
    presence: Mapping[str, str] | None = None,
) -> tuple[ListQuery, int | None]:
    """Build the `ListQuery` for the first page and the requested total (``take``; None = no limit).

    ``filters`` maps query parameter -> column; values may be comma-separated lists. ``presence`` maps
    query parameter -> column for ``true`` (the column is set) / ``false`` (it is null) filters.
    Raises `ApiError` 400 for a ``take`` that is not an integer within ±`TAKE_LIMIT` (below 1 reads as 1, 0 as
    absent), an unknown cursor form or a bad meta key.
    """
    params = request.query_params
    if any("\x00" in k or "\x00" in v for k, v in params.multi_items()):
        raise ApiError(400, "Invalid query: parameters must not contain NUL characters")
    take_raw = params.get("take")
    total: int | None = None
    if take_raw not in (None, ""):
        try:
            total = int(take_raw)
        except ValueError:  # (also for more than 4,300 digits: Python's limit)
            if not take_raw.strip().lstrip("+-").isdecimal():
                raise ApiError(400, f"Invalid take: {take_raw!r} is not an integer") from None
            total = None
        if total is None or not -TAKE_LIMIT <= total <= TAKE_LIMIT:
            shown = take_raw if len(take_raw) <= 40 else f"{take_raw[:20]}... ({len(take_raw):,} characters)"
            raise ApiError(
                400, f"Invalid take: {shown!r} is out of range; expected an integer from -{TAKE_LIMIT} to {TAKE_LIMIT}"
            )
        # The reference computes ``take || 100``: 0 means "not given", not 1.
        total = None if total == 0 else max(1, total)
    query = ListQuery(take=min(total or PAGE_MAX, PAGE_MAX))
    query.order = "asc" if params.get("order") == "asc" else "desc"
    cursor = params.get("cursor")
    if cursor:
        at = ids.id_time(cursor)
        if at is None:
            raise ApiError(400, f"Invalid cursor: {cursor!r} is not an id returned by this API")
        query.after = (at, cursor)
    for name, column in (filters or {}).items():
        raw = params.get(name)
        if raw:
            values = [v.strip() for v in raw.split(",") if v.strip()]
            if values:
                query.equals[column] = values
    for name, column in (presence or {}).items():
        raw = params.get(name)
        if raw in (None, ""):
            continue
        if raw not in ("true", "false"):
            raise ApiError(400, f"Invalid {name}: {raw!r}; expected true or false")
        query.present[column] = raw == "true"
    for name, value in params.items():
        m = _META_KEY.match(name)
        if m is None:
            continue
        key = m.group(1) or m.group(2)
        if '"' in key:
            raise ApiError(400, f"Invalid meta filter key: {key!r}")
        query.meta[key] = True if value == "true" else False if value == "false" else value
    return query, total


def _csv_cell(value: Any, yaml_meta: bool, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list):
        as_yaml = _yaml(value) if yaml_meta and key == "meta" else None
        # JSON, also where YAML fails: JSON is YAML's flow style
        text = encode(value).decode() if as_yaml is None else as_yaml
    else:
        text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _yaml(value: Any) -> str | None:
    """``value`` as block YAML, or None when the YAML writer cannot write it: it recurses per level, so a
    few hundred levels raise `RecursionError` (see the module's docstring)."""
    try:
        return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip("\n")
    except (RecursionError, yaml.YAMLError):
        return None


async def _pages(fetch: FetchPage, query: ListQuery, total: int | None) -> AsyncIterator[Item]:
    sent = 0
    while True:
        if total is not None:
            query.take = min(PAGE_MAX, total - sent)
            if query.take <= 0:
                return
        items = await fetch(query)
        for item in items:
            yield item
        sent += len(items)
        if len(items) < query.take:
            return
        last = items[-1]
        query.after = (last["createdAt"], last["id"])


async def respond_list(
    request: Request[Any, Any, Any],
    fmt: str,
    fetch: FetchPage,
    query: ListQuery,
    total: int | None,
    yaml_meta: bool = False,
) -> Response[Any]:
    """Render a list in ``fmt``. JSON: one page ``{"items","cursor"}``; on an empty page ``cursor`` is the
    request's cursor (or ``""``), because PyPI chatbotkit requires a string there (README)."""
    if fmt == "json":
        items = await fetch(query)
        cursor = items[-1]["id"] if items else (request.query_params.get("cursor") or "")
        return json_response({"items": items, "cursor": cursor})
    if fmt == "jsonl":

        async def jsonl() -> AsyncIterator[bytes]:
            async for item in _pages(fetch, query, total):
                yield encode({"type": "item", "data": item}) + b"\n"

        return Stream(_guarded(request, jsonl(), _jsonl_error), media_type=JSONL)
    if fmt == "sse":

        async def sse() -> AsyncIterator[bytes]:
            async for item in _pages(fetch, query, total):
                yield b"data: " + encode({"type": "item", "data": item}) + b"\n\n"

        return Stream(_guarded(request, sse(), _sse_error), media_type="text/event-stream")

    async def csv() -> AsyncIterator[bytes]:
        header: list[str] | None = None
        async for item in _pages(fetch, query, total):
            if header is None:
                header = list(item)
                yield (",".join(f'"{h}"' for h in header) + "\r\n").encode()
            yield (",".join(_csv_cell(item.get(k), yaml_meta, k) for k in header) + "\r\n").encode()

    # (Litestar appends "; charset=utf-8")
    return Stream(_guarded(request, csv(), _csv_error), media_type="text/csv")


#: the message of the record that ends a stream whose next page could not be read
CUT_SHORT = "The list is cut short here: the next page could not be read (the server logged why)"


def _jsonl_error(message: str) -> bytes:
    return encode({"type": "error", "data": {"message": message, "code": CODES[500]}}) + b"\n"


def _sse_error(message: str) -> bytes:
    return b"data: " + _jsonl_error(message).rstrip(b"\n") + b"\n\n"


def _csv_error(message: str) -> bytes:
    return ('"#error: ' + message.replace('"', '""') + '"\r\n').encode()


async def _guarded(
    request: Request[Any, Any, Any], chunks: AsyncIterator[bytes], last: Callable[[str], bytes]
) -> AsyncIterator[bytes]:
    """``chunks``, then, if they fail, ``last(CUT_SHORT)``: the status line is sent, so a failure must end
    the body with a record saying so rather than drop the connection (see the module's docstring)."""
    try:
        async for chunk in chunks:
            yield chunk
    except Exception:
        request.logger.exception("list stream cut short on %s %s", request.method, request.url.path)
        yield last(CUT_SHORT)
