"""The `Store` contract, on SQLite and PostgreSQL: secrets, account scoping, keyset pages, filters, JSON."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from agentcron import ids
from agentcron.store.base import ListQuery, Store
from agentcron.store.resources import CONVERSATION, MESSAGE, TASK, json_in

pytestmark = pytest.mark.anyio

T0 = 1_790_000_000_000


async def account(store: Store, name: str = "acct") -> str:
    return await store.accounts.create_account(name, T0)


def task_row(account_id: str, at: int = T0, **cols: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": ids.new_id(at),
        "account_id": account_id,
        "name": "",
        "description": "",
        "created_at": at,
        "updated_at": at,
    }
    if "meta" in cols:
        cols["meta"] = json_in(cols["meta"])
    row.update(cols)
    return row


async def add_task(store: Store, account_id: str, at: int = T0, **cols: Any) -> str:
    row = task_row(account_id, at, **cols)
    await store.insert(TASK, row)
    return str(row["id"])


async def all_ids(store: Store, account_id: str, **query: Any) -> set[str]:
    rows = await store.list_page(TASK, account_id, ListQuery(**query))
    return {r["id"] for r in rows}


# -- accounts and secrets -------------------------------------------------------------------------------


async def test_tokens_are_hashed_and_resolve_to_their_account(store: Store) -> None:
    a, b = await account(store, "alpha"), await account(store, "beta")
    sa, sa2, sb = (
        await store.accounts.create_token(a, T0),
        await store.accounts.create_token(a, T0 + 1),
        await store.accounts.create_token(b, T0),
    )
    assert len({sa, sa2, sb}) == 3 and all(s.startswith("sk-") and len(s) > 30 for s in (sa, sa2, sb))
    assert await store.accounts.account_for_secret(sa) == a
    assert await store.accounts.account_for_secret(sa2) == a
    assert await store.accounts.account_for_secret(sb) == b
    assert await store.accounts.account_for_secret(sa) == a  # cached path
    for wrong in ("", "sk-", sa + "x", sa[:-1], sa.upper(), hashlib.sha256(sa.encode()).hexdigest()):
        assert await store.accounts.account_for_secret(wrong) is None, wrong
    async with store.db.tx() as tx:
        rows = await tx.fetch("SELECT * FROM api_tokens")
    assert len(rows) == 3
    dump = repr(rows)
    for secret in (sa, sa2, sb):
        assert secret not in dump, "a raw secret is stored"
        assert secret[3:] not in dump
    assert {r["secret_hash"] for r in rows} == {hashlib.sha256(s.encode()).hexdigest() for s in (sa, sa2, sb)}
    assert {r["account_id"] for r in rows} == {a, b}


async def test_find_account(store: Store) -> None:
    a = await store.accounts.create_account("team", T0)
    await store.accounts.create_account("team", T0 + 5)  # a later namesake
    b = await store.accounts.create_account("other", T0)
    assert await store.accounts.find_account(a) == a
    assert await store.accounts.find_account("team") == a
    assert await store.accounts.find_account("other") == b
    assert await store.accounts.find_account("nobody") is None
    assert await store.accounts.find_account("TEAM") is None


# -- scoped row access ------------------------------------------------------------------------------------


async def test_rows_are_scoped_by_account(store: Store) -> None:
    a, b = await account(store, "a"), await account(store, "b")
    tid = await add_task(store, a, name="mine", meta={"k": "v"}, schedule="daily")
    # get / get_row / exists
    got = await store.get(TASK, a, tid)
    assert got is not None and got["name"] == "mine" and got["meta"] == {"k": "v"}
    assert got["status"] == "idle" and got["outcome"] == "pending"  # server defaults
    assert set(got) == {f.wire for f in TASK.fields}
    assert await store.get(TASK, b, tid) is None
    row = await store.get_row(TASK, a, tid)
    assert row is not None and row["account_id"] == a and row["schedule"] == "daily"
    assert await store.get_row(TASK, b, tid) is None
    assert await store.exists(TASK, a, tid)
    assert not await store.exists(TASK, b, tid)
    missing = ids.new_id(T0)
    assert not await store.exists(TASK, a, missing)
    assert await store.get(TASK, a, missing) is None
    for weird in ("", "x", "\x00", tid + "\x00", "' OR 1=1 --"):
        assert not await store.exists(TASK, a, weird)
        assert await store.get_row(TASK, a, weird) is None
        assert not await store.update(TASK, a, weird, {"name": "x"})
        assert not await store.delete(TASK, a, weird)
    # update
    assert not await store.update(TASK, b, tid, {"name": "stolen"})
    assert not await store.update(TASK, b, tid, {})
    assert (await store.get(TASK, a, tid) or {})["name"] == "mine"
    assert await store.update(TASK, a, tid, {"name": "renamed", "updated_at": T0 + 9})
    assert await store.update(TASK, a, tid, {})  # no changes, but the row exists
    after = await store.get(TASK, a, tid)
    assert after is not None and after["name"] == "renamed" and after["updatedAt"] == T0 + 9
    # list
    assert await all_ids(store, a) == {tid}
    assert await all_ids(store, b) == set()
    # delete
    assert not await store.delete(TASK, b, tid)
    assert await store.exists(TASK, a, tid)
    assert await store.delete(TASK, a, tid)
    assert not await store.exists(TASK, a, tid)
    assert not await store.delete(TASK, a, tid)


async def test_in_transaction_variants(store: Store) -> None:
    a = await account(store)
    row = task_row(a, name="tx")
    async with store.db.tx(write=True) as tx:
        await store.insert(TASK, row, tx)
        assert await store.exists(TASK, a, row["id"], tx)
        assert await store.update(TASK, a, row["id"], {"name": "tx2"}, tx)
        got = await store.get_row(TASK, a, row["id"], tx)
        assert got is not None and got["name"] == "tx2"
    assert (await store.get(TASK, a, row["id"]) or {})["name"] == "tx2"
    # a failing transaction rolls back
    with pytest.raises(RuntimeError):
        async with store.db.tx(write=True) as tx:
            await store.delete(TASK, a, row["id"], tx)
            raise RuntimeError("boom")
    assert await store.exists(TASK, a, row["id"])


async def test_deleted_at_hides_tasks(store: Store) -> None:
    a = await account(store)
    keep, hidden = await add_task(store, a), await add_task(store, a, deleted_at=T0)
    assert await all_ids(store, a) == {keep}
    assert not await store.exists(TASK, a, hidden)
    assert await store.get(TASK, a, hidden) is None
    assert not await store.update(TASK, a, hidden, {"name": "x"})


async def test_concurrent_gets_answer_each_caller_as_a_lone_get_would(store: Store) -> None:
    """These reads share statements (store/keyed_reads.py): each caller still gets its own
    account's row, and another account's, a hidden or a missing id still reads as absent."""
    a, b = await account(store, "a"), await account(store, "b")
    mine = [await add_task(store, a, name=f"a{i}") for i in range(5)]
    theirs = await add_task(store, b, name="b")
    hidden = await add_task(store, a, deleted_at=T0)
    missing = ids.new_id(T0)
    asks = [(a, t) for t in mine] + [(a, mine[0]), (b, mine[1]), (b, theirs), (a, theirs), (a, hidden), (a, missing)]
    asks += [(a, "\x00"), (a, "")]
    got = await asyncio.gather(*(store.get(TASK, acct, tid) for acct, tid in asks))
    names = [None if g is None else g["name"] for g in got]
    assert names == ["a0", "a1", "a2", "a3", "a4", "a0", None, "b", None, None, None, None, None]
    for (_, tid), g in zip(asks, got, strict=True):
        assert g is None or (g["id"] == tid and set(g) == {f.wire for f in TASK.fields})


# -- keyset pagination ------------------------------------------------------------------------------------


async def test_list_page_keyset_with_ties(store: Store) -> None:
    a, other = await account(store, "a"), await account(store, "other")
    made: list[tuple[int, str]] = []
    for i in range(31):
        at = T0 + (i % 4) * 1000  # only 4 distinct created_at values: many ties
        made.append((at, await add_task(store, a, at, name=f"t{i}")))
    for _ in range(5):
        await add_task(store, other, T0 + 500)  # interleaved instants of another account
    for order in ("asc", "desc"):
        expected = sorted(made, reverse=order == "desc")
        for take in (1, 3, 7, 31, 100):
            seen: list[tuple[int, str]] = []
            query = ListQuery(take=take, order=order)
            for _ in range(40):
                rows = await store.list_page(TASK, a, query)
                seen += [(r["created_at"], r["id"]) for r in rows]
                if len(rows) < take:
                    break
                query.after = (rows[-1]["created_at"], rows[-1]["id"])
            assert seen == expected, (order, take)
    # the cursor is exclusive, and may name a row that no longer exists
    asc = sorted(made)
    rows = await store.list_page(TASK, a, ListQuery(take=100, order="asc", after=asc[10]))
    assert [(r["created_at"], r["id"]) for r in rows] == asc[11:]
    await store.delete(TASK, a, asc[10][1])
    rows = await store.list_page(TASK, a, ListQuery(take=100, order="asc", after=asc[10]))
    assert [(r["created_at"], r["id"]) for r in rows] == asc[11:]
    rows = await store.list_page(TASK, a, ListQuery(take=100, order="desc", after=asc[10]))
    assert [(r["created_at"], r["id"]) for r in rows] == asc[:10][::-1]
    # "anything but asc" is descending
    rows = await store.list_page(TASK, a, ListQuery(take=2, order="bogus"))
    assert [(r["created_at"], r["id"]) for r in rows] == sorted(made, reverse=True)[:2]


async def test_list_page_returns_wire_columns_only(store: Store) -> None:
    a = await account(store)
    await add_task(store, a, max_calls=7)
    (row,) = await store.list_page(TASK, a, ListQuery())
    assert "max_calls" not in row and "account_id" not in row
    assert "maxCalls" not in TASK.to_wire(row)


async def test_parent_scoping(store: Store) -> None:
    a, b = await account(store, "a"), await account(store, "b")
    convs = []
    for acct in (a, a, b):
        cid = ids.new_id(T0)
        await store.insert(
            CONVERSATION,
            {"id": cid, "account_id": acct, "name": "", "description": "", "created_at": T0, "updated_at": T0},
        )
        convs.append(cid)
    msgs: dict[str, list[str]] = {c: [] for c in convs}
    for i in range(6):
        for cid, acct in zip(convs, (a, a, b), strict=True):
            mid = ids.new_id(T0 + i)
            row = {
                "id": mid,
                "account_id": acct,
                "conversation_id": cid,
                "type": "user",
                "text": f"{i}",
                "created_at": T0 + i,
                "updated_at": T0 + i,
            }
            await store.insert(MESSAGE, row)
            msgs[cid].append(mid)
    for cid in convs[:2]:
        rows = await store.list_page(MESSAGE, a, ListQuery(order="asc"), parent_id=cid)
        assert [r["id"] for r in rows] == msgs[cid]
    # the account scope still applies under a parent
    assert await store.list_page(MESSAGE, a, ListQuery(), parent_id=convs[2]) == []


# -- filters ----------------------------------------------------------------------------------------------


async def test_equals_filters(store: Store) -> None:
    a, b = await account(store, "a"), await account(store, "b")
    t1 = await add_task(store, a, bot_id="b1", contact_id="c1", status="idle")
    t2 = await add_task(store, a, bot_id="b2", contact_id="c1", status="running")
    t3 = await add_task(store, a, bot_id=None, contact_id="c2")
    await add_task(store, b, bot_id="b1", contact_id="c1")
    assert await all_ids(store, a, equals={"bot_id": ["b1"]}) == {t1}
    assert await all_ids(store, a, equals={"bot_id": ["b1", "b2", "nope"]}) == {t1, t2}
    assert await all_ids(store, a, equals={"contact_id": ["c1"]}) == {t1, t2}
    assert await all_ids(store, a, equals={"contact_id": ["c1"], "status": ["running"]}) == {t2}
    assert await all_ids(store, a, equals={"status": ["idle"]}) == {t1, t3}
    assert await all_ids(store, a, equals={"bot_id": ["' OR '1'='1"]}) == set()


async def test_meta_filters_match_type_and_value(store: Store) -> None:
    a, b = await account(store, "a"), await account(store, "b")
    rows = {
        "str_true": {"k": "true"},
        "bool_true": {"k": True},
        "bool_false": {"k": False},
        "num_one": {"k": 1},
        "str_one": {"k": "1"},
        "float_one": {"k": 1.0},
        "null": {"k": None},
        "nested": {"k": {"x": "1"}},
        "list": {"k": ["1"]},
        "other_key": {"j": "1"},
        "dotted": {"a.b": "x", "k": "x"},
        "spaced": {"sp ace": "ü ✓", "quote'": "q"},
    }
    made = {name: await add_task(store, a, meta=meta) for name, meta in rows.items()}
    made["no_meta"] = await add_task(store, a)
    await add_task(store, b, meta={"k": "1"})
    await add_task(store, b, meta={"k": True})

    async def match(meta: dict[str, str | bool]) -> set[str]:
        got = await all_ids(store, a, meta=meta)
        return {name for name, tid in made.items() if tid in got}

    assert await match({"k": "true"}) == {"str_true"}
    assert await match({"k": True}) == {"bool_true"}
    assert await match({"k": False}) == {"bool_false"}
    assert await match({"k": "1"}) == {"str_one"}  # neither the number 1 nor [..] nor {..}
    assert await match({"k": "false"}) == set()
    assert await match({"k": "null"}) == set()
    assert await match({"k": ""}) == set()
    assert await match({"j": "1"}) == {"other_key"}
    assert await match({"a.b": "x"}) == {"dotted"}
    assert await match({"a.b": "x", "k": "x"}) == {"dotted"}
    assert await match({"a.b": "x", "k": "1"}) == set()
    assert await match({"sp ace": "ü ✓"}) == {"spaced"}
    assert await match({"quote'": "q"}) == {"spaced"}
    assert await match({"missing": "1"}) == set()
    # combined with equals and a cursor
    page = await store.list_page(TASK, a, ListQuery(take=100, order="asc", meta={"k": "1"}))
    assert [r["id"] for r in page] == [made["str_one"]]


# -- JSON round trip ----------------------------------------------------------------------------------------


META_SAMPLES: list[Any] = [
    {"emoji": "🚀✨", "cjk": "日本語テキスト", "rtl": "مرحبا", "accents": "ñáéíóú Ü ß"},
    {"nested": {"deep": {"deeper": {"list": [1, 2.5, -3, {"x": None}, [True, False], ""]}}}},
    {"quote": 'she said "hi"', "backslash": "C:\\path\\to", "newline": "a\nb\r\n\tc", "slash": "</script>"},
    {"big": 2**53, "neg": -(2**53), "float": 0.1, "exp": 1.5e-300, "zero": 0, "negzero": -0.0},
    {"empty_obj": {}, "empty_list": [], "empty_str": "", "null": None, "bool": False},
    {"ünïcödé kéy": "v", "key with spaces": 1, "a.b": 2, "$dollar": 3},
    {},
]


async def test_meta_json_round_trip(store: Store) -> None:
    """One test for all samples: each store fixture migrates a fresh database, which is the slow part."""
    a = await account(store)
    for i, meta in enumerate(META_SAMPLES):
        tid = await add_task(store, a, T0 + i, meta=meta)
        got = await store.get(TASK, a, tid)
        assert got is not None and got["meta"] == meta
        (listed,) = await store.list_page(TASK, a, ListQuery(take=1))
        assert TASK.to_wire(listed)["meta"] == meta
        # update round-trips too
        await store.update(TASK, a, tid, {"meta": json_in({"wrapped": meta})})
        again = await store.get(TASK, a, tid)
        assert again is not None and again["meta"] == {"wrapped": meta}
        await store.update(TASK, a, tid, {"meta": None})
        cleared = await store.get(TASK, a, tid)
        assert cleared is not None and cleared["meta"] is None
