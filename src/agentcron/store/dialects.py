"""The SQL that differs between SQLite and PostgreSQL, as named capabilities of one `Dialect` per backend.

Store modules write SQL once, in PostgreSQL's ``$n`` placeholder style, and ask their transaction's
dialect (``tx.sql``) for the few pieces that differ: list parameters, row sets, row locks, parameter
casts, JSON matching. Nothing outside ``store/`` knows which backend it runs on: what a caller needs to
know is a `Capabilities` flag of the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

#: arg(value) -> the placeholder (``$n``) of a parameter appended to the statement's arguments
Arg = Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a database can do, as the components above the store see it."""

    #: several transactions write at once (row locks, SKIP LOCKED); SQLite has one writer connection
    concurrent_writes: bool
    #: commits can notify other processes (LISTEN/NOTIFY): events reach subscribers across processes
    cross_process_notify: bool


class Dialect(Protocol):
    name: str
    #: suffix of a SELECT that locks its rows and skips rows another transaction holds ("" on SQLite)
    skip_locked: str
    #: suffix of a SELECT that keeps its rows from being deleted (or their keys changed) until this
    #: transaction ends, as a foreign key to them would ("" on SQLite: one writer at a time)
    key_share: str

    def skip_locked_of(self, *tables: str) -> str:
        """`skip_locked` for a join: lock the rows of these tables (aliases) only."""
        ...

    def row_version(self, column: str) -> str:
        """An integer expression that changes whenever the row changes: PostgreSQL's ``xmin`` (every update
        writes a new row version: no writer can forget it, an old process or a hand-made fix included), or
        on SQLite ``column``, which every statement of the store increments (SQLite serves one process)."""
        ...

    def any_of(self, column: str, n: int, of: str = "text") -> str:
        """SQL for "``column`` is one of the list bound as parameter ``$n``" (made by `list_param`; ``of``:
        the PostgreSQL type of its elements).
        One statement text for every list length, so the database parses and plans it once."""
        ...

    def list_param(self, values: Iterable[str | int]) -> Any:
        """The parameter of an `any_of` condition."""
        ...

    def values(
        self, name: str, cols: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], first: int = 1
    ) -> tuple[str, list[Any]]:
        """A CTE ``name(cols) AS (...)`` holding ``rows`` (column types as PostgreSQL names them), and its
        parameters, numbered from ``first``. The statement text does not depend on the number of rows."""
        ...

    def typed(self, n: int, pg_type: str) -> str:
        """Parameter ``$n`` where the database cannot infer its type (``INSERT ... SELECT``)."""
        ...

    def meta_match(self, key: str, value: str | bool, arg: Arg) -> str:
        """A condition: the JSON column ``meta`` has ``key`` equal to ``value`` (a string, or a JSON bool)."""
        ...

    def contains(self, column: str, text: str, arg: Arg) -> str:
        """A condition: the text ``column`` contains ``text``, ignoring the case of ASCII letters."""
        ...

    def is_unique_violation(self, error: BaseException) -> bool: ...

    def is_foreign_key_violation(self, error: BaseException) -> bool: ...

    def json_row(self, fields: Sequence[tuple[str, str, str]]) -> str:
        """An expression whose value is the row's wire object as compact JSON text: for each (wire name, SQL
        expression, kind) of `Resource.json_fields`, in order, the value as `Resource.to_wire` converts it
        (``text``: null as ""; ``bool``: true/false; ``json``: the stored JSON value; ``value``: as is)."""
        ...


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (its ``%``, ``_`` and ``\\`` escaped with ``\\``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SQLiteDialect:
    name = "sqlite"
    skip_locked = ""
    key_share = ""

    def skip_locked_of(self, *tables: str) -> str:
        return ""

    def row_version(self, column: str) -> str:
        return column

    def any_of(self, column: str, n: int, of: str = "text") -> str:
        return f"{column} IN (SELECT value FROM json_each(${n}))"

    def list_param(self, values: Iterable[str | int]) -> Any:
        return json.dumps(list(values))

    def values(
        self, name: str, cols: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], first: int = 1
    ) -> tuple[str, list[Any]]:
        # The rows travel as one JSON array of arrays: a VALUES list would make a new statement text per
        # batch size, and parsing thousands of placeholders costs more than the statement's work.
        names = ", ".join(c for c, _ in cols)
        fields = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(cols)))
        return f"{name}({names}) AS (SELECT {fields} FROM json_each(${first}))", [
            json.dumps(rows, ensure_ascii=False)  # raw UTF-8: a lone surrogate fails the bind
        ]

    def typed(self, n: int, pg_type: str) -> str:
        return f"${n}"

    def meta_match(self, key: str, value: str | bool, arg: Arg) -> str:
        path = arg('$."' + key.replace('"', '""') + '"')
        if isinstance(value, bool):
            return f"json_type(meta, {path}) = {arg('true' if value else 'false')}"
        return f"(json_type(meta, {path}) = 'text' AND json_extract(meta, {path}) = {arg(value)})"

    def contains(self, column: str, text: str, arg: Arg) -> str:
        return f"{column} LIKE {arg(like_pattern(text))} ESCAPE '\\'"  # (LIKE ignores ASCII case in SQLite)

    def is_unique_violation(self, error: BaseException) -> bool:
        return "UNIQUE constraint failed" in str(error)

    def is_foreign_key_violation(self, error: BaseException) -> bool:
        return "FOREIGN KEY constraint failed" in str(error)

    def json_row(self, fields: Sequence[tuple[str, str, str]]) -> str:
        pairs = ", ".join(f"'{wire}', {_sqlite_json_value(expr, kind)}" for wire, expr, kind in fields)
        return f"json_object({pairs})"


_EMPTY = "''"


def _sqlite_json_value(expr: str, kind: str) -> str:
    if kind == "text":
        return f"COALESCE({expr}, {_EMPTY})"
    if kind == "bool":
        return f"json(CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 'true' ELSE 'false' END)"
    if kind == "json":
        return f"json({expr})"
    return expr


def _pg_json_value(expr: str, kind: str) -> str:
    return f"COALESCE({expr}, {_EMPTY})" if kind == "text" else expr


class PostgresDialect:
    name = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    key_share = " FOR KEY SHARE"

    def skip_locked_of(self, *tables: str) -> str:
        return f" FOR UPDATE OF {', '.join(tables)} SKIP LOCKED"

    def row_version(self, column: str) -> str:
        return "xmin::text::bigint"

    def any_of(self, column: str, n: int, of: str = "text") -> str:
        return f"{column} = ANY(${n}::{of}[])"

    def list_param(self, values: Iterable[str | int]) -> Any:
        return list(values)

    def values(
        self, name: str, cols: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], first: int = 1
    ) -> tuple[str, list[Any]]:
        names = ", ".join(c for c, _ in cols)
        arrays = ", ".join(f"${first + i}::{t}[]" for i, (_, t) in enumerate(cols))
        columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in cols]
        return f"{name}({names}) AS (SELECT * FROM unnest({arrays}))", columns

    def typed(self, n: int, pg_type: str) -> str:
        return f"${n}::{pg_type}"

    def meta_match(self, key: str, value: str | bool, arg: Arg) -> str:
        return f"meta -> {arg(key)} = {arg(msgspec.json.encode(value).decode())}::jsonb"

    def contains(self, column: str, text: str, arg: Arg) -> str:
        return f"{column} ILIKE {arg(like_pattern(text))} ESCAPE '\\'"

    def is_unique_violation(self, error: BaseException) -> bool:
        return getattr(error, "sqlstate", None) == "23505" or "duplicate key" in str(error)

    def is_foreign_key_violation(self, error: BaseException) -> bool:
        return getattr(error, "sqlstate", None) == "23503"

    def json_row(self, fields: Sequence[tuple[str, str, str]]) -> str:
        # row_to_json writes compact JSON in column order (json_build_object would add spaces); a jsonb
        # value inside is written in jsonb's own text form.
        cols = ", ".join(f'{_pg_json_value(expr, kind)} AS "{wire}"' for wire, expr, kind in fields)
        return f"(SELECT row_to_json(j)::text FROM (SELECT {cols}) AS j)"
