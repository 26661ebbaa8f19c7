"""The persisted side of task workflow events: append with a per-task sequence number, keep the last
`HISTORY_MAX` per task, read them back for replay and for cross-process delivery."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from agentcron.store.db import Database, Row
from agentcron.store.resources import json_in

#: events kept per task for replay (older ones are trimmed, amortised every 100 appends)
HISTORY_MAX = 1000
#: attempts to take the next sequence number when a concurrent appender took it first
_SEQ_ATTEMPTS = 5
_COLUMNS = [
    ("task_id", "text"),
    ("seq", "int8"),
    ("account_id", "text"),
    ("execution_id", "text"),
    ("type", "text"),
    ("data", "jsonb"),
    ("created_at", "int8"),
]


class NewEvent(NamedTuple):
    """An event to append with `EventLog.append_many`."""

    account_id: str
    task_id: str
    execution_id: str | None
    type: str
    data: Any


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
                    await tx.lock_keys("task_events", [task_id])  # (see `append_many`)
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
            except Exception as e:
                if attempt == _SEQ_ATTEMPTS - 1 or not self.db.sql.is_unique_violation(e):
                    raise
        raise AssertionError("unreachable")

    async def append_many(self, events: Sequence[NewEvent], now: int, channel: str = "") -> list[int]:
        """Persist ``events`` in one transaction, each as its task's next sequence number (in the given
        order within a task); returns their sequence numbers in input order. With ``channel``, listening
        processes are told ``"<task_id>:<seq>"`` of each once it commits.

        Appenders of the same tasks take the tasks' keys (in one fixed order) before reading the last
        numbers, so concurrent batches queue instead of colliding or deadlocking; a collision left (with a
        writer of an older version) is retried."""
        if not events:
            return []
        order = sorted(range(len(events)), key=lambda i: events[i].task_id)  # (stable: per-task order kept)
        task_ids = sorted({e.task_id for e in events})
        for attempt in range(_SEQ_ATTEMPTS):
            try:
                async with self.db.tx(write=True) as tx:
                    await tx.lock_keys("task_events", task_ids)
                    if len(task_ids) == 1:
                        row = await tx.fetchrow(
                            "SELECT MAX(seq) AS seq FROM task_events WHERE task_id = $1", task_ids[0]
                        )
                        last = {task_ids[0]: int(row["seq"])} if row is not None and row["seq"] is not None else {}
                    else:
                        rows = await tx.fetch(
                            "SELECT task_id, MAX(seq) AS seq FROM task_events "
                            f"WHERE {tx.sql.any_of('task_id', 1)} GROUP BY task_id",
                            tx.sql.list_param(task_ids),
                        )
                        last = {r["task_id"]: int(r["seq"]) for r in rows}
                    first = {t: last.get(t, 0) + 1 for t in task_ids}
                    seqs = [0] * len(events)
                    for i in order:
                        e = events[i]
                        last[e.task_id] = seqs[i] = last.get(e.task_id, 0) + 1
                    await tx.insert_many(
                        "task_events",
                        _COLUMNS,
                        [
                            (e.task_id, seqs[i], e.account_id, e.execution_id, e.type, json_in(e.data), now)
                            for i in order
                            for e in (events[i],)
                        ],
                        "",
                    )
                    for task_id in task_ids:  # keep the replay window bounded: trim each 100th number
                        top = last[task_id]
                        if top // 100 > (first[task_id] - 1) // 100:
                            await tx.execute(
                                "DELETE FROM task_events WHERE task_id = $1 AND seq <= $2", task_id, top - HISTORY_MAX
                            )
                    if channel:
                        await tx.notify_many(channel, [f"{events[i].task_id}:{seqs[i]}" for i in order])
                return seqs
            except Exception as e:
                if attempt == _SEQ_ATTEMPTS - 1 or not self.db.sql.is_unique_violation(e):
                    raise
        raise AssertionError("unreachable")

    async def of_executions(self, runs: Mapping[str, Sequence[str]]) -> list[Row]:
        """The persisted events of these executions (task id -> execution ids), ``task_id, seq,
        account_id, execution_id, type, data``, in sequence order per task (read through the task key)."""
        out: list[Row] = []
        async with self.db.tx() as tx:
            for task_id, execution_ids in sorted(runs.items()):
                out += await tx.fetch(
                    "SELECT task_id, seq, account_id, execution_id, type, data FROM task_events "
                    f"WHERE task_id = $1 AND {tx.sql.any_of('execution_id', 2)} ORDER BY seq",
                    task_id,
                    tx.sql.list_param(list(execution_ids)),
                )
        return out

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
