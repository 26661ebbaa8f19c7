"""Schedule previews over real HTTP on both backends (agentcron.api.schedules), and the DST warnings task
create and update answer with."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Server

API = "/api/v1"


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_schedule_preview_with_dst_flags_and_warnings(c: httpx.Client) -> None:
    body = {"schedule": "30 2 * * *", "timezone": "America/New_York", "take": 2, "after": ms("2027-03-13T12:00:00Z")}
    r = c.post(f"{API}/schedule/preview", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "items": [
            {"runAt": ms("2027-03-14T07:00:00Z"), "localTime": "2027-03-14T03:00:00-04:00", "dst": "gap"},
            {"runAt": ms("2027-03-15T06:30:00Z"), "localTime": "2027-03-15T02:30:00-04:00", "dst": None},
        ],
        "warnings": ["02:30 does not exist in America/New_York on 2027-03-14; that run happens at 03:00"],
    }
    # defaults: ten items from now, UTC
    r = c.post(f"{API}/schedule/preview", json={"schedule": "hourly"})
    items = r.json()["items"]
    assert len(items) == 10 and items[0]["runAt"] > int(time.time() * 1000) and items[0]["localTime"].endswith("+00:00")
    one = c.post(f"{API}/schedule/preview", json={"schedule": "2099-01-01T00:00:00Z", "take": 5}).json()["items"]
    assert [i["runAt"] for i in one] == [ms("2099-01-01T00:00:00Z")]
    assert c.post(f"{API}/schedule/preview", json={"schedule": "never"}).json() == {"items": [], "warnings": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"schedule": "every tuesday"}, "Invalid schedule: "),
        ({"schedule": "hourly", "timezone": "Mars/Olympus"}, "Invalid timezone: "),
        ({"schedule": "hourly", "take": 0}, "Invalid request body: "),
        ({"schedule": "hourly", "take": 101}, "Invalid request body: "),
        ({}, "Invalid request body: "),
    ],
)
def test_schedule_preview_refuses_what_task_create_refuses(c: httpx.Client, body: dict[str, Any], message: str) -> None:
    r = c.post(f"{API}/schedule/preview", json=body)
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST" and r.json()["message"].startswith(message)


def test_task_preview_honours_its_timezone_and_its_pause(server: Server, c: httpx.Client) -> None:
    task_id = c.post(
        f"{API}/task/create", json={"name": "t", "schedule": "0 9 * * *", "timezone": "Asia/Tokyo"}
    ).json()["id"]
    r = c.get(f"{API}/task/{task_id}/preview", params={"take": 3})
    items = r.json()["items"]
    assert len(items) == 3 and all(i["localTime"].endswith("T09:00:00+09:00") for i in items)
    assert items[0]["runAt"] == c.get(f"{API}/task/{task_id}/fetch").json()["nextRunAt"]
    assert len(c.get(f"{API}/task/{task_id}/preview").json()["items"]) == 10
    r = c.get(f"{API}/task/{task_id}/preview", params={"take": "x"})
    assert r.status_code == 400 and r.json()["message"] == "Invalid take: 'x'; expected an integer from 1 to 100"
    assert c.post(f"{API}/task/{task_id}/pause", json={}).status_code == 200
    assert c.get(f"{API}/task/{task_id}/preview").json() == {"items": [], "warnings": []}
    until = items[1]["runAt"] + 1000  # the pause ends after the second run: the preview starts after it
    assert c.post(f"{API}/task/{task_id}/pause", json={"until": until}).status_code == 200
    later = c.get(f"{API}/task/{task_id}/preview", params={"take": 1}).json()["items"]
    assert [i["runAt"] for i in later] == [items[2]["runAt"]]
    with server.client(server.account("other")) as other:
        assert other.get(f"{API}/task/{task_id}/preview").status_code == 404


def test_create_and_update_answer_with_dst_warnings(c: httpx.Client) -> None:
    r = c.post(f"{API}/task/create", json={"name": "t", "schedule": "30 2 * * *", "timezone": "America/New_York"})
    assert r.status_code == 200 and set(r.json()) == {"id", "warnings"}
    assert any("02:30 does not exist in America/New_York" in w for w in r.json()["warnings"])
    task_id = r.json()["id"]
    r = c.post(f"{API}/task/{task_id}/update", json={"timezone": "UTC"})
    assert r.json() == {"id": task_id}  # UTC has no DST: no warnings key
    r = c.post(f"{API}/task/{task_id}/update", json={"timezone": "Europe/Berlin"})
    assert any("02:30 does not exist in Europe/Berlin" in w for w in r.json()["warnings"])
    r = c.post(f"{API}/task/create", json={"name": "plain", "schedule": "0 12 * * *", "timezone": "Europe/Berlin"})
    assert set(r.json()) == {"id"}
