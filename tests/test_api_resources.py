"""Bots, contacts and conversations over real HTTP, on both backends (contract section 7)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.test_api_tasks import API, assert_error, now_ms

BOT_KEYS = {
    "id",
    "name",
    "description",
    "meta",
    "backstory",
    "model",
    "datasetId",
    "skillsetId",
    "privacy",
    "moderation",
    "visibility",
    "createdAt",
    "updatedAt",
}
CONTACT_KEYS = {
    "id",
    "name",
    "description",
    "meta",
    "fingerprint",
    "email",
    "phone",
    "nick",
    "preferences",
    "verifiedAt",
    "createdAt",
    "updatedAt",
}
CONVERSATION_KEYS = {"id", "name", "description", "meta", "botId", "contactId", "taskId", "createdAt", "updatedAt"}
KEYS = {"bot": BOT_KEYS, "contact": CONTACT_KEYS, "conversation": CONVERSATION_KEYS}


@pytest.fixture
def c(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.account()) as client:
        yield client


def create(c: httpx.Client, kind: str, **fields: Any) -> str:
    r = c.post(f"{API}/{kind}/create", json=fields)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"id"}
    return str(r.json()["id"])


def fetch(c: httpx.Client, kind: str, id_: str) -> dict[str, Any]:
    r = c.get(f"{API}/{kind}/{id_}/fetch")
    assert r.status_code == 200, r.text
    return dict(r.json())


def list_ids(c: httpx.Client, path: str, **params: Any) -> list[str]:
    r = c.get(f"{API}/{path}", params=params)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


@pytest.mark.parametrize("kind", ["bot", "contact", "conversation"])
def test_defaults_and_every_key_present(c: httpx.Client, kind: str) -> None:
    before = now_ms()
    item = fetch(c, kind, create(c, kind))
    assert KEYS[kind] <= set(item), KEYS[kind] - set(item)
    assert item["name"] == "" and item["description"] == "" and item["meta"] is None
    assert before <= item["createdAt"] == item["updatedAt"] <= now_ms()
    for key in KEYS[kind] - {"id", "name", "description", "createdAt", "updatedAt", "fingerprint"}:
        assert item[key] is None, key
    if kind == "contact":  # the SDK types declare fingerprint a required string
        assert isinstance(item["fingerprint"], str) and item["fingerprint"]


@pytest.mark.parametrize("kind", ["bot", "contact", "conversation"])
def test_crud_cycle(c: httpx.Client, kind: str) -> None:
    a = create(c, kind, name="first", description="d", meta={"k": 1, "_x": 2})
    b = create(c, kind, name="second")
    assert list_ids(c, f"{kind}/list") == [b, a]
    assert list_ids(c, f"{kind}/list", order="asc") == [a, b]
    assert list_ids(c, f"{kind}/list", order="asc", cursor=a) == [b]
    assert list_ids(c, f"{kind}/list", take=1) == [b]
    item = fetch(c, kind, a)
    assert item["meta"] == {"k": 1}
    r = c.post(f"{API}/{kind}/{a}/update", json={"name": "renamed", "meta": {"$update": {"j": True}}})
    assert r.status_code == 200 and r.json() == {"id": a}
    updated = fetch(c, kind, a)
    assert updated["name"] == "renamed" and updated["description"] == "d"
    assert updated["meta"] == {"k": 1, "j": True}
    assert updated["updatedAt"] >= item["updatedAt"] and updated["createdAt"] == item["createdAt"]
    assert c.post(f"{API}/{kind}/{a}/update", json={"meta": {"only": "this"}}).status_code == 200
    assert fetch(c, kind, a)["meta"] == {"only": "this"}
    assert c.post(f"{API}/{kind}/{a}/update", json={"name": None}).status_code == 200
    assert fetch(c, kind, a)["name"] == ""
    # meta filters and formats on every list
    assert list_ids(c, f"{kind}/list", **{"meta.only": "this"}) == [a]
    assert list_ids(c, f"{kind}/list", **{"meta[only]": "that"}) == []
    r = c.get(f"{API}/{kind}/list", headers={"accept": "application/jsonl"})
    assert [json.loads(line)["data"]["id"] for line in r.text.splitlines()] == [b, a]
    r = c.get(f"{API}/{kind}/list", headers={"accept": "text/csv"})
    assert [row["id"] for row in csv.DictReader(io.StringIO(r.text))] == [b, a]
    # delete
    r = c.post(f"{API}/{kind}/{a}/delete", json={})
    assert r.status_code == 200 and r.json() == {"id": a}
    assert_error(c.get(f"{API}/{kind}/{a}/fetch"), 404)
    assert_error(c.post(f"{API}/{kind}/{a}/update", json={}), 404)
    assert_error(c.post(f"{API}/{kind}/{a}/delete", json={}), 404)
    assert list_ids(c, f"{kind}/list") == [b]
    # validation
    assert_error(c.post(f"{API}/{kind}/create", json={"nope": 1}), 400)
    assert_error(c.post(f"{API}/{kind}/create", json={"name": 1}), 400)
    assert_error(c.post(f"{API}/{kind}/create", content=b"{"), 400)
    assert_error(c.post(f"{API}/{kind}/{b}/update", json={"meta": [1]}), 400)
    assert list_ids(c, f"{kind}/list") == [b]


def test_bot_fields(c: httpx.Client) -> None:
    body = {
        "name": "Bot",
        "description": "helps",
        "backstory": "You are helpful.",
        "model": "gpt-4o",
        "datasetId": "ds1",
        "skillsetId": "ss1",
        "privacy": True,
        "moderation": False,
        "visibility": "private",
        "meta": {"team": "x"},
    }
    item = fetch(c, "bot", create(c, "bot", **body))
    for key, value in body.items():
        assert item[key] == value, key
    assert_error(c.post(f"{API}/bot/create", json={"visibility": "everyone"}), 400)
    assert_error(c.post(f"{API}/bot/create", json={"privacy": "yes"}), 400)
    assert_error(c.post(f"{API}/bot/create", json={"abilities": [{"type": "teleport"}]}), 400)


def test_contact_fields(c: httpx.Client) -> None:
    verified = now_ms()
    body = {
        "name": "Ann",
        "fingerprint": "fp-1",
        "email": "ann@example.com",
        "phone": "+441234",
        "nick": "annie",
        "preferences": "tea",
        "verifiedAt": verified,
        "meta": {"vip": True},
    }
    contact_id = create(c, "contact", **body)
    item = fetch(c, "contact", contact_id)
    for key, value in body.items():
        assert item[key] == value, key
    # clearing the fingerprint keeps it (it is always present)
    c.post(f"{API}/contact/{contact_id}/update", json={"fingerprint": None})
    assert fetch(c, "contact", contact_id)["fingerprint"] == "fp-1"
    assert_error(c.post(f"{API}/contact/create", json={"verifiedAt": -1}), 400)
    assert list_ids(c, "contact/list", **{"meta.vip": "true"}) == [contact_id]


def test_conversation_refs_and_messages(server: Server, c: httpx.Client) -> None:
    bot_id, contact_id = create(c, "bot"), create(c, "contact")
    task_id = create(c, "task", botId=bot_id)
    conv = create(
        c,
        "conversation",
        name="talk",
        botId=bot_id,
        contactId=contact_id,
        taskId=task_id,
        meta={"app": "task", "taskId": task_id},
        messages=[{"type": "user", "text": "hi"}, {"type": "bot", "text": "hello ✓"}],
    )
    item = fetch(c, "conversation", conv)
    assert (item["botId"], item["contactId"], item["taskId"]) == (bot_id, contact_id, task_id)
    r = c.get(f"{API}/conversation/{conv}/message/list", params={"order": "asc"})
    assert r.status_code == 200
    messages = r.json()["items"]
    assert [(m["type"], m["text"]) for m in messages] == [("user", "hi"), ("bot", "hello ✓")]
    assert list_ids(c, f"conversation/{conv}/message/list") == [m["id"] for m in messages][::-1]
    assert list_ids(c, "conversation/list", taskId=task_id) == [conv]
    assert list_ids(c, "conversation/list", botId=bot_id, contactId=contact_id) == [conv]
    assert list_ids(c, "conversation/list", botId="c" + "0" * 24) == []
    assert_error(c.post(f"{API}/conversation/create", json={"messages": [{"type": "alien", "text": "x"}]}), 400)
    assert_error(c.post(f"{API}/conversation/create", json={"messages": [{"type": "user"}]}), 400)
    missing = "c" + "0" * 24
    assert_error(c.post(f"{API}/conversation/create", json={"botId": missing}), 404, "Bot not found")
    assert_error(c.post(f"{API}/conversation/create", json={"contactId": missing}), 404, "Contact not found")
    assert_error(c.post(f"{API}/conversation/create", json={"taskId": missing}), 404, "Task not found")
    assert_error(c.post(f"{API}/conversation/{conv}/update", json={"botId": missing}), 404, "Bot not found")
    assert fetch(c, "conversation", conv)["botId"] == bot_id
    assert list_ids(c, "conversation/list") == [conv]
    assert_error(c.get(f"{API}/conversation/{missing}/message/list"), 404)
    # deleting the conversation removes its messages with it
    assert c.post(f"{API}/conversation/{conv}/delete", json={}).status_code == 200
    assert_error(c.get(f"{API}/conversation/{conv}/message/list"), 404)


def test_resource_errors(server: Server, c: httpx.Client) -> None:
    with server.client() as anon:
        for kind in ("bot", "contact", "conversation"):
            assert_error(anon.get(f"{API}/{kind}/list"), 401)
            assert_error(anon.post(f"{API}/{kind}/create", json={}), 401)
    for kind in ("bot", "contact", "conversation"):
        assert_error(c.get(f"{API}/{kind}/create"), 405)
        assert_error(c.post(f"{API}/{kind}/list"), 405)
        assert_error(c.get(f"{API}/{kind}/list", headers={"accept": "text/html"}), 400)
        big = b'{"name":"' + b"x" * (1024 * 1024) + b'"}'
        assert_error(c.post(f"{API}/{kind}/create", content=big), 413)
