"""What list pages read of a row (its wire JSON, or the console's columns), kept per process and reused
while the row is unchanged (tasks).

A list page first reads only the ids and versions of its rows (`Dialect.row_version`: PostgreSQL's ``xmin``,
or on SQLite the ``version`` column every statement of the store increments), takes what it already has for
each (id, version), and asks the database for the others alone (`cached_page`). Writing a task's ~30 fields
as JSON is most of a page's cost on SQLite; reading two columns is a fifth of it. Correct across processes:
a row changed by any writer has a new version, so its old value is never served.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from agentcron.store.db import Database

V = TypeVar("V")

#: rows kept at most (a task's text is ~0.7 KB without a large ``meta``)
MAX_ROWS = 20_000
#: characters kept at most, all rows together
MAX_CHARS = 32 * 1024 * 1024
#: a longer text (a large ``meta`` or description) is written by the database each time, never kept
MAX_TEXT = 16 * 1024


def _chars(value: Any) -> int:
    """The size a kept value counts for: a text's length, or the length of a row's texts."""
    if isinstance(value, str):
        return len(value)
    return sum(len(v) for v in value if isinstance(v, str)) + 8 * len(value)


class RowCache(Generic[V]):
    """id -> (version, value); the oldest entry goes first when full (insertion order: a row read often but
    never changed is read again once evicted, which costs the database one row)."""

    def __init__(self, max_rows: int = MAX_ROWS, max_chars: int = MAX_CHARS, max_text: int = MAX_TEXT) -> None:
        self.max_rows = max_rows
        self.max_chars = max_chars
        self.max_text = max_text
        self.chars = 0
        self._texts: dict[str, tuple[int, V]] = {}

    def __len__(self) -> int:
        return len(self._texts)

    def lookup(self, keys: Sequence[Sequence[Any]]) -> list[V | None]:
        """The value of each (id, version) in ``keys``, None where this version's is not kept."""
        texts = self._texts
        out: list[V | None] = []
        for id_, version in keys:
            hit = texts.get(id_)
            out.append(hit[1] if hit is not None and hit[0] == version else None)
        return out

    def keep(self, id_: str, version: int, value: V) -> None:
        """Keep ``value`` for ``id_`` at ``version`` (replacing any other version's), unless it is longer than
        ``max_text`` characters; then drop the oldest entries beyond ``max_rows`` or ``max_chars``."""
        texts = self._texts
        old = texts.pop(id_, None)
        if old is not None:
            self.chars -= _chars(old[1])
        size = _chars(value)
        if size > self.max_text:
            return
        texts[id_] = (version, value)
        self.chars += size
        while len(texts) > self.max_rows or self.chars > self.max_chars:
            self.chars -= _chars(texts.pop(next(iter(texts)))[1])


#: the SQL and arguments of the page (its filters, cursor, order and size) selecting the given expression list
PageSql = Callable[[str], tuple[str, list[Any]]]


async def cached_page(
    db: Database,
    cache: RowCache[Any],
    table: str,
    visible: str,
    select: str,
    width: int,
    account_id: str,
    version: str,
    page_sql: PageSql,
) -> tuple[list[Any], str | None] | None:
    """A page's values (each row's ``select``: its one expression's value when ``width`` is 1, else the tuple
    of its ``width`` columns) and the last row's id, from the page's (id, ``version``) pairs: what ``cache``
    holds for each, the database reading the others (by id when few; the whole page in one statement when
    most are new, kept). None when one of the rows read by id changed or went between the two reads: the
    caller reads the page again in one statement (its filters, its size)."""

    def value(r: Sequence[Any]) -> Any:
        return r[0] if width == 1 else tuple(r[:width])

    sql, args = page_sql(f"id, {version}")
    keys = await db.read_rows(sql, tuple(args))
    values = cache.lookup(keys)
    missing = {k[0]: k[1] for k, v in zip(keys, values, strict=True) if v is None}
    if len(missing) * 2 > len(keys):  # mostly new to this process: the page in one statement, kept
        sql, args = page_sql(f"{select}, id, {version}")
        rows = await db.read_rows(sql, tuple(args))
        for r in rows:
            cache.keep(r[width], r[width + 1], value(r))
        return [value(r) for r in rows], (rows[-1][width] if rows else None)
    if missing:
        d = db.sql
        # By primary key alone: with the account's condition too, SQLite's planner (no statistics) walks the
        # account's index instead, every task of the account. The account is checked here.
        rows = await db.read_rows(
            f"SELECT {select}, id, {version}, account_id FROM {table} WHERE {d.any_of('id', 1)}{visible}",
            (d.list_param(list(missing)),),
        )
        fresh: dict[str, Any] = {}
        for r in rows:
            id_, at, owner = r[width], r[width + 1], r[width + 2]
            if owner != account_id:  # (never: ids are unique and a row keeps its account)
                continue
            cache.keep(id_, at, value(r))
            if missing[id_] == at:
                fresh[id_] = value(r)
        if len(fresh) < len(missing):
            return None
        values = [v if v is not None else fresh[k[0]] for k, v in zip(keys, values, strict=True)]
    return values, (keys[-1][0] if keys else None)
