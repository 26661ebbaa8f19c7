"""``POST task/import`` (extension) over real HTTP on both backends: each format, row errors by index with
nothing written, the limits, references of another account, pause fields, and export -> import -> export."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import httpx
import pytest

from agentcron.slots import next_slot
from tests.conftest import Server

API = "/api/v1"
JSON, JSONL, CSV = "application/json", "application/jsonl", "text/csv"
#: what an import does not carry over from the file
FRESH = {"id", "createdAt", "updatedAt"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def post_import(c: httpx.Client, body: bytes | str, content_type: str | None) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return c.post(f"{API}/task/import", content=body.encode() if isinstance(body, str) else body, headers=headers)


def imported(c: httpx.Client, body: bytes | str, content_type: str) -> list[str]:
    """Import; the new ids in file order."""
    r = post_import(c, body, content_type)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"count", "items"} and answer["count"] == len(answer["items"])
    assert all(set(i) == {"id"} for i in answer["items"])
    return [i["id"] for i in answer["items"]]


def refused(c: httpx.Client, body: bytes | str, content_type: str) -> dict[int, str]:
    """Import a file with bad rows: 400 listing them; the messages by index."""
    before = export(c, JSONL)
    r = post_import(c, body, content_type)
    assert r.status_code == 400, r.text
    answer = r.json()
    assert set(answer) == {"message", "code", "errors"} and answer["code"] == "BAD_REQUEST"
    assert answer["message"].startswith(f"Invalid import: {len(answer['errors'])} of ")
    assert answer["message"].endswith("nothing was imported")
    assert export(c, JSONL) == before, "a refused import wrote nothing"
    indexes = [e["index"] for e in answer["errors"]]
    assert indexes == sorted(indexes)
    return {e["index"]: e["message"] for e in answer["errors"]}


def create_message(c: httpx.Client, body: dict[str, Any]) -> str:
    """What task/create says about ``body`` (which it must refuse)."""
    r = c.post(f"{API}/task/create", json=body)
    assert r.status_code in (400, 404), r.text
    return str(r.json()["message"])


def export(c: httpx.Client, accept: str) -> str:
    r = c.get(f"{API}/task/export", headers={"accept": accept})
    assert r.status_code == 200, r.text
    return r.text


def records(text: str, accept: str) -> list[dict[str, Any]]:
    """An export's records in its order (CSV: the cells as text)."""
    if accept == JSON:
        return list(json.loads(text)["items"])
    if accept == JSONL:
        return [json.loads(line)["data"] for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text)))


def fetch(c: httpx.Client, task_id: str) -> dict[str, Any]:
    r = c.get(f"{API}/task/{task_id}/fetch")
    assert r.status_code == 200, r.text
    return dict(r.json())


def create(c: httpx.Client, **fields: Any) -> str:
    r = c.post(f"{API}/task/create", json=fields)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def make(c: httpx.Client, kind: str) -> str:
    r = c.post(f"{API}/{kind}/create", json={"name": kind})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def task_count(c: httpx.Client) -> int:
    return len(export(c, JSONL).splitlines())


# -- each format ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", [False, True])
def test_json_array_or_items(c: httpx.Client, envelope: bool) -> None:
    bot, contact = make(c, "bot"), make(c, "contact")
    rows = [
        {"name": "first", "botId": bot, "contactId": contact, "schedule": " daily ", "timezone": "Europe/Berlin"},
        {"name": "second", "sessionDuration": 60000.0, "maxIterations": 0, "meta": {"a": {"b": [1]}, "_x": 1}},
        {},
    ]
    body = {"items": rows, "cursor": "ignored"} if envelope else rows
    t0 = now_ms()
    ids = imported(c, json.dumps(body), JSON)
    assert len(ids) == 3 and len(set(ids)) == 3
    first, second, third = (fetch(c, i) for i in ids)
    assert (first["name"], first["botId"], first["contactId"]) == ("first", bot, contact)
    assert (first["schedule"], first["timezone"]) == ("daily", "Europe/Berlin")
    assert first["nextRunAt"] in {next_slot("daily", "Europe/Berlin", t) for t in (t0, now_ms())}
    assert (first["status"], first["outcome"], first["pausedAt"]) == ("idle", "pending", None)
    # create's rules: integral floats accepted, maxIterations 0 is null, reserved meta keys dropped
    assert (second["sessionDuration"], second["maxIterations"], second["meta"]) == (60000, None, {"a": {"b": [1]}})
    assert (third["name"], third["description"], third["schedule"], third["nextRunAt"]) == ("", "", None, None)
    assert third["createdAt"] == third["updatedAt"] >= t0


def test_jsonl_item_lines_and_bare_objects(c: httpx.Client) -> None:
    lines = [
        json.dumps({"type": "item", "data": {"name": "item line", "schedule": "hourly"}}),
        "",
        json.dumps({"type": "ping"}),
        json.dumps({"name": "bare object", "meta": {"k": "v"}}) + "\r",
        json.dumps({"type": "nop", "data": {}}),
        json.dumps({"type": "result", "data": {"complete": True}}),
    ]
    ids = imported(c, "\n".join(lines) + "\n", JSONL)
    assert [fetch(c, i)["name"] for i in ids] == ["item line", "bare object"]
    assert fetch(c, ids[0])["nextRunAt"] is not None and fetch(c, ids[1])["meta"] == {"k": "v"}
    assert imported(c, json.dumps({"name": "ndjson"}), "application/x-ndjson; charset=utf-8")


def test_jsonl_error_line_refuses_the_file(c: httpx.Client) -> None:
    body = json.dumps({"name": "a"}) + "\n" + json.dumps({"type": "error", "data": {"code": "X", "message": "m"}})
    r = post_import(c, body, JSONL)
    assert (r.status_code, r.json()["code"]) == (400, "BAD_REQUEST")
    assert "line 2 is an error event" in r.json()["message"]
    assert task_count(c) == 0


def test_csv_empty_cells_are_null_and_numbers_follow_the_column(c: httpx.Client) -> None:
    text = (
        "\ufeffname,description,schedule,sessionDuration,maxTime,meta\r\n"
        "123,,daily,60000,,\r\n"
        '"quoted, ""name""","two\nlines",,,900000,"team: ops\nnested:\n  list: [1, two]"\r\n'
    )
    ids = imported(c, text, CSV)
    first, second = (fetch(c, i) for i in ids)
    assert (first["name"], first["description"], first["schedule"]) == ("123", "", "daily")
    assert (first["sessionDuration"], first["maxTime"], first["meta"]) == (60000, None, None)
    assert (second["name"], second["description"], second["schedule"]) == ('quoted, "name"', "two\nlines", None)
    assert second["maxTime"] == 900000 and second["meta"] == {"team": "ops", "nested": {"list": [1, "two"]}}
    r = post_import(c, "name,colour\r\nx,red\r\n", CSV)
    assert (r.status_code, r.json()["message"]) == (
        400,
        "Invalid CSV header: unknown column 'colour'; the columns are task/export's",
    )


def test_an_empty_file_imports_nothing(c: httpx.Client) -> None:
    """(What exporting an account without tasks gives.)"""
    for content_type in (JSON, JSONL, CSV):
        assert imported(c, "", content_type) == []
    assert imported(c, export(c, JSON), JSON) == []


# -- bad rows ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [JSON, JSONL, CSV])
def test_every_bad_row_is_reported_by_index_and_nothing_is_written(
    server: Server, c: httpx.Client, content_type: str
) -> None:
    with server.client(server.account("other")) as other:
        foreign = make(other, "bot")
    bad = {
        1: {"sessionDuration": "9999999"},
        2: {"schedule": "every tuesday-ish"},
        4: {"botId": foreign},
        5: {"timezone": "Mars/Olympus"},
        6: {"maxIterations": "many"},
    }
    rows: list[dict[str, Any]] = [{"name": f"row {i}", **bad.get(i, {})} for i in range(7)]
    if content_type == CSV:
        columns = ["name", "sessionDuration", "schedule", "botId", "timezone", "maxIterations"]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        writer.writerow(columns)
        writer.writerows([[row.get(k, "") for k in columns] for row in rows])
        body = out.getvalue()
    elif content_type == JSONL:
        body = "\n".join(json.dumps({"type": "item", "data": row}) for row in rows)
    else:
        body = json.dumps(rows)
    errors = refused(c, body, content_type)
    assert set(errors) == set(bad)
    for index, fields in bad.items():  # create's messages for the same rows
        assert errors[index] == create_message(c, {"name": "x", **fields}), index
    assert errors[4] == "Bot not found"


def test_rows_that_do_not_decode(c: httpx.Client) -> None:
    errors = refused(c, '[{"name": 1}, {"nmae": "typo"}, 5, {"name": "fine"}, {"name": "nul \\u0000"}]', JSON)
    assert errors == {
        0: create_message(c, {"name": 1}),
        1: create_message(c, {"nmae": "typo"}),
        2: "Invalid request body: Expected `object`, got `int`",
        4: "Invalid request body: strings must not contain NUL (\\u0000)",
    }
    errors = refused(c, '{"name": "ok"}\n{"name": \n{"type": "item"}\n{"type": "other", "name": "x"}', JSONL)
    assert set(errors) == {1, 2, 3} and errors[1].startswith("Invalid JSON body: ")
    assert errors[2] == 'Invalid item line: no "data"' and "unknown field `type`" in errors[3]
    errors = refused(c, 'name,meta\r\nok,\r\ntoo,many,cells\r\nbad,"a: [1"\r\nlist,"- 1"\r\n', CSV)
    assert errors[1] == "Invalid CSV row: 3 cells where the header has 2"
    assert errors[2].startswith("Invalid meta: not YAML (")
    assert errors[3] == "Invalid request body: Expected `object | null`, got `array` - at `$.meta`"
    r = post_import(c, '{"name": "an object, not a list"}', JSON)
    assert r.status_code == 400 and r.json()["message"].startswith("Invalid import: expected an array of tasks")
    r = post_import(c, "[{", JSON)
    assert r.status_code == 400 and r.json()["message"].startswith("Invalid JSON body: ")


def test_references_must_belong_to_the_importing_account(server: Server, c: httpx.Client) -> None:
    mine_bot, mine_contact = make(c, "bot"), make(c, "contact")
    with server.client(server.account("other")) as other:
        their_bot, their_contact = make(other, "bot"), make(other, "contact")
    rows = [
        {"botId": mine_bot, "contactId": mine_contact},
        {"botId": their_bot},
        {"contactId": their_contact},
        {"botId": "c" + "z" * 24, "contactId": their_contact},
        {"botId": None, "contactId": None},
        {"botId": their_bot, "schedule": "bogus"},  # the bot is checked first, as on create
    ]
    errors = refused(c, json.dumps(rows), JSON)
    assert errors == {1: "Bot not found", 2: "Contact not found", 3: "Bot not found", 5: "Bot not found"}
    ids = imported(c, json.dumps([rows[0], rows[4]]), JSON)
    assert (fetch(c, ids[0])["botId"], fetch(c, ids[1])["botId"]) == (mine_bot, None)


# -- limits -----------------------------------------------------------------------------------------------


def test_limits_rows_and_content_type(c: httpx.Client) -> None:
    for body, content_type in (
        (json.dumps([{}] * 10_001), JSON),
        ("{}\n" * 10_001, JSONL),
        ("name\r\n" + "x\r\n" * 10_001, CSV),
    ):
        r = post_import(c, body, content_type)
        assert (r.status_code, r.json()["code"]) == (413, "CONTENT_TOO_LARGE")
        assert r.json()["message"] == "Too many rows: 10,001 in one import; it takes at most 10,000 tasks"
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        r = post_import(c, "[]", content_type)
        assert (r.status_code, r.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE"), content_type
        assert all(t in r.json()["message"] for t in (JSON, JSONL, CSV))
    assert task_count(c) == 0


def test_ten_thousand_csv_rows_in_one_request(c: httpx.Client) -> None:
    """The row limit, in a body above the 1 MiB the other routes take."""
    description = "Summarise the overnight tickets, group them by product and post the digest. " * 2
    body = "name,description,schedule,timezone,meta\r\n" + "".join(
        f'"task {i}","{description}","0 9 * * 1-5","Europe/Berlin","n: {i}"\r\n' for i in range(10_000)
    )
    assert len(body) > 1_048_576
    ids = imported(c, body, CSV)
    assert len(ids) == 10_000 == task_count(c)
    assert fetch(c, ids[9_999])["meta"] == {"n": 9_999}


def test_import_needs_a_secret(server: Server) -> None:
    with server.client() as anonymous:
        r = post_import(anonymous, "[]", JSON)
        assert r.status_code == 401


# -- pause fields and the round trip -------------------------------------------------------------------


def test_pause_fields_are_restored_unless_the_pause_is_over(c: httpx.Client) -> None:
    now = now_ms()
    rows = [
        {"name": "paused", "schedule": "hourly", "pausedAt": now - 60_000, "pauseReason": "why", "pausedUntil": None},
        {"name": "until later", "schedule": "hourly", "pausedAt": 5, "pausedUntil": now + 3_600_000},
        {"name": "pause over", "schedule": "hourly", "pausedAt": 5, "pauseReason": "old", "pausedUntil": now - 1},
    ]
    paused, later, over = (fetch(c, i) for i in imported(c, json.dumps(rows), JSON))
    assert (paused["pausedAt"], paused["pauseReason"], paused["pausedUntil"]) == (now - 60_000, "why", None)
    assert (later["pausedAt"], later["pauseReason"], later["pausedUntil"]) == (5, None, now + 3_600_000)
    assert paused["nextRunAt"] is None and later["nextRunAt"] is None
    assert (over["pausedAt"], over["pauseReason"], over["pausedUntil"]) == (None, None, None)
    assert over["nextRunAt"] is not None and over["nextRunAt"] > now
    r = c.get(f"{API}/task/list", params={"paused": "true"})
    assert {t["name"] for t in r.json()["items"]} == {"paused", "until later"}
    errors = refused(c, json.dumps([{"pauseReason": "no pausedAt"}, {"pausedUntil": now + 1000}]), JSON)
    assert set(errors) == {0, 1} and errors[0].startswith("Invalid pause: pauseReason and pausedUntil need pausedAt")


def _seed(c: httpx.Client) -> None:
    bot, contact = make(c, "bot"), make(c, "contact")
    create(
        c,
        name='Comma, "quoted" ✓ ünï',
        description='line one\nline two, with "quotes"',
        botId=bot,
        contactId=contact,
        schedule="0 9 * * 1-5",
        timezone="Europe/Berlin",
        sessionDuration=60_000,
        maxIterations=50,
        maxTime=900_000,
        overlapPolicy="queue",
        misfirePolicy="all",
        meta={
            "team": "ops",
            "nested": {"list": [1, "two", None, 2.5, {"deep": True}], "empty": {}},
            "ünï": "cödé ✓",
            "text": 'a, "b"\nc',
            "looks_like": ["007", "yes", "1.0", "2026-01-01", "null", ""],
        },
    )
    create(c)  # every field null or empty
    paused = create(c, name="paused", schedule="hourly", meta={})
    until = now_ms() + 86_400_000
    r = c.post(f"{API}/task/{paused}/pause", json={"reason": 'maintenance, "soon"', "until": until})
    assert r.status_code == 200, r.text
    create(c, name="123", schedule="never", description="  spaced  ")


@pytest.mark.parametrize("fmt", [JSON, JSONL, CSV])
def test_export_import_export_round_trip(c: httpx.Client, fmt: str) -> None:
    _seed(c)
    before = export(c, fmt)
    new = imported(c, before, fmt)
    after = [r for r in records(export(c, fmt), fmt) if r["id"] in set(new)]
    original = records(before, fmt)
    assert [r["id"] for r in after] == new  # the same order as the export imported
    assert [{k: v for k, v in r.items() if k not in FRESH} for r in after] == [
        {k: v for k, v in r.items() if k not in FRESH} for r in original
    ]
    assert len(after) == 4 and any(r["pauseReason"] == 'maintenance, "soon"' for r in after)
