"""Rows' wire JSON, kept per process and reused while the row is unchanged (list pages of tasks).

A list page first reads only the ids and versions of its rows (`Resource.version`: a column every UPDATE of
the row increments), takes the JSON of each (id, version) it already has, and asks the database to write
the JSON of the others alone. Writing a task's ~30 fields as JSON is most of a page's cost on SQLite;
reading two columns is a fifth of it. Correct across processes: a row changed by any writer has a new
version, so its old text is never served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: rows kept (about 0.7 KB of text each for a task): ten pages of a thousand busy accounts
MAX_ROWS = 20_000


class RowJson:
    """id -> (version, JSON text); the oldest entry goes first when full (insertion order: a row read
    often but never changed is simply written again once evicted)."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
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
        """Keep ``text`` as the JSON of ``id_`` at ``version`` (replacing any other version's)."""
        texts = self._texts
        texts.pop(id_, None)
        texts[id_] = (version, text)
        if len(texts) > self.max_rows:
            del texts[next(iter(texts))]
