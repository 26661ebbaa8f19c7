"""Each `Dialect` fragment and backend-specific `Tx` method, executed for real on its own backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentcron import ids
from agentcron.store.base import Store, open_store
from agentcron.store.resources import json_in
from tests.runs_helpers import make_task, ms

pytestmark = pytest.mark.anyio

NOW = ms("2026-06-01T10:00:00Z")
BIG = 2**40 + 3  # beyond int4: a parameter typed int4 by inference would overflow


def _pg(store: Store) -> bool:
    return store.db.sql.name == "postgresql"


async def _fetch(store: Store, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with store.db.tx() as tx:
        return await tx.fetch(sql, *args)


# -- any_of / list_param --------------------------------------------------------------------------------


async def test_any_of_a_text_list(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    t1, t2, t3 = [await make_task(store, acc, NOW, None) for _ in range(3)]
    sql = store.db.sql
    q = f"SELECT id FROM tasks WHERE account_id = $1 AND {sql.any_of('id', 2)} ORDER BY id"
    assert [r["id"] for r in await _fetch(store, q, acc, sql.list_param([t3, t1]))] == sorted([t1, t3])
    assert [r["id"] for r in await _fetch(store, q, acc, sql.list_param(iter([t2])))] == [t2]  # any iterable
    assert await _fetch(store, q, acc, sql.list_param([])) == []
    assert await _fetch(store, q, acc, sql.list_param(["nope", 'quo"te', "ünï"])) == []
    # One statement text for every list length.
    assert sql.any_of("id", 2) == sql.any_of("id", 2)


async def test_any_of_a_bigint_list(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    at = {i: await make_task(store, acc, NOW + i, None) for i in range(3)}
    sql = store.db.sql
    q = f"SELECT id FROM tasks WHERE account_id = $1 AND {sql.any_of('created_at', 2, of='bigint')}"
    rows = await _fetch(store, q, acc, sql.list_param([NOW, NOW + 2, BIG]))
    assert {r["id"] for r in rows} == {at[0], at[2]}
    assert await _fetch(store, q, acc, sql.list_param([])) == []


# -- values ---------------------------------------------------------------------------------------------


async def test_values_cte_round_trips_text_and_int_columns(store: Store) -> None:
    rows = [
        ("plain", 1),
        ("Grüße 😀 — ☃ 漢字", BIG),
        ('quote " and back\\slash', -7),
        ("007", 0),  # digits in a text column stay text
        (None, None),
    ]
    cte, args = store.db.sql.values("v", [("s", "text"), ("n", "int8")], rows)
    got = await _fetch(store, f"WITH {cte} SELECT s, n FROM v", *args)
    assert sorted(((r["s"], r["n"]) for r in got), key=repr) == sorted(rows, key=repr)
    assert all(type(r["n"]) is int for r in got if r["n"] is not None)
    assert all(type(r["s"]) is str for r in got if r["s"] is not None)


async def test_values_parameters_are_numbered_from_first(store: Store) -> None:
    sql = store.db.sql
    cte, args = sql.values("v", [("s", "text"), ("n", "int8"), ("k", "int4")], [("a", 1, 10), ("b", BIG, 20)], first=2)
    got = await _fetch(store, f"WITH {cte} SELECT s, n, k FROM v WHERE n >= $1 ORDER BY n", 2, *args)
    assert [(r["s"], r["n"], r["k"]) for r in got] == [("b", BIG, 20)]
    # The statement text does not depend on the number of rows.
    assert sql.values("v", [("s", "text")], [("a",)], 2)[0] == sql.values("v", [("s", "text")], [("a",), ("b",)], 2)[0]


async def test_values_cte_drives_an_update(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    t1, t2 = await make_task(store, acc, NOW, None), await make_task(store, acc, NOW, None)
    async with store.db.tx(write=True) as tx:
        cte, args = tx.sql.values("v", [("id", "text"), ("nxt", "int8")], [(t1, BIG), (t2, None)])
        await tx.execute(f"WITH {cte} UPDATE tasks SET next_run_at = v.nxt FROM v WHERE tasks.id = v.id", *args)
    got = await _fetch(store, "SELECT id, next_run_at FROM tasks WHERE account_id = $1", acc)
    assert {r["id"]: r["next_run_at"] for r in got} == {t1: BIG, t2: None}


async def test_execute_counts_the_rows_a_cte_update_changed(store: Store) -> None:
    """`Tx.execute` returns the number of rows changed, whatever the statement starts with (Python 3.11's
    sqlite3 reports no row count for a statement led by WITH: the adapter asks SQLite instead)."""
    acc = await store.accounts.create_account("a", NOW)
    t1, t2 = await make_task(store, acc, NOW, None), await make_task(store, acc, NOW, None)
    async with store.db.tx(write=True) as tx:
        cte, args = tx.sql.values("v", [("id", "text"), ("nxt", "int8")], [(t1, 1), (t2, 2), ("missing", 3)])
        changed = await tx.execute(
            f"WITH {cte} UPDATE tasks SET next_run_at = v.nxt FROM v WHERE tasks.id = v.id", *args
        )
    assert changed == 2


# -- typed ----------------------------------------------------------------------------------------------


async def test_typed_parameter_takes_the_given_type(store: Store) -> None:
    got = await _fetch(store, f"SELECT {store.db.sql.typed(1, 'bigint')} + 1 AS n", BIG)
    assert got == [{"n": BIG + 1}]


# -- meta_match -----------------------------------------------------------------------------------------


async def _meta_ids(store: Store, acc: str, key: str, value: str | bool) -> set[str]:
    args: list[Any] = [acc]

    def arg(v: Any) -> str:
        args.append(v)
        return f"${len(args)}"

    cond = store.db.sql.meta_match(key, value, arg)
    rows = await _fetch(store, f"SELECT id FROM tasks WHERE account_id = $1 AND {cond}", *args)
    return {r["id"] for r in rows}


async def test_meta_match_strings_and_booleans(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)

    async def with_meta(meta: Any) -> str:
        return await make_task(store, acc, NOW, None, meta=json_in(meta))

    ops = await with_meta({"team": "ops", "urgent": True, "n": "1", "a.b": "dot", "x y": "sp", "ünï": "ü"})
    dev = await with_meta({"team": "dev", "urgent": False, "n": 1})
    team_true = await with_meta({"team": True})
    urgent_text = await with_meta({"urgent": "true", "team": "false"})
    nested = await with_meta({"team": {"name": "ops"}, "list": ["ops"]})
    await with_meta(None)
    await with_meta([{"team": "ops"}])  # not an object

    assert await _meta_ids(store, acc, "team", "ops") == {ops}
    assert await _meta_ids(store, acc, "team", "dev") == {dev}
    assert await _meta_ids(store, acc, "team", True) == {team_true}  # a JSON true, not the text
    assert await _meta_ids(store, acc, "team", "false") == {urgent_text}  # the text, not a JSON false
    assert await _meta_ids(store, acc, "urgent", True) == {ops}
    assert await _meta_ids(store, acc, "urgent", False) == {dev}
    assert await _meta_ids(store, acc, "urgent", "true") == {urgent_text}
    assert await _meta_ids(store, acc, "n", "1") == {ops}  # the string "1", not the number 1
    assert await _meta_ids(store, acc, "a.b", "dot") == {ops}  # a dot is part of the key, not a path
    assert await _meta_ids(store, acc, "x y", "sp") == {ops}
    assert await _meta_ids(store, acc, "ünï", "ü") == {ops}
    assert await _meta_ids(store, acc, "team", "OPS") == set()
    assert await _meta_ids(store, acc, "missing", "ops") == set()
    assert await _meta_ids(store, acc, "list", "ops") == set()
    assert nested not in await _meta_ids(store, acc, "team", "ops")


async def test_meta_match_a_key_with_a_backslash(store: Store, request: pytest.FixtureRequest) -> None:
    if not _pg(store):
        # SQLite's JSON path compares the label with the key's escaped JSON text ("a\\b"): keys holding a
        # backslash or a control character never match there (the API refuses only '"' in meta keys).
        request.applymarker(pytest.mark.xfail(reason="SQLite json path does not unescape object keys"))
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, None, meta=json_in({"a\\b": "v"}))
    assert await _meta_ids(store, acc, "a\\b", "v") == {tid}


# -- insert_many ----------------------------------------------------------------------------------------


async def test_insert_many_on_conflict_do_nothing_with_returning(store: Store) -> None:
    old = await store.accounts.create_account("old", NOW)
    new1, new2 = ids.new_id(NOW), ids.new_id(NOW)
    cols = [("id", "text"), ("name", "text"), ("created_at", "int8")]
    rows = [(old, "overwritten?", NOW + 1), (new1, "new one", NOW + 2), (new2, "Grüße 😀", NOW + 3)]
    async with store.db.tx(write=True) as tx:
        returned = await tx.insert_many("accounts", cols, rows, " ON CONFLICT (id) DO NOTHING", returning="id, name")
    if _pg(store):
        assert returned is not None
        assert sorted((r["id"], r["name"]) for r in returned) == sorted([(new1, "new one"), (new2, "Grüße 😀")])
    else:
        assert returned is None  # the caller reads them back
    got = await _fetch(store, "SELECT id, name, created_at FROM accounts ORDER BY created_at")
    assert [(r["id"], r["name"], r["created_at"]) for r in got] == [
        (old, "old", NOW),
        (new1, "new one", NOW + 2),
        (new2, "Grüße 😀", NOW + 3),
    ]


async def test_insert_many_without_returning_returns_none(store: Store) -> None:
    cols = [("id", "text"), ("name", "text"), ("created_at", "int8")]
    async with store.db.tx(write=True) as tx:
        assert (
            await tx.insert_many("accounts", cols, [(ids.new_id(NOW), "x", NOW)], " ON CONFLICT (id) DO NOTHING")
            is None
        )
    assert len(await _fetch(store, "SELECT id FROM accounts")) == 1


async def test_insert_many_writes_jsonb_columns_from_text(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = ids.new_id(NOW)
    cols = [
        ("id", "text"),
        ("account_id", "text"),
        ("name", "text"),
        ("description", "text"),
        ("meta", "jsonb"),
        ("created_at", "int8"),
        ("updated_at", "int8"),
    ]
    row = (tid, acc, "t", "", json_in({"team": "ops", "on": True}), NOW, NOW)
    async with store.db.tx(write=True) as tx:
        await tx.insert_many("tasks", cols, [row], " ON CONFLICT (id) DO NOTHING")
        await tx.insert_many("tasks", cols, [row], " ON CONFLICT (id) DO NOTHING")  # a no-op the second time
    assert await _meta_ids(store, acc, "team", "ops") == {tid}
    assert await _meta_ids(store, acc, "on", True) == {tid}


async def test_insert_many_without_a_conflict_clause_raises_on_a_duplicate(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    with pytest.raises(Exception) as caught:
        async with store.db.tx(write=True) as tx:
            await tx.insert_many(
                "accounts", [("id", "text"), ("name", "text"), ("created_at", "int8")], [(acc, "x", 1)], ""
            )
    assert store.db.sql.is_unique_violation(caught.value)


# -- lock_keys / lock_rows / notify ---------------------------------------------------------------------


async def _advisory_locks(tx: Any) -> int:
    row = await tx.fetchrow(
        "SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
    )
    return int(row["n"])


async def test_lock_keys_holds_one_lock_per_distinct_key_until_the_end(store: Store) -> None:
    async with store.db.tx(write=True) as tx:
        assert await tx.lock_keys("agentcron.test", []) is None
        assert await tx.lock_keys("agentcron.test", ["b", "a", "b", "ünï"]) is None
        if _pg(store):
            assert await _advisory_locks(tx) == 3
        await tx.execute("INSERT INTO accounts (id, name, created_at) VALUES ($1, 'x', $2)", ids.new_id(NOW), NOW)
    assert len(await _fetch(store, "SELECT id FROM accounts")) == 1  # the transaction committed
    if _pg(store):
        async with store.db.tx() as tx:
            assert await _advisory_locks(tx) == 0  # transaction-scoped


async def test_lock_rows_and_notify_are_callable_in_a_transaction(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    tid = await make_task(store, acc, NOW, None)
    async with store.db.tx(write=True) as tx:
        assert await tx.lock_rows("tasks", []) is None
        assert await tx.lock_rows("tasks", [tid, "missing"]) is None
        assert await tx.notify("agentcron_test", "payload") is None
        await tx.execute("UPDATE tasks SET name = 'locked' WHERE id = $1", tid)
    assert await _fetch(store, "SELECT name FROM tasks WHERE id = $1", tid) == [{"name": "locked"}]


async def test_sqlite_has_no_one_to_notify(sqlite_url: str) -> None:
    store = await open_store(sqlite_url)
    try:
        assert store.caps.cross_process_notify is False and store.caps.concurrent_writes is False
        with pytest.raises(NotImplementedError):
            await store.db.listen("agentcron_test", lambda _p: None)
    finally:
        await store.close()


async def test_postgres_lock_rows_makes_skip_locked_pass_them_by(pg_url: str) -> None:
    store = await open_store(pg_url)
    try:
        acc = await store.accounts.create_account("a", NOW)
        t1, t2 = await make_task(store, acc, NOW, None), await make_task(store, acc, NOW, None)
        sql = store.db.sql
        assert store.caps.concurrent_writes
        async with store.db.tx(write=True) as holder:
            await holder.lock_rows("tasks", [t1])
            async with store.db.tx(write=True) as other:
                free = await other.fetch(f"SELECT id FROM tasks WHERE account_id = $1{sql.skip_locked}", acc)
                assert [r["id"] for r in free] == [t2]
                joined = await other.fetch(
                    "SELECT t.id FROM tasks t JOIN accounts a ON a.id = t.account_id WHERE a.id = $1"
                    + sql.skip_locked_of("t"),
                    acc,
                )
                assert [r["id"] for r in joined] == [t2]
        async with store.db.tx(write=True) as tx:  # released with the transaction
            free = await tx.fetch(f"SELECT id FROM tasks WHERE account_id = $1{sql.skip_locked}", acc)
            assert {r["id"] for r in free} == {t1, t2}
    finally:
        await store.close()


async def test_postgres_notify_reaches_listeners_on_commit_only(pg_url: str) -> None:
    store = await open_store(pg_url)
    got: list[str] = []
    arrived = asyncio.Event()

    def on_payload(payload: str) -> None:
        got.append(payload)
        arrived.set()

    close = await store.db.listen("agentcron_test", on_payload)
    try:
        with pytest.raises(RuntimeError):
            async with store.db.tx(write=True) as tx:
                await tx.notify("agentcron_test", "rolled back")
                raise RuntimeError("roll back")
        async with store.db.tx(write=True) as tx:
            await tx.notify("agentcron_test", "committed")
        await asyncio.wait_for(arrived.wait(), 10)
        assert got == ["committed"]  # notifications arrive in commit order: a rolled-back one never does
    finally:
        await close()
        await store.close()


# -- is_unique_violation --------------------------------------------------------------------------------


async def test_is_unique_violation_recognises_a_real_duplicate_key(store: Store) -> None:
    acc = await store.accounts.create_account("a", NOW)
    with pytest.raises(Exception) as caught:
        async with store.db.tx(write=True) as tx:
            await tx.execute("INSERT INTO accounts (id, name, created_at) VALUES ($1, 'dup', $2)", acc, NOW)
    assert store.db.sql.is_unique_violation(caught.value)


async def test_is_unique_violation_rejects_other_errors(store: Store) -> None:
    with pytest.raises(Exception) as not_null:
        async with store.db.tx(write=True) as tx:
            await tx.execute("INSERT INTO accounts (id, name, created_at) VALUES ($1, NULL, $2)", ids.new_id(NOW), NOW)
    assert not store.db.sql.is_unique_violation(not_null.value)
    with pytest.raises(Exception) as syntax:
        async with store.db.tx() as tx:
            await tx.fetch("SELEC 1")
    assert not store.db.sql.is_unique_violation(syntax.value)
    assert not store.db.sql.is_unique_violation(ValueError("something else"))
