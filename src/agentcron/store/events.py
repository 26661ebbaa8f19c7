"""The persisted side of task workflow events: append with a per-task sequence number, keep the last
`HISTORY_MAX` per task, read them back for replay and for cross-process delivery."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentcron.store.db import Database, Row
from agentcron.store.resources import json_in

#: events kept per task for replay (older ones are trimmed, amortised every 100 appends)
HISTORY_MAX = 1000
#: attempts to take the next sequence number when concurrent appenders race for it
_SEQ_ATTEMPTS = 5


class EventLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        t = db.sql.typed
        # In INSERT ... SELECT the parameters' types cannot come from the target columns.
        self._insert = (
            "INSERT INTO task_events (task_id, seq, account_id, execution_id, type, data, created_at) "
            f"SELECT {t(1, 'varchar')}, COALESCE(MAX(seq), 0) + 1, {t(2, 'varchar')}, {t(3, 'varchar')}, "
            f"{t(4, 'varchar')}, {t(5, 'jsonb')}, {t(6, 'bigint')} FROM task_events WHERE task_id = $1 RETURNING seq"
        )

    async def append(
        self,
        account_id: str,
        task_id: str,
        execution_id: str | None,
        type_: str,
        data: Any,
        now: int,
        channel: str = "",
    ) -> int:
        """Persist one event as the task's next sequence number and return it. With ``channel``, other
        processes listening on it are told ``"<task_id>:<seq>"`` once it commits (where the database can)."""
        for attempt in range(_SEQ_ATTEMPTS):
            try:
                async with self.db.tx(write=True) as tx:
                    row = await tx.fetchrow(self._insert, task_id, account_id, execution_id, type_, json_in(data), now)
                    assert row is not None
                    seq = int(row["seq"])
                    if seq % 100 == 0:  # keep the replay window bounded, amortised
                        await tx.execute(
                            "DELETE FROM task_events WHERE task_id = $1 AND seq <= $2", task_id, seq - HISTORY_MAX
                        )
                    if channel:
                        await tx.notify(channel, f"{task_id}:{seq}")
                return seq
            except Exception as e:  # two appenders raced for the same seq: take the next one
                if attempt == _SEQ_ATTEMPTS - 1 or not self.db.sql.is_unique_violation(e):
                    raise
        raise AssertionError("unreachable")

    async def history(self, task_id: str, limit: int) -> list[Row]:
        """The most recent ``limit`` events of the task (``seq, type, data, created_at``), oldest first."""
        if limit <= 0:
            return []
        async with self.db.tx() as tx:
            rows = await tx.fetch(
                "SELECT seq, type, data, created_at FROM task_events WHERE task_id = $1 ORDER BY seq DESC LIMIT $2",
                task_id,
                limit,
            )
        rows.reverse()
        return rows

    async def by_seqs(self, wanted: Mapping[str, Sequence[int]]) -> dict[str, list[Row]]:
        """task -> its events with these sequence numbers (``seq, type, data, created_at``), in order."""
        out: dict[str, list[Row]] = {}
        async with self.db.tx() as tx:
            for task_id, seqs in wanted.items():
                out[task_id] = await tx.fetch(
                    "SELECT seq, type, data, created_at FROM task_events "
                    f"WHERE task_id = $1 AND {tx.sql.any_of('seq', 2, 'bigint')} ORDER BY seq",
                    task_id,
                    tx.sql.list_param(seqs),
                )
        return out
