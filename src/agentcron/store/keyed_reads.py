"""Primary-key reads that arrive in the same event-loop turn, answered by one statement.

Under concurrent load many ``{id}/fetch`` requests are in flight at once. On PostgreSQL each single-row
read pays a full round trip whose protocol work (client and server side) costs far more than the index
lookup; on SQLite each one walks two B-trees through CPU caches that the request handling in between has
cooled. `KeyedReads` gathers the reads issued while the event loop works through one turn of ready
callbacks and answers them with one statement (docs/benchmarks.md has the effect on ``fetch``). Nothing
is cached: every read is sent after it was requested, so it sees every write committed before the
request (across processes too).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agentcron.store.dialects import Dialect

#: run(sql, args) -> rows, as sequences in column order
Fetch = Callable[[str, tuple[Any, ...]], Awaitable[list[Sequence[Any]]]]


class KeyedReads:
    """Coalesced reads of one table by ``id``, scoped to an account.

    ``select`` is the column list to return and ``where`` an extra condition (``" AND deleted_at IS
    NULL"``). The account is part of each statement, so another account's id costs what a missing one
    does (no row comes back: fetching it is no existence oracle). Each statement also returns ``id`` and
    ``account_id`` after those columns; a batch asks for its ids among its accounts, and a row of an
    account other than the read's reads as absent. A batch holds at most `MAX_BATCH` ids; a failed
    statement fails every read of its batch with the same error. Cancelling one read leaves the others of
    its batch alone.
    """

    MAX_BATCH = 256

    def __init__(self, fetch: Fetch, sql: Dialect, table: str, select: str, where: str = "") -> None:
        self._fetch = fetch
        self._sql = sql
        head = f"SELECT {select}, id, account_id FROM {table} WHERE "
        self._one = f"{head}id = $1 AND account_id = $2{where}"
        # one statement text for any batch size
        self._many = f"{head}{sql.any_of('id', 1)} AND {sql.any_of('account_id', 2)}{where}"
        self._pending: list[tuple[str, str, asyncio.Future[Sequence[Any] | None]]] | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    async def get(self, id_: str, account_id: str) -> Sequence[Any] | None:
        """The row's ``select`` columns, or None when no visible row of ``account_id`` has this id."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Sequence[Any] | None] = loop.create_future()
        pending = self._pending
        if pending is None or len(pending) >= self.MAX_BATCH:
            pending = self._pending = []
            # The flush's first step runs in the next loop turn: reads issued by the callbacks still
            # queued in this turn join the batch first.
            task = loop.create_task(self._flush(pending))
            self._flushing.add(task)
            task.add_done_callback(functools.partial(self._flushed, batch=pending))
        pending.append((id_, account_id, fut))
        return await fut

    def _flushed(self, task: asyncio.Task[None], batch: list[Any]) -> None:
        """Whatever ended the flush (even a cancel before its first step), its batch is closed and every
        read of it answered."""
        self._flushing.discard(task)
        if self._pending is batch:
            self._pending = None
        for _, _, fut in batch:
            if not fut.done():
                fut.cancel()

    async def _flush(self, batch: list[tuple[str, str, asyncio.Future[Sequence[Any] | None]]]) -> None:
        if self._pending is batch:
            self._pending = None
        keys = list(dict.fromkeys(id_ for id_, _, fut in batch if not fut.done()))
        if not keys:
            return
        accounts = list(dict.fromkeys(account_id for _, account_id, fut in batch if not fut.done()))
        try:
            if len(keys) == 1 and len(accounts) == 1:
                rows = await self._fetch(self._one, (keys[0], accounts[0]))
            else:
                list_param = self._sql.list_param
                rows = await self._fetch(self._many, (list_param(keys), list_param(accounts)))
        except Exception as e:  # (cancelled instead: `_flushed` cancels the reads left unanswered)
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        by_id = {row[-2]: row for row in rows}
        for id_, account_id, fut in batch:
            if fut.done():
                continue
            row = by_id.get(id_)
            fut.set_result(row[:-2] if row is not None and row[-1] == account_id else None)
