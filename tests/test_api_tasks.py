"""Task configuration API over real HTTP, on both backends (contract sections 2-6, 8).

Every test gets a fresh account on the shared per-backend server, so counts and lists are exact.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from typing import Any

import httpx
import pytest
import yaml

from agentcron.slots import next_slot
from tests.conftest import Server

API = "/api/v1"

#: Every key the contract says a task carries, always present (null when empty).
TASK_KEYS = {
    "id",
    "name",
    "description",
    "meta",
    "blueprintId",
    "contactId",
    "botId",
    "schedule",
    "timezone",
    "sessionDuration",
    "maxIterations",
    "maxTime",
    "status",
    "outcome",
    "lastRunAt",
    "nextRunAt",
    "expiresAt",
    "createdAt",
    "updatedAt",
}
EXPORT_OMITTED = {"status", "outcome", "lastRunAt", "nextRunAt", "expiresAt", "blueprintId"}
#: computed on reads, never exported
COMPUTED = {"tokensUsed", "budgetResetsAt"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def assert_error(r: httpx.Response, status: int, message: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].split(";")[0].strip() == "application/json", r.headers
    body = r.json()
    assert set(body) == {"message", "code"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["code"], str) and body["code"]
    if message is not None:
        assert body["message"] == message, body
    return dict(body)


def create(c: httpx.Client, **fields: Any) -> str:
    r = c.post(f"{API}/task/create", json=fields)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) <= {"id", "warnings"} and isinstance(body["id"], str)
    # warnings (extension): only when DST moves or doubles a run in the next year, as sentences
    assert "warnings" not in body or (body["warnings"] and all(isinstance(w, str) for w in body["warnings"]))
    return str(body["id"])


def fetch(c: httpx.Client, task_id: str) -> dict[str, Any]:
    r = c.get(f"{API}/task/{task_id}/fetch")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == "application/json"
    return dict(r.json())


def list_ids(c: httpx.Client, path: str = f"{API}/task/list", **params: Any) -> list[str]:
    r = c.get(path, params=params)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def bot(c: httpx.Client) -> str:
    r = c.post(f"{API}/bot/create", json={"name": "b"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def contact(c: httpx.Client) -> str:
    r = c.post(f"{API}/contact/create", json={"name": "c"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def count(c: httpx.Client) -> int:
    return len(list_ids(c, take=100))


# -- create / fetch -----------------------------------------------------------------------------------


def test_create_empty_body_gives_defaults(c: httpx.Client) -> None:
    before = now_ms()
    task_id = create(c)
    after = now_ms()
    assert len(task_id) == 25 and task_id.startswith("c")
    t = fetch(c, task_id)
    assert TASK_KEYS <= set(t), TASK_KEYS - set(t)
    assert "maxCalls" not in t
    assert t["id"] == task_id
    assert t["name"] == "" and t["description"] == ""
    assert t["status"] == "idle" and t["outcome"] == "pending"
    for key in TASK_KEYS - {"id", "name", "description", "status", "outcome", "createdAt", "updatedAt"}:
        assert t[key] is None, key
    assert before <= t["createdAt"] <= after
    assert t["updatedAt"] == t["createdAt"]


def test_truly_empty_body_is_an_empty_object(c: httpx.Client) -> None:
    r = c.post(f"{API}/task/create", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert fetch(c, r.json()["id"])["name"] == ""


def test_create_every_field_round_trips(c: httpx.Client) -> None:
    b, ct = bot(c), contact(c)
    expires = now_ms() + 86_400_000
    body = {
        "name": "Daily digest",
        "description": "sends a digest",
        "blueprintId": "bp-1",
        "botId": b,
        "contactId": ct,
        "schedule": "daily",
        "timezone": "America/New_York",
        "expiresAt": expires,
        "sessionDuration": 60_000,
        "maxIterations": 10,
        "maxTime": 300_000,
        "maxCalls": 50,
        "meta": {"a": "b", "n": 1, "nested": {"x": [1, 2, {"y": None}]}, "flag": True},
    }
    before = now_ms()
    task_id = create(c, **body)
    after = now_ms()
    t = fetch(c, task_id)
    for key, value in body.items():
        if key != "maxCalls":
            assert t[key] == value, key
    assert "maxCalls" not in t
    assert t["status"] == "idle" and t["outcome"] == "pending" and t["lastRunAt"] is None
    lo, hi = next_slot("daily", "America/New_York", before), next_slot("daily", "America/New_York", after)
    assert lo is not None and hi is not None
    assert lo <= t["nextRunAt"] <= hi
    # list and fetch agree on the shape
    (listed,) = c.get(f"{API}/task/list").json()["items"]
    assert listed == t


def test_null_name_and_description_become_empty_strings(c: httpx.Client) -> None:
    t = fetch(c, create(c, name=None, description=None, schedule=None, timezone=None, meta=None))
    assert t["name"] == "" and t["description"] == ""
    assert t["schedule"] is None and t["timezone"] is None and t["meta"] is None
    task_id = create(c, name="x", description="y")
    assert c.post(f"{API}/task/{task_id}/update", json={"name": None, "description": None}).status_code == 200
    t = fetch(c, task_id)
    assert t["name"] == "" and t["description"] == ""


def test_blank_schedule_and_timezone_are_stored_as_null(c: httpx.Client) -> None:
    t = fetch(c, create(c, schedule="", timezone=""))
    assert t["schedule"] is None and t["timezone"] is None and t["nextRunAt"] is None


@pytest.mark.parametrize(
    ("field", "value", "ok", "stored"),
    [
        ("sessionDuration", 0, True, 0),
        ("sessionDuration", 3_600_000, True, 3_600_000),
        ("sessionDuration", None, True, None),
        ("sessionDuration", 3_600_001, False, None),
        ("sessionDuration", 7_200_000, False, None),  # the manual's own example is rejected (contract 10.5)
        ("sessionDuration", -1, False, None),
        ("sessionDuration", 1.5, False, None),
        ("sessionDuration", "1000", True, 1000),  # numeric strings convert, as with the reference's Joi
        ("maxIterations", 10.0, True, 10),  # integral floats too: PyPI chatbotkit sends numbers back as floats
        ("maxIterations", 0, True, None),  # 0 means null
        ("maxIterations", 1, True, 1),
        ("maxIterations", 100_000, True, 100_000),
        ("maxIterations", 100_001, False, None),
        ("maxIterations", -1, False, None),
        ("maxIterations", 2.5, False, None),
        ("maxTime", 0, True, 0),
        ("maxTime", 86_400_000, True, 86_400_000),
        ("maxTime", 86_400_001, False, None),
        ("maxTime", -5, False, None),
        ("maxCalls", 0, True, None),
        ("maxCalls", 100_000, True, None),
        ("maxCalls", 100_001, False, None),
        ("maxCalls", -1, False, None),
        ("expiresAt", -1, False, None),
        ("expiresAt", True, False, None),
    ],
)
def test_limits(c: httpx.Client, field: str, value: Any, ok: bool, stored: Any) -> None:
    r = c.post(f"{API}/task/create", json={field: value})
    if not ok:
        assert_error(r, 400)
        assert count(c) == 0, "a rejected create stored a task"
        # the same value is refused by update, which leaves the task as it was
        task_id = create(c, name="keep")
        assert_error(c.post(f"{API}/task/{task_id}/update", json={field: value, "name": "changed"}), 400)
        assert fetch(c, task_id)["name"] == "keep"
        return
    assert r.status_code == 200, r.text
    t = fetch(c, r.json()["id"])
    if field == "maxCalls":
        assert "maxCalls" not in t
    else:
        assert t[field] == stored
    # update applies the same rule
    other = create(c, **({field: 5} if field != "maxCalls" else {}))
    assert c.post(f"{API}/task/{other}/update", json={field: value}).status_code == 200
    if field != "maxCalls":
        assert fetch(c, other)[field] == stored


@pytest.mark.parametrize(
    "schedule",
    ["never", "quarterhourly", "halfhourly", "hourly", "twicedaily", "daily", "twiceweekly", "weekly"]
    + ["twicemonthly", "monthly", "0 9 * * 1-5", "30 14 * * 1,3,5", "09:30", "2099-12-25T10:00:00.000Z"]
    + ["Wed, 25 Dec 2099 10:00:00 GMT", "2099-12-25"],
)
def test_valid_schedules_get_next_run_at_from_next_slot(c: httpx.Client, schedule: str) -> None:
    before = now_ms()
    t = fetch(c, create(c, schedule=schedule, timezone="Europe/Berlin"))
    after = now_ms()
    assert t["schedule"] == schedule
    lo, hi = next_slot(schedule, "Europe/Berlin", before), next_slot(schedule, "Europe/Berlin", after)
    if lo is None:
        assert t["nextRunAt"] is None and hi is None
    else:
        assert hi is not None and lo <= t["nextRunAt"] <= hi and t["nextRunAt"] > before


@pytest.mark.parametrize(
    ("body", "prefix"),
    [
        ({"schedule": "every tuesday-ish"}, "Invalid schedule"),
        ({"schedule": "61 * * * *"}, "Invalid schedule"),
        ({"schedule": "Daily"}, "Invalid schedule"),  # named intervals are case-sensitive
        ({"timezone": "Mars/Olympus_Mons"}, "Invalid timezone"),
        ({"schedule": "daily", "timezone": "nope"}, "Invalid timezone"),
    ],
)
def test_invalid_schedule_or_timezone(c: httpx.Client, body: dict[str, Any], prefix: str) -> None:
    err = assert_error(c.post(f"{API}/task/create", json=body), 400)
    assert err["message"].startswith(prefix) and err["code"] == "BAD_REQUEST"
    assert count(c) == 0
    task_id = create(c, schedule="hourly")
    assert_error(c.post(f"{API}/task/{task_id}/update", json=body), 400)
    assert fetch(c, task_id)["schedule"] == "hourly"


def test_past_one_shot_date_has_no_next_run(c: httpx.Client) -> None:
    t = fetch(c, create(c, schedule="2001-01-01T00:00:00Z"))
    assert t["schedule"] == "2001-01-01T00:00:00Z" and t["nextRunAt"] is None


# -- update -------------------------------------------------------------------------------------------


def test_update_is_partial(c: httpx.Client) -> None:
    b, ct = bot(c), contact(c)
    task_id = create(
        c,
        name="n",
        description="d",
        botId=b,
        contactId=ct,
        schedule="hourly",
        sessionDuration=1000,
        maxIterations=20,
        maxTime=2000,
        meta={"k": "v"},
    )
    old = fetch(c, task_id)
    r = c.post(f"{API}/task/{task_id}/update", json={"description": "new"})
    assert r.status_code == 200 and r.json() == {"id": task_id}
    new = fetch(c, task_id)
    assert new["description"] == "new"
    assert new["updatedAt"] >= old["updatedAt"]
    for key in TASK_KEYS - {"description", "updatedAt"}:
        assert new[key] == old[key], key
    # an empty update body changes nothing but updatedAt
    assert c.post(f"{API}/task/{task_id}/update", json={}).status_code == 200
    again = fetch(c, task_id)
    assert {k: v for k, v in again.items() if k != "updatedAt"} == {k: v for k, v in new.items() if k != "updatedAt"}
    # unlinking bot and contact with explicit nulls
    assert c.post(f"{API}/task/{task_id}/update", json={"botId": None, "contactId": None}).status_code == 200
    t = fetch(c, task_id)
    assert t["botId"] is None and t["contactId"] is None and t["name"] == "n"


def test_meta_replace_merge_and_reserved_keys(c: httpx.Client) -> None:
    task_id = create(c, meta={"a": 1, "b": {"c": 2}, "_hidden": 1, "$x": 2, "-y": 3, "ok_1": 4})
    assert fetch(c, task_id)["meta"] == {"a": 1, "b": {"c": 2}, "ok_1": 4}
    # plain meta replaces
    c.post(f"{API}/task/{task_id}/update", json={"meta": {"z": "new", "_drop": True}})
    assert fetch(c, task_id)["meta"] == {"z": "new"}
    # $update merges (top level), overriding existing keys and dropping reserved ones
    c.post(f"{API}/task/{task_id}/update", json={"meta": {"$update": {"a": 2, "z": "over", "_p": 1}}})
    assert fetch(c, task_id)["meta"] == {"z": "over", "a": 2}
    # merge into null meta
    other = create(c)
    c.post(f"{API}/task/{other}/update", json={"meta": {"$update": {"q": [1, "two"]}}})
    assert fetch(c, other)["meta"] == {"q": [1, "two"]}
    # null clears
    c.post(f"{API}/task/{task_id}/update", json={"meta": None})
    assert fetch(c, task_id)["meta"] is None
    # an object with "$update" next to other keys is a plain replacement (minus the reserved key)
    c.post(f"{API}/task/{task_id}/update", json={"meta": {"$update": {"a": 1}, "b": 2}})
    assert fetch(c, task_id)["meta"] == {"b": 2}


def test_meta_must_be_an_object(c: httpx.Client) -> None:
    for bad in ([1, 2], "str", 5, True):
        assert_error(c.post(f"{API}/task/create", json={"meta": bad}), 400)
    assert count(c) == 0


def test_schedule_and_timezone_changes_recompute_next_run_at(c: httpx.Client) -> None:
    task_id = create(c, schedule="09:00")
    t0 = fetch(c, task_id)
    assert t0["nextRunAt"] is not None

    def check(schedule: str | None, tz: str | None, body: dict[str, Any]) -> dict[str, Any]:
        before = now_ms()
        assert c.post(f"{API}/task/{task_id}/update", json=body).status_code == 200
        after = now_ms()
        t = fetch(c, task_id)
        lo, hi = next_slot(schedule, tz, before), next_slot(schedule, tz, after)
        if lo is None:
            assert t["nextRunAt"] is None and hi is None
        else:
            assert hi is not None and lo <= t["nextRunAt"] <= hi
        return t

    t1 = check("09:00", "Asia/Tokyo", {"timezone": "Asia/Tokyo"})
    assert t1["nextRunAt"] != t0["nextRunAt"]  # 09:00 Tokyo is never 09:00 UTC
    t2 = check("*/5 * * * *", "Asia/Tokyo", {"schedule": "*/5 * * * *"})
    assert t2["nextRunAt"] % 300_000 == 0
    check("never", "Asia/Tokyo", {"schedule": "never"})
    check("weekly", None, {"schedule": "weekly", "timezone": None})
    check(None, None, {"schedule": None})
    # an unrelated update leaves nextRunAt alone
    check("2099-01-01T00:00:00Z", None, {"schedule": "2099-01-01T00:00:00Z"})
    pinned = fetch(c, task_id)["nextRunAt"]
    assert pinned == 4070908800000
    c.post(f"{API}/task/{task_id}/update", json={"name": "rename"})
    assert fetch(c, task_id)["nextRunAt"] == pinned


# -- delete -------------------------------------------------------------------------------------------


def test_delete_then_everything_404s(c: httpx.Client) -> None:
    keep = create(c, name="keep")
    task_id = create(c, name="gone")
    r = c.post(f"{API}/task/{task_id}/delete", json={})
    assert r.status_code == 200 and r.json() == {"id": task_id}
    assert_error(c.get(f"{API}/task/{task_id}/fetch"), 404)
    assert_error(c.post(f"{API}/task/{task_id}/update", json={"name": "x"}), 404)
    assert_error(c.post(f"{API}/task/{task_id}/delete", json={}), 404)
    assert list_ids(c) == [keep]
    assert task_id not in c.get(f"{API}/task/export", headers={"accept": "application/jsonl"}).text
    # the delete body may be empty, as sent by curl users
    r = c.post(f"{API}/task/{keep}/delete")
    assert r.status_code == 200 and r.json() == {"id": keep}
    assert list_ids(c) == []


# -- references -----------------------------------------------------------------------------------------


def test_bot_and_contact_must_belong_to_the_account(server: Server, c: httpx.Client) -> None:
    with server.client(server.account("other")) as other:
        foreign_bot, foreign_contact = bot(other), contact(other)
    missing = "c" + "0" * 24
    for bot_id in (foreign_bot, missing, "not-an-id"):
        assert_error(c.post(f"{API}/task/create", json={"name": "x", "botId": bot_id}), 404, "Bot not found")
    for contact_id in (foreign_contact, missing):
        r = c.post(f"{API}/task/create", json={"contactId": contact_id})
        assert_error(r, 404, "Contact not found")
    assert count(c) == 0, "a refused create stored a task"
    own_bot, own_contact = bot(c), contact(c)
    task_id = create(c, botId=own_bot, contactId=own_contact)
    assert_error(c.post(f"{API}/task/{task_id}/update", json={"botId": foreign_bot}), 404, "Bot not found")
    r = c.post(f"{API}/task/{task_id}/update", json={"contactId": foreign_contact, "name": "x"})
    assert_error(r, 404, "Contact not found")
    t = fetch(c, task_id)
    assert t["botId"] == own_bot and t["contactId"] == own_contact and t["name"] == ""


def test_deleting_a_bot_or_contact_unlinks_its_tasks(c: httpx.Client) -> None:
    b, ct = bot(c), contact(c)
    task_id = create(c, botId=b, contactId=ct)
    assert c.post(f"{API}/bot/{b}/delete", json={}).status_code == 200
    assert c.post(f"{API}/contact/{ct}/delete", json={}).status_code == 200
    t = fetch(c, task_id)
    assert t["botId"] is None and t["contactId"] is None


# -- filters --------------------------------------------------------------------------------------------


def test_filters(c: httpx.Client) -> None:
    b1, b2 = bot(c), bot(c)
    c1, c2, c3 = contact(c), contact(c), contact(c)
    t1 = create(c, botId=b1, contactId=c1, blueprintId="bp", meta={"team": "x", "flag": True, "n": 1})
    t2 = create(c, botId=b2, contactId=c2, meta={"team": "y", "flag": False, "s": "true"})
    t3 = create(c, contactId=c3, meta={"team": "x", "n": "1"})
    t4 = create(c)

    def ids(**params: Any) -> set[str]:
        got = list_ids(c, **params)
        assert len(got) == len(set(got))
        return set(got)

    assert ids() == {t1, t2, t3, t4}
    assert ids(botId=b1) == {t1}
    assert ids(botId=f"{b1},{b2}") == {t1, t2}
    assert ids(contactId=c3) == {t3}
    assert ids(contactId=f"{c1},{c3}") == {t1, t3}
    assert ids(contactId=f"{c1}, {c2} ,") == {t1, t2}
    assert ids(botId=b1, contactId=c2) == set()
    assert ids(blueprintId="bp") == {t1}
    assert ids(status="idle") == {t1, t2, t3, t4}
    assert ids(status="running") == set()
    assert ids(status="idle,canceled") == {t1, t2, t3, t4}
    assert ids(botId="") == {t1, t2, t3, t4}  # a blank filter is no filter
    assert ids(**{"meta.team": "x"}) == {t1, t3}
    assert ids(**{"meta[team]": "y"}) == {t2}
    assert ids(**{"meta.flag": "true"}) == {t1}
    assert ids(**{"meta[flag]": "false"}) == {t2}
    assert ids(**{"meta.s": "true"}) == set()  # "true" is a boolean, never the string "true"
    assert ids(**{"meta.n": "1"}) == {t3}  # the string "1", not the number 1
    assert ids(**{"meta.team": "x", "meta.flag": "true"}) == {t1}
    assert ids(**{"meta.team": "x", "botId": b2}) == set()
    assert ids(**{"meta.missing": "x"}) == set()
    # the same filters work on export and on every stream format
    r = c.get(f"{API}/task/export", params={"meta.team": "x"}, headers={"accept": "application/jsonl"})
    assert {json.loads(line)["data"]["id"] for line in r.text.splitlines()} == {t1, t3}
    r = c.get(f"{API}/task/list", params={"botId": b2}, headers={"accept": "text/csv"})
    assert [row["id"] for row in csv.DictReader(io.StringIO(r.text))] == [t2]
    # contact/{id}/task/list
    assert set(list_ids(c, f"{API}/contact/{c1}/task/list")) == {t1}
    assert set(list_ids(c, f"{API}/contact/{c2}/task/list", **{"meta.team": "x"})) == set()
    assert_error(c.get(f"{API}/contact/{'c' + '1' * 24}/task/list"), 404)


# -- pagination -----------------------------------------------------------------------------------------


def make_many(c: httpx.Client, n: int) -> list[str]:
    """n tasks, returned oldest first."""
    return [create(c, name=f"t{i:03d}") for i in range(n)]


def test_pagination_walk_250_in_both_orders(c: httpx.Client) -> None:
    made = make_many(c, 250)
    expected = {"asc": made, "desc": made[::-1]}
    for order in ("asc", "desc"):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"take": 100, "order": order}
            if cursor is not None:
                params["cursor"] = cursor
            body = c.get(f"{API}/task/list", params=params).json()
            pages += 1
            if not body["items"]:
                assert isinstance(body.get("cursor", ""), str)
                break
            assert body["cursor"] == body["items"][-1]["id"]
            seen += [i["id"] for i in body["items"]]
            cursor = body["cursor"]
            assert pages < 10
        assert seen == expected[order], f"gaps or duplicates in {order} order"
        assert pages == 4  # 100, 100, 50, then an empty page
        # created_at order agrees with id order as returned
        created = [i["createdAt"] for i in c.get(f"{API}/task/list", params={"order": order}).json()["items"]]
        assert created == sorted(created, reverse=order == "desc")
    # the default order is desc, and an invalid order falls back to desc
    assert list_ids(c) == made[::-1][:100]
    assert list_ids(c, order="sideways") == made[::-1][:100]
    assert list_ids(c, order="ASC") == made[::-1][:100]
    # streams page on the server: all 250 without take, exactly `take` with it
    for order in ("asc", "desc"):
        r = c.get(f"{API}/task/list", params={"order": order}, headers={"accept": "application/jsonl"})
        assert [json.loads(line)["data"]["id"] for line in r.text.splitlines()] == expected[order]
        r = c.get(f"{API}/task/export", params={"order": order}, headers={"accept": "text/csv"})
        assert [row["id"] for row in csv.DictReader(io.StringIO(r.text))] == expected[order]
    r = c.get(f"{API}/task/list", params={"take": 150}, headers={"accept": "application/jsonl"})
    assert [json.loads(line)["data"]["id"] for line in r.text.splitlines()] == expected["desc"][:150]
    r = c.get(
        f"{API}/task/export",
        params={"take": 120, "order": "asc", "cursor": made[9]},
        headers={"accept": "application/jsonl"},
    )
    assert [json.loads(line)["data"]["id"] for line in r.text.splitlines()] == made[10:130]


def test_cursor_is_exclusive_and_take_is_clamped(c: httpx.Client) -> None:
    made = make_many(c, 5)
    assert list_ids(c, order="asc", cursor=made[1]) == made[2:]
    assert list_ids(c, order="desc", cursor=made[3]) == made[:3][::-1]
    assert list_ids(c, order="asc", cursor=made[-1]) == []
    assert list_ids(c, cursor="") == made[::-1]  # a blank cursor is ignored
    assert list_ids(c, take=2, order="asc") == made[:2]
    assert list_ids(c, take=-7) == made[-1:]
    assert list_ids(c, take=1000) == made[::-1]
    # take=0 reads as "not given" (the reference computes take||100)
    assert list_ids(c, take=0) == made[::-1]
    body = c.get(f"{API}/task/list", params={"order": "asc", "cursor": made[-1]}).json()
    assert body["items"] == [] and isinstance(body["cursor"], str)
    # a cursor that is a deleted task's id still positions the page
    c.post(f"{API}/task/{made[2]}/delete", json={})
    assert list_ids(c, order="asc", cursor=made[2]) == made[3:]


def test_take_clamps_at_100(c: httpx.Client) -> None:
    make_many(c, 105)
    assert len(list_ids(c, take=101)) == 100
    assert len(list_ids(c)) == 100
    r = c.get(f"{API}/task/list", params={"take": 103}, headers={"accept": "application/jsonl"})
    assert len(r.text.splitlines()) == 103


# -- Accept negotiation and formats ------------------------------------------------------------------------


def test_accept_negotiation(c: httpx.Client) -> None:
    task_id = create(c, name="a")
    for accept in ("*/*", "", "application/json", "application/json; charset=utf-8", "*/*, text/html"):
        r = c.get(f"{API}/task/list", headers={"accept": accept})
        assert r.status_code == 200, accept
        assert r.headers["content-type"].split(";")[0] == "application/json"
        assert [i["id"] for i in r.json()["items"]] == [task_id]
    r = c.get(f"{API}/task/export", headers={"accept": "*/*"})
    assert r.headers["content-type"].split(";")[0] == "application/json"
    assert [i["id"] for i in r.json()["items"]] == [task_id]
    # only the first Accept value counts
    r = c.get(f"{API}/task/list", headers={"accept": "text/csv, application/jsonl"})
    assert r.status_code == 200 and r.headers["content-type"].split(";")[0] == "text/csv"
    r = c.get(f"{API}/task/list", headers={"accept": "Application/JSONL;q=0.9"})
    assert r.status_code == 200 and r.headers["content-type"].split(";")[0] == "application/jsonl"
    for path in ("task/list", "task/export", f"contact/{contact(c)}/task/list", "bot/list"):
        for accept in ("text/html", "application/xml", "text/html, application/json"):
            assert_error(c.get(f"{API}/{path}", headers={"accept": accept}), 400)


def test_jsonl_lines(c: httpx.Client) -> None:
    made = make_many(c, 3)
    r = c.get(f"{API}/task/list", headers={"accept": "application/jsonl"})
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == "application/jsonl"
    assert r.text.endswith("\n")
    lines = r.text.split("\n")[:-1]
    assert all(line.strip() for line in lines), "blank lines break the SDK's JSONL reader"
    events = [json.loads(line) for line in lines]
    assert all(set(e) == {"type", "data"} and e["type"] == "item" for e in events)
    assert [e["data"]["id"] for e in events] == made[::-1]
    assert events[0]["data"] == fetch(c, made[-1])
    # no items: an empty body, still 200
    r = c.get(f"{API}/task/list", params={"botId": "none"}, headers={"accept": "application/jsonl"})
    assert r.status_code == 200 and r.text == ""


def test_csv_list(c: httpx.Client) -> None:
    first = create(c, name='He said "hi", then left', description="line1\nline2", meta={"k": "v"})
    second = create(c, name="plain", sessionDuration=5)
    r = c.get(f"{API}/task/list", params={"order": "asc"}, headers={"accept": "text/csv"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    json_items = c.get(f"{API}/task/list", params={"order": "asc"}).json()["items"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == list(json_items[0]), "the header row comes from the first item's keys"
    assert [row[0] for row in rows[1:]] == [first, second]
    # every cell is quoted, inner quotes doubled; null cells are empty (unquoted)
    header_line, first_line = r.text.split("\r\n", 2)[:2]
    assert header_line == ",".join(f'"{k}"' for k in json_items[0])
    assert '"He said ""hi"", then left"' in first_line
    for row, item in zip(rows[1:], json_items, strict=True):
        for key, cell in zip(rows[0], row, strict=True):
            value = item[key]
            if value is None:
                assert cell == "", key
            elif isinstance(value, dict):
                assert json.loads(cell) == value  # list CSV: JSON; only export uses YAML
            else:
                assert cell == str(value), key
    assert ",," in first_line  # some null cell in the first row renders as nothing
    # an empty result is an empty body (no header row: there is no first item)
    r = c.get(f"{API}/task/list", params={"status": "canceled"}, headers={"accept": "text/csv"})
    assert r.status_code == 200 and r.text == ""


def test_export_formats(c: httpx.Client) -> None:
    meta = {"team": "x", "nested": {"list": [1, "two"], "flag": True}, "ünï": "cödé ✓"}
    task_id = create(c, name="exp", schedule="daily", timezone="Europe/Paris", blueprintId="bp", meta=meta)
    full = fetch(c, task_id)
    run_state = EXPORT_OMITTED | COMPUTED | {"missedCount", "consecutiveFailures"}
    expected = {k: v for k, v in full.items() if k not in run_state}
    r = c.get(f"{API}/task/export")
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert not (EXPORT_OMITTED | COMPUTED) & set(item)
    assert {"schedule", "timezone", "meta", "name", "botId", "contactId"} <= set(item)
    assert item == expected
    r = c.get(f"{API}/task/export", headers={"accept": "application/jsonl"})
    (line,) = r.text.splitlines()
    assert json.loads(line) == {"type": "item", "data": expected}
    r = c.get(f"{API}/task/export", headers={"accept": "text/csv"})
    assert r.headers["content-type"].split(";")[0] == "text/csv"
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert not EXPORT_OMITTED & set(row)
    assert yaml.safe_load(row["meta"]) == meta, row["meta"]
    assert not row["meta"].lstrip().startswith("{"), "export CSV renders meta as YAML, not JSON"
    assert row["schedule"] == "daily" and row["timezone"] == "Europe/Paris"


# -- errors ----------------------------------------------------------------------------------------------


def test_error_envelopes(server: Server, c: httpx.Client) -> None:
    task_id = create(c)
    missing = "c" + "z" * 24
    post = f"{API}/task/create"
    assert_error(c.post(post, content=b"{bad json"), 400)
    assert_error(c.post(post, content=b"[1,2]"), 400)
    assert_error(c.post(post, content=b'"str"'), 400)
    assert_error(c.post(post, content=b"null"), 400)
    assert_error(c.post(post, content=b"\xff\xfe"), 400)
    assert_error(c.post(post, json={"name": 5}), 400)
    assert_error(c.post(post, json={"botId": 5}), 400)
    assert_error(c.post(post, json={"unknownField": 1}), 400)
    assert_error(c.post(post, json={"maxcalls": 1}), 400)  # names are case-sensitive
    assert_error(c.post(f"{API}/task/{task_id}/update", json={"status": "running"}), 400)  # read-only
    assert_error(c.post(f"{API}/task/{task_id}/update", json={"id": "x"}), 400)
    big = json.dumps({"name": "x" * (1024 * 1024 + 1)}).encode()
    err = assert_error(c.post(post, content=big, headers={"content-type": "application/json"}), 413)
    assert err["code"] == "CONTENT_TOO_LARGE"
    assert count(c) == 1
    for path in (f"task/{missing}/fetch", f"task/{task_id}x/fetch", "nope", "task/nope/nope", "v2/task/list"):
        assert_error(c.get(f"{API}/{path}"), 404, "Not found")
    assert_error(c.post(f"{API}/task/{missing}/update", json={}), 404, "Not found")
    assert_error(c.post(f"{API}/task/{missing}/delete", json={}), 404, "Not found")
    assert_error(c.get("/api/v1"), 404)
    for method, path in (
        ("GET", "task/create"),
        ("DELETE", f"task/{task_id}/fetch"),
        ("POST", "task/list"),
        ("POST", f"task/{task_id}/fetch"),
        ("GET", f"task/{task_id}/update"),
        ("PUT", f"task/{task_id}/delete"),
    ):
        err = assert_error(c.request(method, f"{API}/{path}"), 405)
        assert err["code"] == "METHOD_NOT_ALLOWED"
    with server.client() as anon:
        err = assert_error(anon.get(f"{API}/task/list"), 401)
        assert err["code"] == "NOT_AUTHENTICATED"
        assert_error(anon.post(post, json={}), 401)
        assert_error(anon.get(f"{API}/task/{task_id}/fetch"), 401)
        for header in ("Bearer", "Basic abc", "sk-abc", "Bearer sk-wrong", "Token nope"):
            assert_error(anon.get(f"{API}/task/list", headers={"authorization": header}), 401)
    with server.client("sk-" + "x" * 43) as bad:
        assert_error(bad.get(f"{API}/task/list"), 401)
        assert_error(bad.post(post, json={}), 401)
    assert_error(c.get(f"{API}/task/list", headers={"accept": "text/html"}), 400)


def test_token_scheme_is_accepted(server: Server) -> None:
    secret = server.account()
    with server.client() as anon:
        r = anon.get(f"{API}/task/list", headers={"authorization": f"Token {secret}"})
        assert r.status_code == 200 and r.json()["items"] == []


# -- fuzz: nothing reaches a 500 -------------------------------------------------------------------------


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63 - 1, -(2**63), 10**30, 3_600_001, 100_000])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, 1e-300])
    if kind == 4:
        return rng.choice(["", "x", "ü✓", "\u0000", "'; DROP TABLE tasks;--", "daily", "a" * 2000, "09:99"])
    if kind == 5:
        return rng.choice(["c" + "0" * 24, "Europe/Berlin", "0 0 31 2 *", "2099-02-30", "@hourly", "$update"])
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = list(FIELDS) + ["_x", "$update", "", "messages", "type", "text"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


FIELDS = [
    "name",
    "description",
    "botId",
    "contactId",
    "taskId",
    "blueprintId",
    "schedule",
    "timezone",
    "expiresAt",
    "sessionDuration",
    "maxIterations",
    "maxTime",
    "maxCalls",
    "meta",
    "overlapPolicy",
    "misfirePolicy",
    "abilities",
    "fingerprint",
    "verifiedAt",
    "privacy",
    "visibility",
    "historyLength",
]

GARBAGE = [b"", b"{", b"}", b"nul", b"\x00\x01", b"[[[[[[[[[[", b'{"a":', b"1e999", b'{"name":"\\ud800"}']


def test_fuzz_no_500s(server: Server, c: httpx.Client) -> None:
    rng = random.Random(20261126)
    task_id, bot_id, contact_id = create(c), bot(c), contact(c)
    conv = c.post(f"{API}/conversation/create", json={}).json()["id"]
    ids_ = [task_id, bot_id, contact_id, conv, "c" + "0" * 24, "x", "%00", "..", "a" * 300]
    posts = [
        "task/create",
        "task/{id}/update",
        "task/{id}/trigger",
        "task/{id}/cancel",
        "task/{id}/execution/{id}/cancel",
        "bot/create",
        "bot/{id}/update",
        "contact/create",
        "contact/{id}/update",
        "conversation/create",
        "conversation/{id}/update",
    ]
    gets = [
        "task/list",
        "task/export",
        "task/{id}/fetch",
        "task/{id}/execution/list",
        "contact/{id}/task/list",
        "bot/list",
        "bot/{id}/fetch",
        "contact/list",
        "conversation/list",
        "conversation/{id}/message/list",
    ]
    odd_params: list[dict[str, str]] = [
        {"take": "1e3"},
        {"take": "99999999999999999999999"},
        {"take": "-0"},
        {"cursor": "c" + "z" * 24},
        {"cursor": "czzzzzzzzzzzzzzzzzzzzzzzz"},
        {"cursor": "c" + "!" * 24},
        {"order": "\u0000"},
        {"meta.": "x"},
        {"meta[]": "x"},
        {"meta[a.b]": "1"},
        {'meta.a"b': "x"},
        {"meta.a'b": "x"},
        {"meta.a\\b": "x"},
        {"meta.$": "x"},
        {"botId": ",,,"},
        {"contactId": "x" * 5000},
        {"status": "idle,running,canceled,bogus"},
        {"meta[k]": "true", "meta.k": "false"},
    ]
    accepts = ["*/*", "application/jsonl", "text/csv", "text/event-stream", "text/html", "*"]

    def fill(template: str) -> str:
        # each placeholder independently: a real task id with a bogus execution id matters
        while "{id}" in template:
            template = template.replace("{id}", rng.choice(ids_), 1)
        return template

    for i in range(200):
        if i % 2 == 0:
            path = fill(rng.choice(posts))
            if rng.random() < 0.2:
                content = rng.choice(GARBAGE)
            else:
                content = json.dumps(_random_json(rng)).encode()
            r = c.post(f"{API}/{path}", content=content, headers={"content-type": "application/json"})
        else:
            path = fill(rng.choice(gets))
            params = rng.choice(odd_params)
            r = c.get(f"{API}/{path}", params=params, headers={"accept": rng.choice(accepts)})
        assert r.status_code < 500, (path, r.status_code, r.text)
        if r.status_code >= 400:
            assert_error(r, r.status_code)
    # deletes last (they succeed or 404)
    for path in ("task/{id}/delete", "bot/{id}/delete", "contact/{id}/delete", "conversation/{id}/delete"):
        for id_ in ids_:
            r = c.post(f"{API}/{path.replace('{id}', id_)}", content=rng.choice(GARBAGE[:1] + [b"{}"]))
            assert r.status_code < 500, (path, id_, r.text)
            if r.status_code >= 400:
                assert_error(r, r.status_code)
    # the server is still healthy
    with server.client() as anon:
        assert anon.get("/healthz").status_code == 200


def test_nul_characters_are_refused_not_500(c: httpx.Client) -> None:
    """PostgreSQL text/jsonb cannot store NUL: both backends refuse it up front with a 400."""
    for raw in (
        b'{"name":"a\\u0000b"}',
        b'{"meta":{"k\\u0000":"x"}}',
        b'{"meta":{"k":["\\u0000"]}}',
        b'{"botId":"c\\u0000"}',
    ):
        assert_error(c.post(f"{API}/task/create", content=raw), 400)
    assert count(c) == 0
    # an escaped backslash followed by "u0000" is ordinary text
    task_id = create(c, name="\\u0000")
    assert fetch(c, task_id)["name"] == "\\u0000"
    for params in ({"botId": "\x00"}, {"meta.k": "\x00"}, {"meta.\x00": "1"}):
        assert_error(c.get(f"{API}/task/list", params=params), 400)
    for path in ("task/%00/fetch", "contact/%00/task/list", "conversation/%00/message/list"):
        assert_error(c.get(f"{API}/{path}"), 404)
    assert_error(c.post(f"{API}/task/%00/update", json={}), 404)
    assert_error(c.post(f"{API}/task/%00/delete", json={}), 404)
    for path in ("trigger", "cancel", "execution/list", f"execution/{task_id}/cancel"):
        method = c.get if path.endswith("list") else c.post
        assert_error(method(f"{API}/task/%00/{path}"), 404)
