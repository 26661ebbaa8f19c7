"""List pages of tasks reuse each row's wire JSON while its ``version`` holds (`store/row_json.py`): every
change of a task, by any path of the store, increments the version, so a cached page never differs from
the page the database writes afresh (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.store.base import ListQuery, Store
from agentcron.store.dialects import PostgresDialect, SQLiteDialect
from agentcron.store.resources import TASK
from agentcron.store.row_json import RowCache
from agentcron.store.settle import cancel_runs
from tests.runs_helpers import make_bot, make_scheduler, make_task, make_worker, ms, queue_trigger
from tests.test_store_list_json import same_as_to_wire

SRC = Path(__file__).resolve().parent.parent / "src" / "agentcron"


def test_a_row_is_served_at_its_version_only_and_the_oldest_goes_first() -> None:
    cache = RowCache[str](max_rows=2)
    cache.keep("a", 1, '{"a":1}')
    cache.keep("b", 1, '{"b":1}')
    assert cache.lookup([("a", 1), ("a", 2), ("b", 1), ("c", 1)]) == ['{"a":1}', None, '{"b":1}', None]
    cache.keep("a", 2, '{"a":2}')  # replaces version 1, and is now the newest
    assert cache.lookup([("a", 1), ("a", 2)]) == [None, '{"a":2}']
    cache.keep("c", 1, '{"c":1}')  # full: "b" (the oldest kept) goes
    assert (len(cache), cache.lookup([("b", 1), ("a", 2), ("c", 1)])) == (2, [None, '{"a":2}', '{"c":1}'])


def test_the_kept_text_is_bounded_in_characters_and_a_long_text_is_never_kept() -> None:
    cache = RowCache[str](max_rows=100, max_chars=10, max_text=6)
    cache.keep("a", 1, "aaaa")
    cache.keep("b", 1, "bbbb")
    cache.keep("c", 1, "cccc")  # 12 characters: "a" goes
    assert (cache.chars, cache.lookup([("a", 1), ("b", 1), ("c", 1)])) == (8, [None, "bbbb", "cccc"])
    cache.keep("b", 2, "b" * 7)  # too long to keep: its old version goes too
    assert (len(cache), cache.chars, cache.lookup([("b", 1), ("b", 2)])) == (1, 4, [None, None])


def test_every_update_of_a_task_increments_its_version() -> None:
    """On SQLite a statement that changed a task without it would let list pages serve the task as it was
    (PostgreSQL keys on ``xmin``). Every module of the package, statements split over string literals and in
    any case included."""
    statements = 0
    for path in sorted(SRC.rglob("*.py")):
        source = re.sub(r"\"\s*\n\s*f?\"", "", path.read_text())  # one literal per statement
        for m in re.finditer(r"update\s+(tasks|\{res\.table\})\s", source, re.IGNORECASE):
            statements += 1
            where = re.compile(r"\bwhere\b", re.IGNORECASE).search(source, m.end())
            head = source[m.start() : where.start() if where else len(source)]
            generic = "{res.table}" in m.group(0) and "res.version" in source[m.start() - 400 : m.start()]
            assert re.search(r"version\s*\+\s*1", head) or generic, (
                f"{path.relative_to(SRC)}: {head[:120]!r} does not increment tasks.version"
            )
    assert statements >= 10


def test_postgresql_keys_on_the_row_version_it_writes_itself() -> None:
    assert PostgresDialect().row_version("version") == "xmin::text::bigint"
    assert SQLiteDialect().row_version("version") == "version"


async def pages_agree(store: Store, account: str) -> list[dict[str, object]]:
    """The page as cached equals the page as the rows are now (and every row is cached after it)."""
    got = await same_as_to_wire(store, TASK, account, ListQuery())
    assert all(t is not None for t in store.row_json.lookup(await _keys(store, account)))
    # and the console's columns, kept the same way
    cols = ("id", "name", "bot_id", "status", "outcome", "paused_at", "last_run_at", "next_run_at")
    kept = await store.list_values(TASK, account, ListQuery(), cols)
    fresh = await store.db.read_rows(
        f"SELECT {', '.join(cols)} FROM tasks WHERE account_id = $1 AND deleted_at IS NULL "
        "ORDER BY created_at DESC, id DESC",
        (account,),
    )
    assert [tuple(r) for r in kept] == [tuple(r) for r in fresh]
    return got


async def _keys(store: Store, account: str) -> list[tuple[str, int]]:
    version = store.db.sql.row_version("version")
    rows = await store.db.read_rows(f"SELECT id, {version} FROM tasks WHERE account_id = $1", (account,))
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
    # a run claimed from the queue (running), then finished: status, outcome, last run
    worker = make_worker(store, clock, Settings(), "w1")
    clock.value = ms("2026-06-01T10:15:01Z")
    assert await worker.claim_once(clock.value) == 1
    assert next(t for t in await pages_agree(store, acc) if t["id"] == tid)["status"] == "running"
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


@pytest.mark.anyio
@pytest.mark.parametrize("change", ["pause", "delete"])
async def test_a_row_changed_between_the_two_reads_is_read_again_with_the_page(store: Store, change: str) -> None:
    """The page's (id, version) read, then a task of it paused or deleted, then its JSON read by id: the page
    is read again in one statement, so it keeps its filter (not paused) and its size."""
    now = ms("2026-06-01T10:00:30Z")
    acc = await store.accounts.create_account("a", now)
    tids = [await make_task(store, acc, now + i, "hourly") for i in range(3)]
    query = ListQuery(take=2)
    query.present["paused_at"] = False
    await store.list_page_json(TASK, acc, query)  # both rows kept; then the newest changes (a new version):
    assert await store.update(TASK, acc, tids[2], {"name": "renamed"})  # one row of two to read by id
    read_rows = store.db.read_rows
    reads = 0

    async def interleaved(sql: str, args: tuple[object, ...]) -> list[object]:
        nonlocal reads
        rows = await read_rows(sql, args)
        reads += 1
        if reads == 1:  # after the page's keys: change its newest task
            if change == "pause":
                await store.tasks.pause(acc, tids[2], now, None, None)
            else:
                async with store.db.tx(write=True) as tx:
                    row = await tx.fetchrow("SELECT * FROM tasks WHERE id = $1", tids[2])
                    assert row is not None
                    await store.tasks.delete(tx, row, now)
        return list(rows)

    store.db.read_rows = interleaved  # type: ignore[method-assign]
    page = await store.list_page_json(TASK, acc, query)
    store.db.read_rows = read_rows  # type: ignore[method-assign]
    assert page is not None and reads == 3  # keys, the JSON of the two, the page again
    texts, last = page
    assert [msgspec.json.decode(t)["id"] for t in texts] == [tids[1], tids[0]] and last == tids[0]
    assert await same_as_to_wire(store, TASK, acc, query)


@pytest.mark.anyio
async def test_a_page_mostly_new_to_the_process_is_read_in_one_statement(store: Store) -> None:
    now = ms("2026-06-01T10:00:30Z")
    acc = await store.accounts.create_account("a", now)
    for i in range(4):
        await make_task(store, acc, now + i, "hourly")
    read_rows = store.db.read_rows
    reads: list[str] = []

    async def counted(sql: str, args: tuple[object, ...]) -> list[object]:
        reads.append(sql)
        return list(await read_rows(sql, args))

    store.db.read_rows = counted  # type: ignore[method-assign]
    cold = await store.list_page_json(TASK, acc, ListQuery())  # keys, then the page with its JSON
    warm = await store.list_page_json(TASK, acc, ListQuery())  # keys only
    store.db.read_rows = read_rows  # type: ignore[method-assign]
    assert len(reads) == 3 and cold == warm and len(store.row_json) == 4
    assert await same_as_to_wire(store, TASK, acc, ListQuery())
