"""List endpoints: query parsing (cursor, order, take, filters, ``meta.K=v``) and rendering as one JSON
page or as a server-paginated JSONL / CSV / SSE stream (contract section 4)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import yaml
from litestar import Request, Response
from litestar.response import Stream

from agentcron import ids
from agentcron.api.wire import JSONL, encode, json_response
from agentcron.errors import ApiError
from agentcron.store.base import ListQuery

Item = dict[str, Any]
FetchPage = Callable[[ListQuery], Awaitable[list[Item]]]

_META_KEY = re.compile(r"^meta(?:\.([^.\[\]]+)|\[([^\]]+)\])$")
PAGE_MAX = 100


def parse_list_query(
    request: Request[Any, Any, Any],
    filters: Mapping[str, str] | None = None,
    presence: Mapping[str, str] | None = None,
) -> tuple[ListQuery, int | None]:
    """Build the `ListQuery` for the first page and the requested total (``take``; None = no limit).

    ``filters`` maps query parameter -> column; values may be comma-separated lists. ``presence`` maps
    query parameter -> column for ``true`` (the column is set) / ``false`` (it is null) filters.
    Raises `ApiError` 400 for a non-integer ``take``, an unknown cursor form or a bad meta key.
    """
    params = request.query_params
    if any("\x00" in k or "\x00" in v for k, v in params.multi_items()):
        raise ApiError(400, "Invalid query: parameters must not contain NUL characters")
    take_raw = params.get("take")
    total: int | None = None
    if take_raw not in (None, ""):
        try:
            total = int(take_raw)
        except ValueError:
            raise ApiError(400, f"Invalid take: {take_raw!r} is not an integer") from None
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
        if yaml_meta and key == "meta":
            text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip("\n")
        else:
            text = encode(value).decode()
    else:
        text = str(value)
    return '"' + text.replace('"', '""') + '"'


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

        return Stream(jsonl(), media_type=JSONL)
    if fmt == "sse":

        async def sse() -> AsyncIterator[bytes]:
            async for item in _pages(fetch, query, total):
                yield b"data: " + encode({"type": "item", "data": item}) + b"\n\n"

        return Stream(sse(), media_type="text/event-stream")

    async def csv() -> AsyncIterator[bytes]:
        header: list[str] | None = None
        async for item in _pages(fetch, query, total):
            if header is None:
                header = list(item)
                yield (",".join(f'"{h}"' for h in header) + "\r\n").encode()
            yield (",".join(_csv_cell(item.get(k), yaml_meta, k) for k in header) + "\r\n").encode()

    return Stream(csv(), media_type="text/csv")  # Litestar appends "; charset=utf-8"
