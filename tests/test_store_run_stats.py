"""Outcomes per day of a task (both backends)."""

from __future__ import annotations

import pytest

from agentcron.store.base import Store
from agentcron.store.run_stats import DAY_MS
from tests.runs_helpers import make_task

pytestmark = pytest.mark.anyio

DAY0 = 20_000 * DAY_MS  # a UTC midnight


async def _execution(store: Store, account: str, task: str, eid: str, at: int, status: str, outcome: str) -> None:
    async with store.db.tx(write=True) as tx:
        await tx.execute(
            "INSERT INTO task_executions (id, account_id, task_id, name, description, status, outcome, state, kind, "
            "created_at, updated_at) VALUES ($1, $2, $3, '', '', $4, $5, $6, 'manual', $7, $7)",
            eid,
            account,
            task,
            status,
            outcome,
            "queued" if outcome == "pending" else "done",
            at,
        )


async def test_daily_outcomes(store: Store) -> None:
    account = await store.accounts.create_account("a", DAY0)
    other = await store.accounts.create_account("b", DAY0)
    task = await make_task(store, account, DAY0, None)
    now = DAY0 + 29 * DAY_MS + 5
    await _execution(store, account, task, "e1", DAY0 + 1, "idle", "success")
    await _execution(store, account, task, "e2", DAY0 + 2, "idle", "failure")
    await _execution(store, account, task, "e3", DAY0 + 29 * DAY_MS, "canceled", "failure")
    await _execution(store, account, task, "e4", DAY0 + 29 * DAY_MS + 1, "idle", "pending")  # queued: not counted
    await _execution(store, account, task, "e5", DAY0 - 1, "idle", "success")  # before the window
    days = await store.run_stats.daily_outcomes(account, task, now)
    assert len(days) == 30 and days[0].day == DAY0 and days[-1].day == DAY0 + 29 * DAY_MS
    assert (days[0].success, days[0].failure, days[0].canceled) == (1, 1, 0)
    assert (days[-1].success, days[-1].failure, days[-1].canceled) == (0, 0, 1)
    assert sum(d.success + d.failure + d.canceled for d in days[1:-1]) == 0
    assert all(d.success + d.failure + d.canceled == 0 for d in await store.run_stats.daily_outcomes(other, task, now))
