"""The console's Webhooks pages over real HTTP (both backends): create with the secret shown once, the API's
messages next to the fields, the delivery log, delete, tenancy."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

from tests.http_helpers import API, new_task
from tests.web_helpers import Console, texts
from tests.web_helpers import console as console  # the fixture


def _errors(html: str) -> dict[str, str]:
    return {k: unescape(v) for k, v in re.findall(r'id="error-(\w+)"[^>]*>([^<]*)<', html)}


def test_webhooks(console: Callable[[], Console]) -> None:
    con, other = console(), console()
    page = con.web.get("/app/webhooks").text
    assert 'id="webhook-rows"' in page and "No webhooks yet" in page and "Create webhook</button>" in page
    r = con.web.post("/app/webhooks", data={"csrf": con.csrf, "url": "not a url", "events": "execution.failed"})
    assert r.status_code == 400 and "Invalid url" in _errors(r.text)["url"]
    r = con.web.post("/app/webhooks", data={"csrf": con.csrf, "url": "https://93.184.215.14/hook"})
    assert r.status_code == 400 and "events" in _errors(r.text)
    task = new_task(con.api, name="watched")
    r = con.web.post(
        "/app/webhooks",
        data={
            "csrf": con.csrf,
            "url": "https://93.184.215.14/hook",
            "events": ["execution.failed", "task.paused"],
            "taskId": task,
        },
    )
    assert r.status_code == 200, r.text
    secret = texts(r.text, "webhook-secret")[0]
    assert secret.startswith("whsec_")
    listed = con.api.get(f"{API}/webhook/list").json()["items"]
    assert [(w["url"], w["events"], w["taskId"]) for w in listed] == [
        ("https://93.184.215.14/hook", ["execution.failed", "task.paused"], task)
    ]
    webhook = listed[0]["id"]
    page = con.web.get("/app/webhooks").text
    assert f'id="webhook-{webhook}"' in page and secret not in page  # shown once
    log = con.web.get(f"/app/webhooks/{webhook}")
    assert log.status_code == 200 and 'id="delivery-rows"' in log.text and "Nothing delivered yet" in log.text
    assert con.api.post(f"{API}/task/{task}/pause", json={"reason": "r"}).status_code == 200
    assert "task.paused" in con.web.get(f"/app/webhooks/{webhook}").text  # a delivery, pending or not
    assert other.web.get(f"/app/webhooks/{webhook}").status_code == 404
    assert other.post(f"/app/webhooks/{webhook}/delete").status_code == 404
    assert con.post(f"/app/webhooks/{webhook}/delete").status_code == 303
    assert con.api.get(f"{API}/webhook/list").json()["items"] == []
