"""The console's task form and schedule preview over real HTTP (both backends): every contract field, the
API's validation messages next to their fields, create and edit, the preview flagging a DST gap."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

from tests.http_helpers import API, wait_bot
from tests.web_helpers import Console, texts
from tests.web_helpers import console as console  # the fixture

FIELDS = ("name", "description", "botId", "schedule", "timezone", "from", "contactId")
NUMBERS = ("maxIterations", "maxTime", "maxCalls", "sessionDuration")


def _errors(html: str) -> dict[str, str]:
    return {k: unescape(v) for k, v in re.findall(r'id="error-(\w+)"[^>]*>([^<]*)<', html)}


def test_form_fields_and_labels(console: Callable[[], Console]) -> None:
    con = console()
    page = con.web.get("/app/tasks/new").text
    for name in (*FIELDS, *NUMBERS):
        assert f'<label for="{name}">' in page and f'id="{name}"' in page, name
    assert 'id="preview"' in page and "Create task</button>" in page
    assert "You have no bots yet" in page


def test_validation_messages_next_to_fields(console: Callable[[], Console]) -> None:
    con = console()
    cases = {
        "maxTime": ({"maxTime": "99999999999"}, "Expected `int` <= 86400000"),
        "schedule": ({"schedule": "bogus"}, "Invalid schedule"),
        "timezone": ({"schedule": "daily", "timezone": "Mars/Base"}, "Invalid timezone"),
        "botId": ({"botId": "nope"}, "Bot not found"),
        "maxIterations": ({"maxIterations": "many"}, "Expected `int | null`, got `str`"),
    }
    for field, (data, message) in cases.items():
        r = con.post("/app/tasks/new", name="x", **data)
        assert r.status_code in (400, 404), field
        errors = _errors(r.text)
        assert list(errors) == [field] and message in errors[field], (field, errors)
        assert 'value="x"' in r.text  # what was typed stays
    assert con.api.get(f"{API}/task/list").json()["items"] == []  # nothing was written


def test_create_and_edit(console: Callable[[], Console]) -> None:
    con = console()
    bot = wait_bot(con.api)
    r = con.post(
        "/app/tasks/new",
        name="Nightly",
        botId=bot,
        schedule="30 2 * * *",
        timezone="America/New_York",
        maxIterations="5",
        description="Summarise the day",
    )
    assert r.status_code == 303, r.text
    task_id = r.headers["location"].split("/")[3].split("?")[0]
    task = con.api.get(f"{API}/task/{task_id}/fetch").json()
    assert (task["name"], task["botId"], task["maxIterations"], task["timezone"]) == (
        "Nightly",
        bot,
        5,
        "America/New_York",
    )
    page = con.web.get(f"/app/tasks/{task_id}/edit").text
    assert 'value="Nightly"' in page and "Save task</button>" in page and f'<option value="{bot}" selected' in page
    r = con.post(
        f"/app/tasks/{task_id}/edit", name="Nightly 2", botId=bot, schedule="hourly", timezone="", maxIterations=""
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=saved")
    task = con.api.get(f"{API}/task/{task_id}/fetch").json()
    assert (task["name"], task["schedule"], task["timezone"]) == ("Nightly 2", "hourly", None)
    assert task["maxIterations"] is None
    assert task["overlapPolicy"] == "skip"  # left as it was


def test_preview_flags_a_dst_gap(console: Callable[[], Console]) -> None:
    con = console()
    r = con.web.get(
        "/app/preview",
        params={
            "schedule": "30 2 * * *",
            "timezone": "America/New_York",
            "from": "2027-03-10T00:00",
            "viewerZone": "Europe/Berlin",
        },
    )
    assert r.status_code == 200
    items = re.findall(r"<li( class=\"dst\")?>(<span class=\"zone1\">.*?)</li>", r.text)
    assert len(items) == 10
    flagged = [text for dst, text in items if dst]
    assert len(flagged) == 1 and "2027-03-14 03:00 EDT" in flagged[0] and "DST" in flagged[0]
    assert "08:00 CET (Europe/Berlin)" in flagged[0]  # the viewer's zone beside the task's
    assert "does not exist in America/New_York on 2027-03-14" in r.text and 'id="preview-warnings"' in r.text
    bad = con.web.get("/app/preview", params={"schedule": "daily", "timezone": "Nowhere/City"}).text
    assert "Invalid timezone" in texts(bad, "preview-problem")[0]
    none = con.web.get("/app/preview", params={"schedule": ""}).text
    assert "runs only when triggered" in none


def test_token_budget_fields(console: Callable[[], Console]) -> None:
    con = console()
    r = con.post("/app/tasks/new", name="b", budgetLimit="1000")
    assert r.status_code == 400 and "period" in _errors(r.text)["budgetPeriod"]
    r = con.post("/app/tasks/new", name="b", budgetLimit="0", budgetPeriod="day")
    assert r.status_code == 400 and ">= 1" in _errors(r.text)["budgetLimit"]
    r = con.post("/app/tasks/new", name="b", budgetLimit="1000", budgetPeriod="week", timezone="Asia/Tokyo")
    assert r.status_code == 303
    task_id = r.headers["location"].split("/")[3].split("?")[0]
    assert con.api.get(f"{API}/task/{task_id}/fetch").json()["tokenBudget"] == {"limit": 1000, "period": "week"}
    page = con.web.get(f"/app/tasks/{task_id}").text
    assert "0 of 1000 tokens this week" in page
    edit = con.web.get(f"/app/tasks/{task_id}/edit").text
    assert 'value="1000"' in edit and '<option value="week" selected' in edit
    assert con.post(f"/app/tasks/{task_id}/edit", name="b", budgetLimit="", budgetPeriod="").status_code == 303
    assert con.api.get(f"{API}/task/{task_id}/fetch").json()["tokenBudget"] is None


def test_retry_fields(console: Callable[[], Console]) -> None:
    con = console()
    r = con.post("/app/tasks/new", name="r", retryMaxAttempts="0")
    assert r.status_code == 400 and "maxAttempts" in _errors(r.text)["retryMaxAttempts"]
    r = con.post("/app/tasks/new", name="r", retryMaxAttempts="3", pauseAfterFailures="2")
    assert r.status_code == 303
    task_id = r.headers["location"].split("/")[3].split("?")[0]
    task = con.api.get(f"{API}/task/{task_id}/fetch").json()
    assert task["retryPolicy"]["maxAttempts"] == 3 and task["pauseAfterFailures"] == 2
    page = con.web.get(f"/app/tasks/{task_id}").text
    assert "up to 3 runs per slot" in page
    edit = con.web.get(f"/app/tasks/{task_id}/edit").text
    assert 'id="retryMaxAttempts" name="retryMaxAttempts" inputmode="numeric" value="3"' in edit
    r = con.post(f"/app/tasks/{task_id}/edit", name="r", retryMaxAttempts="", pauseAfterFailures="")
    assert r.status_code == 303
    task = con.api.get(f"{API}/task/{task_id}/fetch").json()
    assert task["retryPolicy"] is None and task["pauseAfterFailures"] is None


def test_editing_keeps_max_calls(console: Callable[[], Console]) -> None:
    """``maxCalls`` is stored but never answered by the API: the edit form must still show the task's value,
    or saving the form as shown (here: a rename) silently lifts the task's tool-call cap."""
    con = console()
    r = con.api.post(f"{API}/task/create", json={"name": "capped", "maxCalls": 3})
    assert r.status_code == 200, r.text
    task_id = r.json()["id"]
    shown = re.search(
        r'name="maxCalls" inputmode="numeric" value="([^"]*)"', con.web.get(f"/app/tasks/{task_id}/edit").text
    )
    assert shown is not None and shown.group(1) == "3"
    r = con.post(f"/app/tasks/{task_id}/edit", name="renamed", maxCalls=shown.group(1))
    assert r.status_code == 303, r.text
    again = re.search(
        r'name="maxCalls" inputmode="numeric" value="([^"]*)"', con.web.get(f"/app/tasks/{task_id}/edit").text
    )
    assert again is not None and again.group(1) == "3"
