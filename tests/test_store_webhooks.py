"""Webhooks and the delivery outbox in the store (agentcron.store.webhooks, agentcron.store.notices), on
both backends with an injected clock: deliveries written in the transaction of the change they report,
claims under a lease, fenced completion, bodies rendered once, pruning."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from agentcron import ids
from agentcron.domain import Finished, Outcome
from agentcron.store.base import Store, open_store
from agentcron.store.notices import (
    EXECUTION_CANCELED,
    EXECUTION_SUCCEEDED,
    SLOT_SKIPPED,
    TASK_PAUSED,
    TASK_RESUMED,
    Notice,
    record_notices,
)
from agentcron.store.webhooks import DELIVERED, FAILED, PENDING, Attempt
from tests.runs_helpers import make_task, ms, running_executions

pytestmark = pytest.mark.anyio
NOW = ms("2026-06-01T10:00:00Z")
URL = "https://hooks.example.com/in"


async def deliveries(store: Store) -> list[dict[str, Any]]:
    async with store.db.tx() as tx:
        return await tx.fetch("SELECT * FROM webhook_deliveries ORDER BY created_at, id")


async def hook(store: Store, acc: str, events: list[str], task_id: str | None = None) -> str:
    webhook_id, secret = await store.webhooks.create(acc, URL, events, task_id, "", NOW)
    assert secret.startswith("whsec_")
    return webhook_id


async def test_notices_match_account_event_and_task(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    other = await store.accounts.create_account("b", NOW)
    t1 = await make_task(store, acc, NOW, "hourly")
    t2 = await make_task(store, acc, NOW, "hourly")
    all_tasks = await hook(store, acc, [TASK_PAUSED, TASK_RESUMED])
    only_t1 = await hook(store, acc, [TASK_PAUSED], t1)
    await hook(store, acc, [EXECUTION_SUCCEEDED])  # not subscribed to pauses
    await hook(store, other, [TASK_PAUSED])  # another account's
    await store.tasks.pause(acc, t1, NOW, "why", None)
    await store.tasks.pause(acc, t2, NOW, None, None)
    rows = await deliveries(store)
    assert sorted((r["webhook_id"], r["event_type"]) for r in rows) == sorted(
        [(all_tasks, TASK_PAUSED), (only_t1, TASK_PAUSED), (all_tasks, TASK_PAUSED)]
    )
    assert all(r["status"] == PENDING and r["attempts"] == 0 and r["next_attempt_at"] == NOW for r in rows)


async def test_a_batch_of_notices_matches_each_to_its_own_webhooks(store: Store) -> None:
    """One call with notices of several tasks and accounts (a finish batch): each notice gets its task's own
    webhooks and its account's every-task ones, nobody else's (webhooks indexed by account and task)."""
    acc = await store.accounts.create_account("a", NOW)
    other = await store.accounts.create_account("b", NOW)
    tasks = [await make_task(store, acc, NOW, "hourly") for _ in range(3)]
    theirs = await make_task(store, other, NOW, "hourly")
    own = {t: await hook(store, acc, [EXECUTION_SUCCEEDED], t) for t in tasks[:2]}
    every = await hook(store, acc, [EXECUTION_SUCCEEDED, TASK_PAUSED])
    their_own = await hook(store, other, [EXECUTION_SUCCEEDED], theirs)
    notices = [Notice(EXECUTION_SUCCEEDED, acc, t) for t in tasks]
    notices += [Notice(EXECUTION_SUCCEEDED, other, theirs), Notice(TASK_PAUSED, acc, tasks[0])]
    async with store.db.tx(write=True) as tx:
        await record_notices(tx, notices, NOW)
    got = sorted((r["webhook_id"], r["event_type"]) for r in await deliveries(store))
    wanted = [(own[tasks[0]], EXECUTION_SUCCEEDED), (own[tasks[1]], EXECUTION_SUCCEEDED)]
    wanted += [(every, EXECUTION_SUCCEEDED)] * 3 + [(every, TASK_PAUSED), (their_own, EXECUTION_SUCCEEDED)]
    assert got == sorted(wanted)


async def test_a_webhook_deleted_while_a_change_reports_to_it_does_not_fail_the_change(pg_url: str) -> None:
    """PostgreSQL, two transactions: a webhook's delete is uncommitted when a change reads the webhooks to
    report to, and commits while the change waits on that row. The change commits without a delivery for the
    deleted webhook (instead of failing on the deliveries' foreign key)."""
    import asyncio

    import asyncpg

    store = await open_store(pg_url)
    try:
        acc = await store.accounts.create_account("a", NOW)
        tid = await make_task(store, acc, NOW, "hourly")
        doomed = await hook(store, acc, [TASK_PAUSED])
        deleter = await asyncpg.connect(pg_url)
        try:
            deleting = deleter.transaction()
            await deleting.start()
            await deleter.execute("DELETE FROM webhooks WHERE id = $1", doomed)

            async def change() -> None:
                async with store.db.tx(write=True) as tx:
                    await record_notices(tx, [Notice(TASK_PAUSED, acc, tid)], NOW)

            changing = asyncio.create_task(change())
            await asyncio.sleep(0.5)  # (it waits on the webhook row the delete holds)
            await deleting.commit()
            await asyncio.wait_for(changing, 10)
        finally:
            await deleter.close()
        assert await deliveries(store) == []
    finally:
        await store.close()


async def test_no_webhook_no_row_and_a_rolled_back_change_writes_none(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, "hourly")
    await store.tasks.pause(acc, tid, NOW, None, None)  # no webhook: nothing
    assert await deliveries(store) == []
    await hook(store, acc, [TASK_RESUMED])
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await record_notices(tx, [Notice(TASK_RESUMED, acc, tid)], NOW)
            raise RuntimeError("the change fails")
    assert await deliveries(store) == []
    assert await store.tasks.resume(acc, tid, NOW + 1)
    assert [r["event_type"] for r in await deliveries(store)] == [TASK_RESUMED]


async def test_finish_cancel_and_skips_write_their_notices(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, "hourly")
    await hook(store, acc, [EXECUTION_SUCCEEDED, EXECUTION_CANCELED])
    ok, failed, canceled = await running_executions(store, acc, tid, 3, NOW)
    recorded = await store.runs.finish(
        [
            Finished(ok, 1, tid, Outcome.SUCCESS, "done", account_id=acc),
            Finished(failed, 1, tid, Outcome.FAILURE, "no", account_id=acc),
        ],
        NOW + 10,
    )
    assert len(recorded) == 2
    assert await store.tasks.cancel(acc, tid, NOW + 20) == [canceled]
    rows = await deliveries(store)
    assert [r["event_type"] for r in rows] == [EXECUTION_SUCCEEDED, EXECUTION_CANCELED]
    refs = [msgspec.json.decode(r["payload"])["notice"]["executionId"] for r in rows]
    assert refs == [ok, canceled]


async def test_claim_renders_once_and_completion_is_fenced(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, "hourly")
    webhook_id = await hook(store, acc, [TASK_PAUSED])
    await store.tasks.pause(acc, tid, NOW, "maintenance", None)
    lease = 60_000
    (first,) = await store.webhooks.claim(NOW, lease, 10)
    assert (first.attempt, first.url, first.webhook_id) == (1, URL, webhook_id)
    body = msgspec.json.decode(first.body)
    assert body["type"] == TASK_PAUSED and body["timestamp"] == "2026-06-01T10:00:00.000Z"
    assert body["data"]["task"]["id"] == tid and body["data"]["task"]["pauseReason"] == "maintenance"
    assert body["data"]["execution"] is None and body["data"]["reason"] == "maintenance"
    assert await store.webhooks.claim(NOW + lease - 1, lease, 10) == []  # leased
    # The lease lapses (its process died): claimed again, same body, attempt 2.
    (second,) = await store.webhooks.claim(NOW + lease, lease, 10)
    assert (second.id, second.attempt, second.body) == (first.id, 2, first.body)
    stale = Attempt(first, DELIVERED, 200, None, None)
    assert await store.webhooks.complete([stale], NOW + lease + 1) == []  # fenced: not the current attempt
    retry = Attempt(second, PENDING, 500, "HTTP 500", NOW + lease + 5000)
    assert await store.webhooks.complete([retry], NOW + lease + 1) == [retry]
    assert await store.webhooks.claim(NOW + lease + 4999, lease, 10) == []
    (third,) = await store.webhooks.claim(NOW + lease + 5000, lease, 10)
    assert third.attempt == 3 and third.body == first.body
    done = Attempt(third, DELIVERED, 204, None, None)
    assert await store.webhooks.complete([done], NOW + lease + 5001) == [done]
    (row,) = await deliveries(store)
    assert (row["status"], row["attempts"], row["last_status_code"], row["last_error"]) == (DELIVERED, 3, 204, None)
    assert row["next_attempt_at"] is None and row["delivered_at"] == NOW + lease + 5001


async def test_bodies_carry_the_task_and_execution_as_the_api_shows_them(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, "hourly")
    await hook(store, acc, [EXECUTION_SUCCEEDED, SLOT_SKIPPED])
    (eid,) = await running_executions(store, acc, tid, 1, NOW)
    await store.runs.finish([Finished(eid, 1, tid, Outcome.SUCCESS, "all good", account_id=acc)], NOW + 5)
    async with store.transaction() as tx:
        await record_notices(tx, [Notice(SLOT_SKIPPED, acc, tid, eid, {"reason": "overlap"})], NOW + 6)
    claimed = await store.webhooks.claim(NOW + 10, 60_000, 10)
    bodies = {d.event_type: msgspec.json.decode(d.body) for d in claimed}
    ok = bodies[EXECUTION_SUCCEEDED]["data"]
    assert ok["execution"]["id"] == eid and ok["execution"]["summary"] == "all good"
    assert ok["execution"]["outcome"] == "success" and ok["task"]["id"] == tid
    assert set(ok) == {"task", "execution"}
    assert bodies[SLOT_SKIPPED]["data"]["reason"] == "overlap"


async def test_a_deleted_task_leaves_its_id_and_deleting_a_webhook_drops_its_deliveries(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, "hourly")
    keep = await hook(store, acc, [TASK_PAUSED])
    drop = await hook(store, acc, [TASK_PAUSED])
    await store.tasks.pause(acc, tid, NOW, None, None)
    async with store.transaction() as tx:
        row = await tx.fetchrow("SELECT * FROM tasks WHERE id = $1", tid)
        assert row is not None and await store.tasks.delete(tx, row, NOW)
    assert await store.webhooks.delete(acc, drop)
    assert not await store.webhooks.delete(acc, drop)
    (d,) = await store.webhooks.claim(NOW, 60_000, 10)
    assert d.webhook_id == keep
    assert msgspec.json.decode(d.body)["data"]["task"] == {"id": tid}


async def test_webhook_crud_is_scoped_to_the_account(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    other = await store.accounts.create_account("b", NOW)
    tid = await make_task(store, acc, NOW, "hourly")
    foreign = await make_task(store, other, NOW, "hourly")
    webhook_id = await hook(store, acc, [TASK_PAUSED], tid)
    got = await store.webhooks.get(acc, webhook_id)
    assert got is not None and "secret" not in got
    assert (got["url"], got["events"], got["taskId"], got["description"]) == (URL, [TASK_PAUSED], tid, "")
    assert await store.webhooks.get(other, webhook_id) is None
    assert not await store.webhooks.update(other, webhook_id, {"description": "x"}, NOW)
    from agentcron.errors import ApiError

    with pytest.raises(ApiError) as e:
        await store.webhooks.update(acc, webhook_id, {"taskId": foreign}, NOW)
    assert e.value.status == 404
    with pytest.raises(ApiError):
        await store.webhooks.create(acc, URL, [TASK_PAUSED], foreign, "", NOW)
    assert await store.webhooks.update(acc, webhook_id, {"taskId": None, "events": [TASK_RESUMED]}, NOW + 1)
    got = await store.webhooks.get(acc, webhook_id)
    assert got is not None and (got["taskId"], got["events"], got["updatedAt"]) == (None, [TASK_RESUMED], NOW + 1)
    assert not await store.webhooks.delete(other, webhook_id)


async def test_prune_removes_old_finished_deliveries_only(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, "hourly")
    await hook(store, acc, [TASK_PAUSED])
    for i in range(3):
        async with store.transaction() as tx:
            await record_notices(tx, [Notice(TASK_PAUSED, acc, tid)], NOW + i)
    claimed = await store.webhooks.claim(NOW + 10, 60_000, 2)
    await store.webhooks.complete(
        [Attempt(claimed[0], DELIVERED, 200, None, None), Attempt(claimed[1], FAILED, 500, "HTTP 500", None)], NOW + 11
    )
    assert ids.id_floor(NOW + 1) > ids.new_id(NOW) and ids.id_floor(NOW + 1) <= ids.new_id(NOW + 1)
    assert await store.webhooks.prune(NOW + 1) == 1  # only the first: the others are younger
    assert await store.webhooks.prune(NOW + 100) == 1  # the pending one stays
    assert [r["status"] for r in await deliveries(store)] == [PENDING]


async def test_a_skip_of_a_slot_already_recorded_reports_nothing(store: Store) -> None:
    """The scheduler's skip of a slot that already has an execution (here: backfilled while the scheduler
    was behind) inserts nothing, so it must report no ``slot.skipped``: that slot was not skipped, and the
    notice would name an execution that does not exist."""
    from agentcron.clock import FakeClock
    from tests.runs_helpers import executions, make_bot, make_scheduler

    start = ms("2026-06-01T09:30:00Z")
    acc = await store.accounts.create_account("a", start)
    bot = await make_bot(store, acc, start)
    tid = await make_task(store, acc, start, "hourly", bot_id=bot, overlap_policy="skip")
    await hook(store, acc, [SLOT_SKIPPED])
    now = ms("2026-06-01T10:30:00Z")  # the 10:00 slot has not fired yet (the scheduler is behind)
    backfilled = await store.tasks.backfill(acc, tid, ms("2026-06-01T10:00:00Z"), now, now)
    assert [r.scheduled_for for r in backfilled] == [ms("2026-06-01T10:00:00Z")]
    await make_scheduler(store, FakeClock(now)).run_until_idle(now)
    runs = await executions(store, acc, tid)
    assert [e["id"] for e in runs] == [backfilled[0].execution_id]  # the slot stays the backfill's
    assert await deliveries(store) == []
