"""List pages of tasks reuse each row's wire JSON while its ``version`` holds (`store/row_json.py`): every
change of a task, by any path of the store, increments the version, so a cached page never differs from
the page the database writes afresh (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.store.base import ListQuery, Store
from agentcron.store.resources import TASK
from agentcron.store.row_json import RowJson
from agentcron.store.settle import cancel_runs
from tests.runs_helpers import make_bot, make_scheduler, make_task, make_worker, ms, queue_trigger
from tests.test_store_list_json import same_as_to_wire

STORE = Path(__file__).resolve().parent.parent / "src" / "agentcron" / "store"


def test_a_row_is_served_at_its_version_only_and_the_oldest_goes_first() -> None:
    cache = RowJson(max_rows=2)
    cache.keep("a", 1, '{"a":1}')
    cache.keep("b", 1, '{"b":1}')
    assert cache.lookup([("a", 1), ("a", 2), ("b", 1), ("c", 1)]) == ['{"a":1}', None, '{"b":1}', None]
    cache.keep("a", 2, '{"a":2}')  # replaces version 1, and is now the newest
    assert cache.lookup([("a", 1), ("a", 2)]) == [None, '{"a":2}']
    cache.keep("c", 1, '{"c":1}')  # full: "b" (the oldest kept) goes
    assert (len(cache), cache.lookup([("b", 1), ("a", 2), ("c", 1)])) == (2, [None, '{"a":2}', '{"c":1}'])


def test_every_update_of_a_task_in_the_store_increments_its_version() -> None:
    """A statement that changed a task without it would let list pages serve the task as it was."""
    statements = 0
    for path in sorted(STORE.rglob("*.py")):
        source = path.read_text()
        for m in re.finditer(r"UPDATE (tasks|\{res\.table\}) SET", source):
            statements += 1
            head = source[m.start() : source.index("WHERE", m.end())]
            assert "version + 1" in head or "res.version" in source[m.start() - 400 : m.start()], (
                f"{path.name}: {head[:120]!r} does not increment tasks.version"
            )
    assert statements >= 10


async def pages_agree(store: Store, account: str) -> list[dict[str, object]]:
    """The page as cached equals the page as the rows are now (and every row is cached after it)."""
    got = await same_as_to_wire(store, TASK, account, ListQuery())
    assert all(t is not None for t in store.row_json.lookup(await _keys(store, account)))
    return got


async def _keys(store: Store, account: str) -> list[tuple[str, int]]:
    rows = await store.db.read_rows("SELECT id, version FROM tasks WHERE account_id = $1", (account,))
    return [(r[0], r[1]) for r in rows]


@pytest.mark.anyio
async def test_a_cached_page_follows_every_change_of_its_tasks(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await store.accounts.create_account("a", now)
    bot = await make_bot(store, acc, now)
    tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot, overlap_policy="skip")
    other = await make_task(store, acc, now + 1, "hourly", bot_id=bot)
    clock = FakeClock(now)
    await pages_agree(store, acc)
    # firing: next run, running status (its run dispatched or queued)
    sched = make_scheduler(store, clock)
    await sched.run_until_idle(ms("2026-06-01T10:15:00Z"))
    page = await pages_agree(store, acc)
    assert next(t for t in page if t["id"] == tid)["nextRunAt"] == ms("2026-06-01T10:30:00Z")
    # a run claimed and finished: status, outcome, last run
    worker = make_worker(store, clock, Settings(), "w1")
    clock.value = ms("2026-06-01T10:15:01Z")
    assert await worker.claim_once(clock.value) == 1
    await worker.drain()
    await worker.flush(clock.value)
    page = await pages_agree(store, acc)
    assert next(t for t in page if t["id"] == tid)["lastRunAt"] is not None
    # pause, resume, an edit through the generic update
    await store.tasks.pause(acc, tid, clock.value, "maintenance", None)
    assert next(t for t in await pages_agree(store, acc) if t["id"] == tid)["pauseReason"] == "maintenance"
    await store.tasks.resume(acc, tid, clock.value)
    await pages_agree(store, acc)
    assert await store.update(TASK, acc, tid, {"name": "renamed", "updated_at": clock.value + 1})
    assert next(t for t in await pages_agree(store, acc) if t["id"] == tid)["name"] == "renamed"
    # a manual run queued, then canceled
    await queue_trigger(store, other, clock.value)
    await pages_agree(store, acc)
    async with store.db.tx(write=True) as tx:
        await cancel_runs(tx, other, clock.value)
    await pages_agree(store, acc)
    # the bot deleted: its tasks lose it
    async with store.db.tx(write=True) as tx:
        await store.tasks.unlink(tx, acc, "bot_id", bot)
    assert {t["botId"] for t in await pages_agree(store, acc)} == {None}
    # deleted: gone from the page
    async with store.db.tx(write=True) as tx:
        row = await tx.fetchrow("SELECT * FROM tasks WHERE id = $1", tid)
        assert row is not None
        await store.tasks.delete(tx, row, clock.value)
    assert [t["id"] for t in await pages_agree(store, acc)] == [other]
