"""Run statistics the console draws: a task's outcomes per day."""

from __future__ import annotations

from dataclasses import dataclass

from agentcron.store.db import Database

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class DayOutcomes:
    """One UTC day's finished executions of a task, by result: ``day`` is the day's first instant (epoch ms)."""

    day: int
    success: int = 0
    failure: int = 0
    canceled: int = 0


class RunStats:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def daily_outcomes(self, account_id: str, task_id: str, now: int, days: int = 30) -> list[DayOutcomes]:
        """The last ``days`` UTC days up to ``now`` (oldest first, every day present, zeros included): the
        task's executions created that day which are done (skipped slots included), counted as ``canceled``
        (status canceled), else by outcome (``success`` / ``failure``). Another account's task reads as one
        without executions."""
        first = (now // DAY_MS - days + 1) * DAY_MS
        sql = (
            "SELECT created_at / $4 AS day, status, outcome, COUNT(*) AS n FROM task_executions "
            "WHERE account_id = $1 AND task_id = $2 AND created_at >= $3 AND state = 'done' "
            "GROUP BY 1, 2, 3"
        )
        async with self.db.tx() as tx:
            rows = await tx.fetch(sql, account_id, task_id, first, DAY_MS)
        counts: dict[int, dict[str, int]] = {}
        for r in rows:
            kind = "canceled" if r["status"] == "canceled" else ("success" if r["outcome"] == "success" else "failure")
            per_day = counts.setdefault(int(r["day"]) * DAY_MS, {})
            per_day[kind] = per_day.get(kind, 0) + int(r["n"])
        return [DayOutcomes(day, **counts.get(day, {})) for day in range(first, first + days * DAY_MS, DAY_MS)]
