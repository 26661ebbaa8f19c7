"""Limits on input (issue #15, items 3 and 4), over real HTTP on both backends: every number of every body has
a range and answers 400 naming the field outside it; free JSON (``meta``, an ability's ``config``) nests at
most 32 levels and holds numbers a 64-bit float can; no valid JSON body or query value answers 500; and rows
nested far deeper (stored before the limits, or straight in the database) still list and export whole."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import yaml

from agentcron.store.base import open_store
from tests.conftest import Server

API = "/api/v1"
MAX_MS = 253_402_300_799_999
#: numbers no millisecond or count field takes, as JSON text (``1e300`` a float)
HUGE = {"2**63": "9223372036854775808", "-2**63-1": "-9223372036854775809", "10**30": "1" + "0" * 30, "1e300": "1e300"}


@contextmanager
def deep_recursion() -> Iterator[None]:
    """This process reads (and compares) values nested about 1,000 deep: raise the interpreter's limit."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def nest(levels: int, leaf: Any = 1) -> Any:
    """An object ``levels`` deep: ``nest(1) == {"a": 1}``."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def nest_text(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def assert_400(r: httpx.Response, *needles: str) -> str:
    """A 400 in the error envelope whose message holds each of ``needles``; the message."""
    assert r.status_code == 400, (r.status_code, r.text[:500])
    assert r.headers["content-type"].split(";")[0] == "application/json"
    body = r.json()
    assert set(body) == {"message", "code"} and body["code"] == "BAD_REQUEST", body
    for needle in needles:
        assert needle in body["message"], (needle, body["message"])
    return str(body["message"])


def post_raw(c: httpx.Client, path: str, text: str) -> httpx.Response:
    return c.post(f"{API}/{path}", content=text.encode(), headers={"content-type": "application/json"})


def new_task(c: httpx.Client, **fields: Any) -> str:
    r = c.post(f"{API}/task/create", json={"name": "t", **fields})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def fetch(c: httpx.Client, kind: str, id_: str) -> dict[str, Any]:
    r = c.get(f"{API}/{kind}/{id_}/fetch")
    assert r.status_code == 200, r.text
    return dict(r.json())


# -- numbers of bodies ------------------------------------------------------------------------------------

TASK_NUMBERS = ["expiresAt", "sessionDuration", "maxIterations", "maxTime", "maxCalls"]
#: (endpoint, field, the rest of the body as JSON text members); {task} and {contact} are filled in
NUMBER_FIELDS = [
    *[("task/create", f, '"name": "t"') for f in TASK_NUMBERS],
    *[("task/{task}/update", f, '"name": "t"') for f in TASK_NUMBERS],
    ("contact/create", "verifiedAt", '"name": "c"'),
    ("contact/{contact}/update", "verifiedAt", '"name": "c"'),
    ("task/{task}/pause", "until", '"reason": "r"'),
    ("task/{task}/backfill", "from", '"to": 1000'),
    ("task/{task}/backfill", "to", '"from": 0'),
    ("schedule/preview", "after", '"schedule": "hourly"'),
    ("schedule/preview", "take", '"schedule": "hourly"'),
    ("task/{task}/subscribe", "historyLength", '"historyLength": 0'),
]


@pytest.mark.parametrize(("endpoint", "field", "rest"), NUMBER_FIELDS, ids=[f"{e}:{f}" for e, f, _ in NUMBER_FIELDS])
def test_numbers_out_of_range_answer_400_naming_the_field(
    c: httpx.Client, endpoint: str, field: str, rest: str
) -> None:
    task_id = new_task(c)
    contact_id = c.post(f"{API}/contact/create", json={"name": "c"}).json()["id"]
    path = endpoint.replace("{task}", task_id).replace("{contact}", contact_id)
    rest = "" if field in rest else rest  # (subscribe: the field is the whole body)
    for name, number in HUGE.items():
        text = "{" + (rest + ", " if rest else "") + f'"{field}": {number}' + "}"
        message = assert_400(post_raw(c, path, text), f"`$.{field}`")
        assert message.startswith("Invalid request body: Expected `int"), (name, message)
    # nothing was written
    assert c.get(f"{API}/task/list").json()["items"][0]["id"] == task_id
    assert all(fetch(c, "task", task_id)[f] is None for f in ("expiresAt", "sessionDuration", "maxTime"))


def test_instants_take_every_millisecond_up_to_the_year_9999(c: httpx.Client) -> None:
    task_id = new_task(c, expiresAt=MAX_MS)
    assert fetch(c, "task", task_id)["expiresAt"] == MAX_MS
    assert_400(c.post(f"{API}/task/create", json={"expiresAt": MAX_MS + 1}), "<= 253402300799999", "$.expiresAt")
    assert_400(c.post(f"{API}/task/create", json={"expiresAt": -1}), ">= 0", "$.expiresAt")
    contact_id = c.post(f"{API}/contact/create", json={"verifiedAt": MAX_MS}).json()["id"]
    assert fetch(c, "contact", contact_id)["verifiedAt"] == MAX_MS
    r = c.post(f"{API}/task/{task_id}/pause", json={"until": MAX_MS})
    assert r.status_code == 200, r.text
    assert fetch(c, "task", task_id)["pausedUntil"] == MAX_MS
    r = c.post(f"{API}/schedule/preview", json={"schedule": "hourly", "after": MAX_MS - 3_600_000, "take": 100})
    assert r.status_code == 200, r.text


def test_import_rows_have_the_same_ranges(c: httpx.Client) -> None:
    rows = [
        {"name": "ok"},
        {"name": "a", "expiresAt": 2**63},
        {"name": "b", "createdAt": 10**30},
        {"name": "c", "pausedAt": -(2**63) - 1},
        {"name": "d", "missedCount": 2**31},
        {"name": "e", "lastRunAt": 1e300},
        {"name": "f", "meta": nest(33)},
        {"name": "g", "meta": {"n": 10**400}},
    ]
    for content_type, body in (
        ("application/json", json.dumps(rows)),
        ("application/jsonl", "\n".join(json.dumps({"type": "item", "data": r}) for r in rows)),
    ):
        r = c.post(f"{API}/task/import", content=body.encode(), headers={"content-type": content_type})
        assert r.status_code == 400, r.text
        errors = {e["index"]: e["message"] for e in r.json()["errors"]}
        assert sorted(errors) == [1, 2, 3, 4, 5, 6, 7], errors
        for index, field in enumerate(("expiresAt", "createdAt", "pausedAt", "missedCount", "lastRunAt"), start=1):
            assert f"`$.{field}`" in errors[index], errors[index]
        assert errors[6].startswith("Invalid meta: nested deeper than 32 levels")
        assert errors[7].startswith("Invalid meta.n: an integer of 401 digits is out of range")
    assert c.get(f"{API}/task/list").json()["items"] == []


# -- query values -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["task/list", "task/export", "bot/list", "contact/list", "conversation/list"])
def test_list_take_has_a_range(c: httpx.Client, path: str) -> None:
    for take in [*HUGE.values(), "9" * 4400, "-" + "9" * 4400, str(2**53)]:
        for accept in ("application/json", "application/jsonl", "text/csv"):
            r = c.get(f"{API}/{path}", params={"take": take}, headers={"accept": accept})
            if take == "1e300":
                assert_400(r, "Invalid take: '1e300' is not an integer")
            else:
                assert_400(r, "Invalid take: ", "out of range", "from -9007199254740991 to 9007199254740991")
    for take in (2**53 - 1, -(2**53) + 1):
        r = c.get(f"{API}/{path}", params={"take": take}, headers={"accept": "application/jsonl"})
        assert r.status_code == 200, r.text


def test_other_query_numbers_and_cursors(c: httpx.Client) -> None:
    task_id = new_task(c)
    for take in HUGE.values():
        assert_400(c.get(f"{API}/task/{task_id}/preview", params={"take": take}), "Invalid take: ")
        assert_400(c.get(f"{API}/task/{task_id}/execution/list", params={"take": take}), "Invalid take: ")
    # a cursor is an id: anything else is refused by name, an id-shaped one with any instant positions the page
    for cursor in (*HUGE.values(), "c" + "9" * 40):
        assert_400(c.get(f"{API}/task/list", params={"cursor": cursor}), "Invalid cursor: ")
    for cursor in ("c" + "z" * 24, "c-zzzzzzz" + "0" * 16, "c" + "0" * 24, "c 1_00000" + "0" * 16):
        r = c.get(f"{API}/task/list", params={"cursor": cursor, "order": "asc"})
        assert r.status_code in (200, 400), (cursor, r.text)
        if r.status_code == 400:
            assert_400(r, "Invalid cursor: ")


# -- free JSON --------------------------------------------------------------------------------------------

DEEP = "nested deeper than 32 levels"


@pytest.mark.parametrize("kind", ["task", "bot", "contact", "conversation"])
def test_meta_nests_at_most_32_levels(c: httpx.Client, kind: str) -> None:
    r = c.post(f"{API}/{kind}/create", json={"meta": nest(32)})  # meta itself is the first level
    assert r.status_code == 200, r.text
    item = r.json()["id"]
    assert fetch(c, kind, item)["meta"] == nest(32)
    for levels in (33, 999, 5_000, 100_000):
        message = assert_400(
            post_raw(c, f"{kind}/create", '{"meta":' + nest_text(levels) + "}"), "Invalid meta: ", DEEP
        )
        assert message == (
            "Invalid meta: nested deeper than 32 levels; objects and arrays may nest at most 32 levels deep, "
            "counting meta itself"
        )
        assert_400(post_raw(c, f"{kind}/{item}/update", '{"meta":' + nest_text(levels) + "}"), "Invalid meta: ", DEEP)
    # arrays count as objects do; a merge is measured as the meta it writes
    assert_400(c.post(f"{API}/{kind}/{item}/update", json={"meta": {"a": [[[nest(29)]]]}}), "Invalid meta: ", DEEP)
    r = c.post(f"{API}/{kind}/{item}/update", json={"meta": {"a": [[[nest(28)]]]}})
    assert r.status_code == 200, r.text
    r = c.post(f"{API}/{kind}/{item}/update", json={"meta": {"$update": nest(32)}})
    assert r.status_code == 200, r.text
    assert fetch(c, kind, item)["meta"] == nest(32)
    assert_400(c.post(f"{API}/{kind}/{item}/update", json={"meta": {"$update": nest(33)}}), DEEP)


def test_an_ability_config_nests_at_most_32_levels(c: httpx.Client) -> None:
    def bot(config_text: str) -> httpx.Response:
        return post_raw(
            c, "bot/create", '{"abilities": [{"type": "time"}, {"type": "wait", "config": ' + config_text + "}]}"
        )

    # 32 levels is within the limit: refused only because `seconds` must be a number
    message = assert_400(bot('{"seconds":' + nest_text(31) + "}"), "Invalid abilities[1].config.seconds: must be")
    assert DEEP not in message
    for levels in (33, 1_000, 50_000):
        assert_400(bot('{"seconds":' + nest_text(levels - 1) + "}"), f"Invalid abilities[1].config: {DEEP}")
    r = c.post(f"{API}/bot/create", json={"abilities": [{"type": "wait", "config": {"seconds": 2}}]})
    assert r.status_code == 200, r.text
    bot_id = r.json()["id"]
    assert_400(
        post_raw(c, f"bot/{bot_id}/update", '{"abilities": [{"type": "wait", "config": ' + nest_text(2_000) + "}]}"),
        f"Invalid abilities[0].config: {DEEP}",
    )
    # a number beyond a float's range was a 500 (the config parser converts it)
    for number in ("1" + "0" * 400, "-" + "2" * 309):
        assert_400(
            bot('{"seconds": ' + number + "}"),
            "Invalid abilities[1].config.seconds: an integer of ",
            "digits is out of range; numbers in abilities[1].config must be finite and within ±1.7976931348623157e308",
        )
    assert_400(bot('{"seconds": 1e400}'), "Number out of range")
    assert_400(bot('{"seconds": 1e300}'), "Invalid abilities[1].config.seconds: must be a number from 0 to 86,400")


def test_numbers_in_meta_are_stored_faithfully_or_refused(c: httpx.Client) -> None:
    numbers = {
        "int64max": 2**63 - 1,
        "over64": 2**64,
        "under64": -(2**63) - 1,
        "big": 10**30,
        "float": 1e300,
        "largest": 1.7976931348623157e308,
        "smallest": 5e-324,
        "negative": -2.5e-300,
        "int308": 10**308,
        "list": [2**100, -(10**200), 0.1],
    }
    task_id = new_task(c, meta=numbers)
    stored = fetch(c, "task", task_id)["meta"]
    assert set(stored) == set(numbers)
    for key, value in numbers.items():
        # equal as numbers: PostgreSQL's jsonb keeps a number as a decimal, so 1e300 may come back as 1 and
        # 300 zeros (the same JSON number)
        if isinstance(value, list):
            assert [float(v) for v in stored[key]] == [float(v) for v in value], key
        elif isinstance(value, float):
            assert float(stored[key]) == value, (key, stored[key])
        else:
            assert stored[key] == value, key
    # the same through a list, an export and a meta filter
    listed = c.get(f"{API}/task/list").json()["items"][0]["meta"]
    assert listed == stored
    assert c.get(f"{API}/task/list", params={"meta.big": str(10**30)}).status_code == 200
    r = c.get(f"{API}/task/export", headers={"accept": "text/csv"})
    assert r.status_code == 200 and "9223372036854775807" in r.text
    # beyond a float's range: refused by name, as an integer or as a float
    assert_400(c.post(f"{API}/task/create", json={"meta": {"x": [1, {"y": 10**309}]}}), "Invalid meta.x[1].y: ")
    assert_400(post_raw(c, "task/create", '{"meta": {"x": -1e309}}'), "Number out of range", "$.meta")
    assert_400(post_raw(c, "task/create", '{"meta": {"x": ' + "9" * 5000 + "}}"), "Integer value out of range")


def test_csv_import_meta_within_the_same_limits(c: httpx.Client) -> None:
    deep_flow = "[" * 2_000 + "]" * 2_000
    cells = [
        "k: 1",  # fine
        yaml.safe_dump(nest(33)),  # block YAML, too deep
        deep_flow,  # deep enough for the YAML reader to give up
        "x: .inf",
        "x: " + "1" * 400,
        "when: 2024-02-30",  # a date that does not exist
        "x: " + "1" * 5000,  # more digits than Python reads
    ]
    body = "name,meta\r\n" + "".join(f'n{i},"{cell.replace(chr(34), chr(34) * 2)}"\r\n' for i, cell in enumerate(cells))
    r = c.post(f"{API}/task/import", content=body.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 400, r.text
    errors = {e["index"]: e["message"] for e in r.json()["errors"]}
    assert sorted(errors) == [1, 2, 3, 4, 5, 6], errors
    assert errors[1].startswith(f"Invalid meta: {DEEP}") and errors[2].startswith("Invalid meta: ")
    assert errors[3].startswith("Invalid meta.x: inf is out of range")
    assert errors[4].startswith("Invalid meta.x: an integer of 400 digits is out of range")
    assert errors[5].startswith("Invalid meta: a value YAML cannot read (")
    assert errors[6].startswith("Invalid meta: a value YAML cannot read (")


def test_import_files_nested_too_deep_to_read(c: httpx.Client) -> None:
    deep_row = '{"name": "deep", "meta": ' + nest_text(5_000) + "}"
    for body in ('[{"name": "ok"}, ' + deep_row + "]", '{"items": [{"name": "ok"}, ' + deep_row + "]}"):
        r = c.post(f"{API}/task/import", content=body.encode(), headers={"content-type": "application/json"})
        assert_400(r, "Invalid import: row 1 (0-based) cannot be read: Invalid meta: " + DEEP)
    body = '{"name": "ok"}\n' + deep_row + '\n{"type": "item", "data": ' + deep_row + "}\n"
    r = c.post(f"{API}/task/import", content=body.encode(), headers={"content-type": "application/jsonl"})
    assert r.status_code == 400, r.text
    errors = {e["index"]: e["message"] for e in r.json()["errors"]}
    assert sorted(errors) == [1, 2] and all(m.startswith(f"Invalid meta: {DEEP}") for m in errors.values())
    assert c.get(f"{API}/task/list").json()["items"] == []


# -- rendering rows stored deeper than the limit -----------------------------------------------------------


def set_meta(db_url: str, task_id: str, text: str) -> None:
    """Write a task's meta straight to the database, past every check."""

    async def run() -> None:
        store = await open_store(db_url, run_migrations=False)
        try:
            async with store.db.tx(write=True) as tx:
                await tx.execute("UPDATE tasks SET meta = $1 WHERE id = $2", text, task_id)
        finally:
            await store.close()

    asyncio.run(run())


def deep_rows(server: Server, c: httpx.Client, levels: int) -> list[str]:
    """Three tasks, oldest first; the middle one's meta nests ``levels`` deep, straight in the database."""
    made = [new_task(c, name=f"t{i}", meta={"k": i}) for i in range(3)]
    set_meta(server.db_url, made[1], nest_text(levels))
    return made


@pytest.mark.parametrize("levels", [500, 800])
def test_rows_nested_hundreds_of_levels_list_and_export_whole(server: Server, c: httpx.Client, levels: int) -> None:
    with deep_recursion():
        _list_and_export_whole(server, c, levels)


def _list_and_export_whole(server: Server, c: httpx.Client, levels: int) -> None:
    made = deep_rows(server, c, levels)
    deep = nest(levels)
    assert fetch(c, "task", made[1])["meta"] == deep
    page = c.get(f"{API}/task/list", params={"order": "asc"})
    assert page.status_code == 200, page.text
    assert [i["meta"] for i in page.json()["items"]] == [{"k": 0}, deep, {"k": 2}]
    for path in ("task/list", "task/export"):
        r = c.get(f"{API}/{path}", params={"order": "asc"}, headers={"accept": "application/jsonl"})
        assert r.status_code == 200, r.text
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert [line["type"] for line in lines] == ["item"] * 3
        assert [line["data"]["meta"] for line in lines] == [{"k": 0}, deep, {"k": 2}]
        r = c.get(f"{API}/{path}", params={"order": "asc"}, headers={"accept": "text/event-stream"})
        assert r.status_code == 200, r.text
        events = [json.loads(e[len("data: ") :]) for e in r.text.split("\n\n") if e]
        assert [e["data"]["meta"] for e in events] == [{"k": 0}, deep, {"k": 2}]
    # CSV: export writes meta as YAML; one the YAML writer cannot write (it recurses) as its JSON text
    for path, first in (("task/export", "k: 0"), ("task/list", '{"k":0}')):
        r = c.get(f"{API}/{path}", params={"order": "asc"}, headers={"accept": "text/csv"})
        assert r.status_code == 200, r.text
        table = list(csv.DictReader(io.StringIO(r.text, newline="")))
        assert [row["id"] for row in table] == made
        assert [row["meta"] for row in table] == [first, nest_text(levels), first.replace("0", "2")]
        assert table[2]["name"] == "t2" and table[0]["name"] == "t0"
    # the export imports back but for that row, refused by the limit it breaks
    export = c.get(f"{API}/task/export", params={"order": "asc"}, headers={"accept": "text/csv"}).text
    r = c.post(f"{API}/task/import", content=export.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 400, r.text
    assert [(e["index"], e["message"].startswith("Invalid meta: ")) for e in r.json()["errors"]] == [(1, True)]
    # an update that leaves meta alone still works
    r = c.post(f"{API}/task/{made[1]}/update", json={"name": "renamed"})
    assert r.status_code == 200, r.text


def test_a_page_that_cannot_be_read_ends_a_stream_with_an_error_record(server: Server, c: httpx.Client) -> None:
    """Nested deeper than the store's JSON decoder goes: the stream ends with a record saying so, not a cut
    connection (the status line has been sent)."""
    made = deep_rows(server, c, 5_000)
    for i in range(105):  # the newest page (desc) reads; the next holds the deep row
        new_task(c, name=f"n{i}")
    newest_first = c.get(f"{API}/task/list", params={"take": 100}).json()["items"]
    assert made[1] not in {i["id"] for i in newest_first}
    r = c.get(f"{API}/task/export", params={"order": "desc"}, headers={"accept": "application/jsonl"})
    assert r.status_code == 200
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [line["type"] for line in lines] == ["item"] * 100 + ["error"]
    assert lines[-1]["data"]["code"] == "INTERNAL_SERVER_ERROR"
    assert lines[-1]["data"]["message"].startswith("The list is cut short here")
    r = c.get(f"{API}/task/export", headers={"accept": "text/event-stream"})
    assert r.status_code == 200 and r.text.endswith("\n\n")
    assert json.loads(r.text.split("\n\n")[-2][len("data: ") :])["type"] == "error"
    r = c.get(f"{API}/task/export", headers={"accept": "text/csv"})
    assert r.status_code == 200
    table = list(csv.reader(io.StringIO(r.text, newline="")))
    assert len(table) == 1 + 100 + 1 and len(table[1]) == len(table[0])
    assert table[-1] == ["#error: The list is cut short here: the next page could not be read (the server logged why)"]
    # an import of such a file is refused, not taken as the whole export
    r = c.post(f"{API}/task/import", content=r.text.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 400
    r = c.post(
        f"{API}/task/import",
        content="\n".join(json.dumps(line) for line in lines).encode(),
        headers={"content-type": "application/jsonl"},
    )
    assert_400(r, "is an error event")
    # the server is healthy, and the row can be given a new meta
    r = c.post(f"{API}/task/{made[1]}/update", json={"meta": {"k": 1}})
    assert r.status_code == 200, r.text
    assert fetch(c, "task", made[1])["meta"] == {"k": 1}
