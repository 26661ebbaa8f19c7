"""Token budgets over real HTTP on both backends: ``tokenBudget`` written, validated and answered with the
computed ``tokensUsed``/``budgetResetsAt``; a run stopped by its budget, then 429 on trigger; export and
import carry the budget, not the computed fields."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import wait_until
from tests.http_helpers import API, executions, new_task


def _bot(c: httpx.Client) -> str:
    tools = [{"type": "time", "name": f"t{i}"} for i in range(3)]
    r = c.post(f"{API}/bot/create", json={"name": "b", "model": "test", "abilities": tools})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _next_midnight(tz: str) -> int:
    local = datetime.now(UTC).astimezone(ZoneInfo(tz))
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    return int(midnight.timestamp() * 1000)


@pytest.mark.parametrize(
    ("budget", "names"),
    [
        ({"limit": 0, "period": "day"}, "$.tokenBudget.limit"),
        ({"limit": 10, "period": "year"}, "$.tokenBudget.period"),
        ({"limit": 10}, "period"),
        ({"limit": 1.5, "period": "day"}, "$.tokenBudget.limit"),
        ({"limit": 10, "period": "day", "extra": 1}, "extra"),
        ({"limit": 10**16, "period": "day"}, "$.tokenBudget.limit"),
        ("lots", "$.tokenBudget"),
    ],
)
def test_a_bad_token_budget_is_refused_naming_the_field(c: httpx.Client, budget: object, names: str) -> None:
    for r in (
        c.post(f"{API}/task/create", json={"name": "t", "tokenBudget": budget}),
        c.post(f"{API}/task/{new_task(c)}/update", json={"tokenBudget": budget}),
    ):
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert set(body) == {"message", "code"} and body["code"] == "BAD_REQUEST"
        assert names in body["message"], body["message"]


def test_token_budget_is_written_and_answered_with_its_usage(c: httpx.Client) -> None:
    tid = new_task(c, timezone="America/New_York", tokenBudget={"limit": 5000, "period": "day"})
    t = c.get(f"{API}/task/{tid}/fetch").json()
    assert t["tokenBudget"] == {"limit": 5000, "period": "day"}
    assert (t["tokensUsed"], t["budgetResetsAt"]) == (0, _next_midnight("America/New_York"))
    (listed,) = [x for x in c.get(f"{API}/task/list").json()["items"] if x["id"] == tid]
    assert (listed["tokenBudget"], listed["tokensUsed"]) == ({"limit": 5000, "period": "day"}, 0)
    plain = new_task(c, meta={"tokenBudget": None})
    p = c.get(f"{API}/task/{plain}/fetch").json()
    assert (p["tokenBudget"], p["tokensUsed"], p["budgetResetsAt"]) == (None, None, None)
    # a list page (written by the database) answers the same objects, fields in the same order, in every format
    listed = {x["id"]: x for x in c.get(f"{API}/task/list").json()["items"]}
    assert list(listed[plain].items()) == list(p.items())
    fetched = c.get(f"{API}/task/{tid}/fetch").json()
    assert list(listed[tid].items()) == list(fetched.items())
    lines = c.get(f"{API}/task/list", headers={"accept": "application/jsonl"}).text.splitlines()
    assert {"type": "item", "data": fetched} in [json.loads(line) for line in lines]
    # an update replaces it; null removes it
    assert c.post(f"{API}/task/{tid}/update", json={"tokenBudget": {"limit": 9, "period": "month"}}).status_code == 200
    assert c.get(f"{API}/task/{tid}/fetch").json()["tokenBudget"] == {"limit": 9, "period": "month"}
    assert c.post(f"{API}/task/{tid}/update", json={"tokenBudget": None}).status_code == 200
    t = c.get(f"{API}/task/{tid}/fetch").json()
    assert (t["tokenBudget"], t["tokensUsed"], t["budgetResetsAt"]) == (None, None, None)


def test_a_run_stops_at_its_budget_and_the_next_trigger_gets_429(c: httpx.Client) -> None:
    tid = new_task(c, botId=_bot(c), schedule="never", tokenBudget={"limit": 1, "period": "week"})
    assert c.post(f"{API}/task/{tid}/trigger", json={}).status_code == 200
    (ex,) = wait_until(lambda: [e for e in executions(c, tid) if e["outcome"] != "pending"])
    used = ex["inputTokens"] + ex["outputTokens"]
    sentence = f"Token budget reached: {used} of 1 tokens this week"
    assert (ex["outcome"], ex["summary"], ex["modelRequests"]) == ("failure", sentence, 1)
    messages = c.get(f"{API}/conversation/{ex['conversationId']}/message/list", params={"order": "asc"}).json()
    assert [m["type"] for m in messages["items"]] == ["user", "activity", "activity"]
    assert c.get(f"{API}/task/{tid}/fetch").json()["tokensUsed"] == used
    r = c.post(f"{API}/task/{tid}/trigger", json={})
    assert r.status_code == 429 and r.json() == {"message": sentence, "code": "LIMITS_REACHED"}
    # a higher limit lets it run again
    assert c.post(f"{API}/task/{tid}/update", json={"tokenBudget": {"limit": 10**6, "period": "week"}}).is_success
    assert c.post(f"{API}/task/{tid}/trigger", json={}).status_code == 200


def test_export_carries_the_budget_and_import_restores_it(c: httpx.Client) -> None:
    tid = new_task(c, name="budgeted", tokenBudget={"limit": 700, "period": "month"})
    (exported,) = [x for x in c.get(f"{API}/task/export").json()["items"] if x["name"] == "budgeted"]
    assert exported["tokenBudget"] == {"limit": 700, "period": "month"}
    assert "tokensUsed" not in exported and "budgetResetsAt" not in exported
    # a list item (computed fields included) imports; the computed fields are ignored
    listed = c.get(f"{API}/task/{tid}/fetch").json()
    r = c.post(f"{API}/task/import", json=[listed])
    assert r.status_code == 200, r.text
    (new_id,) = [i["id"] for i in r.json()["items"]]
    again = c.get(f"{API}/task/{new_id}/fetch").json()
    assert (again["tokenBudget"], again["tokensUsed"]) == ({"limit": 700, "period": "month"}, 0)
    # CSV: the budget is a JSON cell
    text = c.get(f"{API}/task/export", headers={"accept": "text/csv"}).text
    rows = [row for row in csv.DictReader(io.StringIO(text)) if row["name"] == "budgeted"]
    assert rows and rows[0]["tokenBudget"] == '{"limit":700,"period":"month"}'
    r = c.post(f"{API}/task/import", content=text, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    budgets = [x["tokenBudget"] for x in c.get(f"{API}/task/list").json()["items"] if x["name"] == "budgeted"]
    assert budgets.count({"limit": 700, "period": "month"}) == 4
    bad = 'name,tokenBudget\r\nx,"{nope"\r\n'
    r = c.post(f"{API}/task/import", content=bad, headers={"content-type": "text/csv"})
    assert r.status_code == 400 and "Invalid tokenBudget: not JSON" in r.json()["errors"][0]["message"]
