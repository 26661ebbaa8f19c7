"""`Store.list_page_json` on SQLite and PostgreSQL: the database writes each row's wire object, and it is
the object `Resource.to_wire` makes from the same row: every field, in order, with the same values (null
text as "", booleans, stored JSON, derived task states), so the JSON list page is unchanged."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from agentcron import ids
from agentcron.store.base import ListQuery, Store
from agentcron.store.resources import BOT, CONVERSATION, EXECUTION, MESSAGE, TASK, json_in
from tests.test_store import T0, account, add_task

pytestmark = pytest.mark.anyio

#: strings JSON writers may escape differently: quotes, backslashes, control characters, non-ASCII, U+2028
AWKWARD = 'q"uo\\te \x00x\x01\x1f\t\n\r\x7f é ☃ 😀 \u2028 </script>'.replace("\x00", "")


async def same_as_to_wire(store: Store, res: Any, account_id: str, query: ListQuery) -> list[dict[str, Any]]:
    rows = await store.list_page(res, account_id, query)
    page = await store.list_page_json(res, account_id, query)
    assert page is not None
    texts, last = page
    assert last == (rows[-1]["id"] if rows else None)
    wanted = [res.to_wire(r) for r in rows]
    got = [msgspec.json.decode(t) for t in texts]
    assert got == wanted
    assert [list(g) for g in got] == [list(w) for w in wanted]  # the same field order
    if store.db.sql.name == "sqlite":  # and the same bytes as the Python path writes
        assert ",".join(texts).encode() == b",".join(msgspec.json.encode(w) for w in wanted)
    return got


async def test_task_rows_as_written_by_the_database(store: Store) -> None:
    a = await account(store)
    meta = {"k": AWKWARD, "n": 1.5, "big": 2**53, "neg": -7, "nested": {"list": [True, False, None, "x"]}, "e": {}}
    await add_task(store, a, T0, name=AWKWARD, meta=meta, schedule="0 9 * * *", timezone="UTC")
    await add_task(store, a, T0 + 1, status="running", outcome="success", next_run_at=T0 + 99, missed_count=3)
    await add_task(store, a, T0 + 2, paused_at=T0 + 5, pause_reason="because", meta=[])
    await add_task(store, a, T0 + 3, outcome="failure", last_run_at=T0 + 4)
    got = await same_as_to_wire(store, TASK, a, ListQuery())
    assert got[2]["status"] == "running" and got[2]["outcome"] == "pending"  # derived in SQL as in Python
    assert got[3]["name"] == AWKWARD and got[3]["meta"] == meta
    # pages, order, filters and an empty page
    first = await same_as_to_wire(store, TASK, a, ListQuery(take=2, order="asc"))
    q = ListQuery(take=2, order="asc")
    q.after = (first[-1]["createdAt"], first[-1]["id"])
    assert [t["id"] for t in await same_as_to_wire(store, TASK, a, q)] == [got[1]["id"], got[0]["id"]]
    q = ListQuery()
    q.present["paused_at"] = True
    assert len(await same_as_to_wire(store, TASK, a, q)) == 1
    assert await same_as_to_wire(store, TASK, await account(store, "other"), ListQuery()) == []


async def test_other_resources(store: Store) -> None:
    a = await account(store)
    for i, flags in enumerate(((True, False), (None, None))):
        bot = {"id": ids.new_id(T0 + i), "account_id": a, "name": f"b{i}", "description": "", "model": "test"}
        bot.update(privacy=flags[0], moderation=flags[1], abilities=json_in([{"type": "time"}]) if i else None)
        await store.insert(BOT, {**bot, "created_at": T0 + i, "updated_at": T0 + i})
    got = await same_as_to_wire(store, BOT, a, ListQuery())
    assert got[1]["privacy"] is True and got[1]["moderation"] is False and got[0]["privacy"] is None
    conv = {"id": ids.new_id(T0), "account_id": a, "name": AWKWARD, "description": "", "created_at": T0}
    await store.insert(CONVERSATION, {**conv, "updated_at": T0})
    await same_as_to_wire(store, CONVERSATION, a, ListQuery())
    assert MESSAGE.json_fields is not None
    assert EXECUTION.json_fields is None  # ISO times: rendered in Python
    assert await store.list_page_json(EXECUTION, a, ListQuery(), parent_id="x") is None
