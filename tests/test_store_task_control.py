"""The API's run controls (`store/task_control.py`): trigger with its limits, cancel, delete, owner, unlink;
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from agentcron.domain import Finished, Outcome, RunKind
from agentcron.errors import ApiError
from agentcron.store.base import Store
from agentcron.store.resources import TASK
from tests.runs_helpers import executions, make_task, ms, queue_trigger, running_executions

pytestmark = pytest.mark.anyio

NOW = ms("2026-06-01T10:20:00Z")
HOUR = 3_600_000


async def _account(store: Store, name: str = "a") -> str:
    return await store.accounts.create_account(name, NOW)


async def _task_row(store: Store, task_id: str) -> dict[str, Any] | None:
    async with store.db.tx() as tx:
        return await tx.fetchrow("SELECT * FROM tasks WHERE id = $1", task_id)


async def _execution_rows(store: Store, task_id: str) -> dict[str, dict[str, Any]]:
    async with store.db.tx() as tx:
        rows = await tx.fetch("SELECT * FROM task_executions WHERE task_id = $1", task_id)
    return {r["id"]: r for r in rows}


async def _count(store: Store, table: str, task_id: str) -> int:
    column = "id" if table == "tasks" else "task_id"
    async with store.db.tx() as tx:
        row = await tx.fetchrow(f"SELECT COUNT(*) AS n FROM {table} WHERE {column} = $1", task_id)
    assert row is not None
    return int(row["n"])


async def _raises(status: int, call: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await call
    assert caught.value.status == status
    return caught.value


# -- trigger --------------------------------------------------------------------------------------------


async def test_trigger_queues_a_trigger_execution(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW, None, name="Digest", description="Summarise")
    run = await store.tasks.trigger(acc, tid, NOW, 0, 0)
    assert run.kind is RunKind.TRIGGER and run.scheduled_for is None and run.task.id == tid
    assert run.task.name == "Digest"
    (ex,) = await executions(store, acc, tid)
    assert ex["id"] == run.execution_id
    assert (ex["trigger"], ex["status"], ex["outcome"], ex["scheduledFor"], ex["name"]) == (
        "trigger",
        "idle",
        "pending",
        None,
        "Digest",
    )
    row = (await _execution_rows(store, tid))[run.execution_id]
    assert (row["state"], row["created_at"]) == ("queued", NOW)
    # Triggers are not slots: any number of them may be queued (scheduled_for NULL is not unique).
    await store.tasks.trigger(acc, tid, NOW, 0, 0)
    assert len(await executions(store, acc, tid)) == 2


async def test_trigger_answers_404_for_another_accounts_task_and_for_bad_ids(store: Store) -> None:
    acc, other = await _account(store, "a"), await _account(store, "b")
    tid = await make_task(store, acc, NOW, None)
    err = await _raises(404, store.tasks.trigger(other, tid, NOW, 0, 0))
    assert (err.message, err.code) == ("Not found", "NOT_FOUND")
    await _raises(404, store.tasks.trigger(acc, tid + "\x00", NOW, 0, 0))
    await _raises(404, store.tasks.trigger(acc, "\x00", NOW, 0, 0))
    await _raises(404, store.tasks.trigger(acc, "missing", NOW, 0, 0))
    assert await executions(store, acc, tid) == []


async def test_trigger_refuses_at_the_concurrent_cap(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW, None)
    other_task = await make_task(store, acc, NOW, None)
    await store.tasks.trigger(acc, tid, NOW, 2, 0)
    await running_executions(store, acc, other_task, 1, NOW)  # running runs count too, of any task
    err = await _raises(429, store.tasks.trigger(acc, tid, NOW, 2, 0))
    assert err.message == "Limit reached: 2 executions are queued or running (max 2)"
    assert err.code == "LIMITS_REACHED"
    assert len(await executions(store, acc, tid)) == 1  # nothing queued by the refused trigger
    # Another account is not limited by this one's runs.
    acc2 = await _account(store, "b")
    tid2 = await make_task(store, acc2, NOW, None)
    await store.tasks.trigger(acc2, tid2, NOW, 2, 0)
    # A cap of 0 is no cap.
    await store.tasks.trigger(acc, tid, NOW, 0, 0)
    # Once runs end, there is room again.
    async with store.db.tx(write=True) as tx:
        await tx.execute("UPDATE task_executions SET state = 'done', status = 'idle' WHERE account_id = $1", acc)
    await store.tasks.trigger(acc, tid, NOW, 2, 0)


async def test_trigger_refuses_at_the_daily_cap_over_a_rolling_day(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW, None)
    for _ in range(3):
        await store.tasks.trigger(acc, tid, NOW, 0, 3)
    err = await _raises(429, store.tasks.trigger(acc, tid, NOW, 0, 3))
    assert err.message == "Limit reached: 3 executions in the last 24 hours (max 3)"
    assert err.code == "LIMITS_REACHED"
    # The concurrent cap is checked first.
    err = await _raises(429, store.tasks.trigger(acc, tid, NOW, 3, 3))
    assert err.message == "Limit reached: 3 executions are queued or running (max 3)"
    # Still counted 23 hours later (the runs ended meanwhile), no longer a day after the triggers' hour.
    async with store.db.tx(write=True) as tx:
        await tx.execute("UPDATE task_executions SET state = 'done', status = 'idle' WHERE task_id = $1", tid)
    err = await _raises(429, store.tasks.trigger(acc, tid, NOW + 23 * HOUR, 3, 3))
    assert err.message == "Limit reached: 3 executions in the last 24 hours (max 3)"
    hour_start = NOW // HOUR * HOUR
    await store.tasks.trigger(acc, tid, hour_start + 24 * HOUR, 3, 3)
    assert len(await executions(store, acc, tid)) == 4


# -- cancel ---------------------------------------------------------------------------------------------


async def test_cancel_ends_queued_and_running_runs_and_recomputes_the_next_slot(store: Store) -> None:
    acc = await _account(store)
    # Created yesterday: its stored next slot is long past.
    tid = await make_task(store, acc, NOW - 24 * HOUR, "0 * * * *")
    assert (await _task_row(store, tid) or {})["next_run_at"] == ms("2026-05-31T11:00:00Z")
    (running,) = await running_executions(store, acc, tid, 1, NOW - 1000)
    queued = (await store.tasks.trigger(acc, tid, NOW - 500, 0, 0)).execution_id
    later = NOW + 5
    canceled = await store.tasks.cancel(acc, tid, later)
    assert sorted(canceled) == sorted([running, queued])
    rows = await _execution_rows(store, tid)
    for eid in (running, queued):
        r = rows[eid]
        assert (r["state"], r["status"], r["outcome"], r["summary"]) == (
            "done",
            "canceled",
            "failure",
            "Task execution canceled",
        )
        assert (r["completed_at"], r["updated_at"], r["lease_until"]) == (later, later, None)
    t = await _task_row(store, tid)
    assert t is not None
    assert t["next_run_at"] == ms("2026-06-01T11:00:00Z")  # from now, not from the stale slot
    assert (t["status"], t["outcome"], t["last_run_at"]) == ("idle", "failure", later)


async def test_cancel_recomputes_the_next_slot_in_the_tasks_timezone(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW - 72 * HOUR, "0 9 * * *", "America/New_York")
    await queue_trigger(store, tid, NOW)
    assert len(await store.tasks.cancel(acc, tid, NOW)) == 1
    # 10:20Z is 06:20 in New York (EDT): 09:00 there is 13:00Z the same day.
    assert (await _task_row(store, tid) or {})["next_run_at"] == ms("2026-06-01T13:00:00Z")


async def test_cancel_of_an_unscheduled_or_unparsable_schedule_leaves_no_next_slot(store: Store) -> None:
    acc = await _account(store)
    unscheduled = await make_task(store, acc, NOW, None)
    broken = await make_task(store, acc, NOW, "hourly")
    async with store.db.tx(write=True) as tx:
        await tx.execute("UPDATE tasks SET schedule = 'not a schedule', next_run_at = $2 WHERE id = $1", broken, NOW)
    for tid in (unscheduled, broken):
        await queue_trigger(store, tid, NOW)
        assert len(await store.tasks.cancel(acc, tid, NOW)) == 1
        assert (await _task_row(store, tid) or {})["next_run_at"] is None


async def test_cancel_with_nothing_to_cancel_changes_nothing(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW - 24 * HOUR, "0 * * * *")
    before = await _task_row(store, tid)
    assert await store.tasks.cancel(acc, tid, NOW) == []
    assert await _task_row(store, tid) == before  # next_run_at included: only a cancel recomputes it
    # A finished run is not cancelled again.
    (done,) = await running_executions(store, acc, tid, 1, NOW)
    await store.runs.finish([Finished(done, 1, tid, Outcome.SUCCESS, "ok", account_id=acc)], NOW + 1)
    assert await store.tasks.cancel(acc, tid, NOW + 2) == []
    assert await store.tasks.cancel(acc, tid, NOW + 2, done) == []
    assert (await _execution_rows(store, tid))[done]["status"] == "idle"


async def test_cancel_one_execution_leaves_the_others(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW, None)
    a, b = await running_executions(store, acc, tid, 2, NOW)
    assert await store.tasks.cancel(acc, tid, NOW + 10, a) == [a]
    rows = await _execution_rows(store, tid)
    assert (rows[a]["status"], rows[b]["status"], rows[b]["state"]) == ("canceled", "running", "running")
    t = await _task_row(store, tid)
    assert t is not None and t["status"] == "running"  # b still runs


async def test_cancel_answers_404_for_others_tasks_and_executions(store: Store) -> None:
    acc, other = await _account(store, "a"), await _account(store, "b")
    tid = await make_task(store, acc, NOW, None)
    sibling = await make_task(store, acc, NOW, None)
    (mine,) = await running_executions(store, acc, tid, 1, NOW)
    (theirs,) = await running_executions(store, acc, sibling, 1, NOW)
    await _raises(404, store.tasks.cancel(other, tid, NOW))
    await _raises(404, store.tasks.cancel(acc, tid + "\x00", NOW))
    err = await _raises(404, store.tasks.cancel(acc, tid, NOW, theirs))  # another task's execution
    assert (err.message, err.code) == ("Not found", "NOT_FOUND")
    await _raises(404, store.tasks.cancel(acc, tid, NOW, "missing"))
    await _raises(404, store.tasks.cancel(acc, tid, NOW, mine + "\x00"))
    await _raises(404, store.tasks.cancel(other, tid, NOW, mine))
    rows = {**(await _execution_rows(store, tid)), **(await _execution_rows(store, sibling))}
    assert rows[mine]["state"] == rows[theirs]["state"] == "running"  # nothing was cancelled


# -- delete ---------------------------------------------------------------------------------------------


async def _delete(store: Store, acc: str, tid: str, now: int) -> bool:
    async with store.transaction() as tx:
        row = await store.get_row(TASK, acc, tid, tx)
        assert row is not None
        return await store.tasks.delete(tx, row, now)


async def test_delete_without_a_running_run_removes_task_executions_and_events(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW, "0 * * * *")
    keep = await make_task(store, acc, NOW, "0 * * * *")
    for t in (tid, keep):
        await queue_trigger(store, t, NOW)
        await store.events.append(acc, t, None, "custom", {"n": 1}, NOW)
    assert await _delete(store, acc, tid, NOW + 1) is True
    assert [await _count(store, table, tid) for table in ("tasks", "task_executions", "task_events")] == [0, 0, 0]
    assert [await _count(store, table, keep) for table in ("tasks", "task_executions", "task_events")] == [1, 1, 1]
    assert await store.tasks.owner(tid) is None


async def test_delete_while_a_run_runs_hides_the_task_until_the_run_is_finished(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW, "0 * * * *")
    (running,) = await running_executions(store, acc, tid, 1, NOW)
    queued = (await store.tasks.trigger(acc, tid, NOW, 0, 0)).execution_id
    await store.events.append(acc, tid, running, "custom", {}, NOW)
    assert await _delete(store, acc, tid, NOW + 5) is True

    t = await _task_row(store, tid)
    assert t is not None and (t["deleted_at"], t["next_run_at"], t["updated_at"]) == (NOW + 5, None, NOW + 5)
    rows = await _execution_rows(store, tid)
    assert (rows[queued]["state"], rows[queued]["status"], rows[queued]["outcome"]) == ("done", "canceled", "failure")
    assert rows[queued]["summary"] == "Task deleted before this execution started"
    assert rows[queued]["completed_at"] == NOW + 5
    assert rows[running]["state"] == "running"
    # Gone from the API at once.
    assert await store.get(TASK, acc, tid) is None
    assert await store.tasks.owner(tid) is None
    await _raises(404, store.tasks.trigger(acc, tid, NOW + 6, 0, 0))
    await _raises(404, store.tasks.cancel(acc, tid, NOW + 6))

    recorded = await store.runs.finish([Finished(running, 1, tid, Outcome.SUCCESS, "ok", account_id=acc)], NOW + 10)
    assert [r.execution_id for r in recorded] == [running]
    assert [await _count(store, table, tid) for table in ("tasks", "task_executions", "task_events")] == [0, 0, 0]


async def test_a_task_deleted_while_two_runs_run_stays_until_the_last_ends(store: Store) -> None:
    acc = await _account(store)
    tid = await make_task(store, acc, NOW, None)
    a, b = await running_executions(store, acc, tid, 2, NOW)
    await _delete(store, acc, tid, NOW + 5)
    await store.runs.finish([Finished(a, 1, tid, Outcome.SUCCESS, "ok", account_id=acc)], NOW + 10)
    t = await _task_row(store, tid)
    assert t is not None and t["deleted_at"] == NOW + 5 and t["status"] == "running"
    await store.runs.finish([Finished(b, 1, tid, Outcome.FAILURE, "no", account_id=acc)], NOW + 11)
    assert await _task_row(store, tid) is None
    assert await _count(store, "task_executions", tid) == 0


# -- owner / unlink -------------------------------------------------------------------------------------


async def test_owner_is_the_account_of_a_visible_task(store: Store) -> None:
    acc, other = await _account(store, "a"), await _account(store, "b")
    mine, theirs = await make_task(store, acc, NOW, None), await make_task(store, other, NOW, None)
    assert await store.tasks.owner(mine) == acc
    assert await store.tasks.owner(theirs) == other
    assert await store.tasks.owner("missing") is None
    assert await store.tasks.owner(mine + "\x00") is None
    async with store.db.tx(write=True) as tx:
        await tx.execute("UPDATE tasks SET deleted_at = $2 WHERE id = $1", mine, NOW)
    assert await store.tasks.owner(mine) is None


async def test_unlink_clears_the_reference_in_this_accounts_tasks_only(store: Store) -> None:
    acc, other = await _account(store, "a"), await _account(store, "b")
    t1 = await make_task(store, acc, NOW, None, bot_id="bot1", contact_id="c1")
    t2 = await make_task(store, acc, NOW, None, bot_id="bot2", contact_id="c1")
    t3 = await make_task(store, other, NOW, None, bot_id="bot1", contact_id="c1")
    async with store.transaction() as tx:
        await store.tasks.unlink(tx, acc, "bot_id", "bot1")
    refs = {}
    for t in (t1, t2, t3):
        row = await _task_row(store, t)
        assert row is not None
        refs[t] = (row["bot_id"], row["contact_id"])
    assert refs == {t1: (None, "c1"), t2: ("bot2", "c1"), t3: ("bot1", "c1")}
    async with store.transaction() as tx:
        await store.tasks.unlink(tx, acc, "contact_id", "c1")
    assert [(await _task_row(store, t) or {})["contact_id"] for t in (t1, t2, t3)] == [None, None, "c1"]
    # The tasks themselves remain.
    assert [await store.tasks.owner(t) for t in (t1, t2, t3)] == [acc, acc, other]
