"""Rows' wire JSON, kept per process and reused while the row is unchanged (list pages of tasks).

A list page first reads only the ids and versions of its rows (`Dialect.row_version`: PostgreSQL's ``xmin``,
or on SQLite the ``version`` column every statement of the store increments), takes the JSON of each (id,
version) it already has, and asks the database to write the JSON of the others alone. Writing a task's ~30
fields as JSON is most of a page's cost on SQLite; reading two columns is a fifth of it. Correct across
processes: a row changed by any writer has a new version, so its old text is never served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: rows kept at most (a task's text is ~0.7 KB without a large ``meta``)
MAX_ROWS = 20_000
#: characters kept at most, all rows together
MAX_CHARS = 32 * 1024 * 1024
#: a longer text (a large ``meta`` or description) is written by the database each time, never kept
MAX_TEXT = 16 * 1024


class RowJson:
    """id -> (version, JSON text); the oldest entry goes first when full (insertion order: a row read often
    but never changed is written again once evicted, which costs one row of the database's JSON)."""

    def __init__(self, max_rows: int = MAX_ROWS, max_chars: int = MAX_CHARS, max_text: int = MAX_TEXT) -> None:
        self.max_rows = max_rows
        self.max_chars = max_chars
        self.max_text = max_text
        self.chars = 0
        self._texts: dict[str, tuple[int, str]] = {}

    def __len__(self) -> int:
        return len(self._texts)

    def lookup(self, keys: Sequence[Sequence[Any]]) -> list[str | None]:
        """The text of each (id, version) in ``keys``, None where this version's is not kept."""
        texts = self._texts
        out: list[str | None] = []
        for id_, version in keys:
            hit = texts.get(id_)
            out.append(hit[1] if hit is not None and hit[0] == version else None)
        return out

    def keep(self, id_: str, version: int, text: str) -> None:
        """Keep ``text`` as the JSON of ``id_`` at ``version`` (replacing any other version's), unless it is
        longer than ``max_text``; then drop the oldest entries beyond ``max_rows`` or ``max_chars``."""
        texts = self._texts
        old = texts.pop(id_, None)
        if old is not None:
            self.chars -= len(old[1])
        if len(text) > self.max_text:
            return
        texts[id_] = (version, text)
        self.chars += len(text)
        while len(texts) > self.max_rows or self.chars > self.max_chars:
            self.chars -= len(texts.pop(next(iter(texts)))[1])
