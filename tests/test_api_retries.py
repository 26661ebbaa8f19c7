"""``retryPolicy``, ``pauseAfterFailures`` and ``consecutiveFailures`` on the task API over real HTTP, on both
backends: create, update, fetch, list, export and import (JSON and CSV), and the 400s for bad values."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.test_api_import import CSV, JSON, JSONL, export, imported, records
from tests.test_api_tasks import API, assert_error, create, fetch

FULL = {"maxAttempts": 3, "initialDelayMs": 30000, "maxDelayMs": 900000, "multiplier": 2}


def test_a_task_carries_its_failure_settings(c: httpx.Client) -> None:
    task_id = create(c, name="r", retryPolicy={"maxAttempts": 3}, pauseAfterFailures=5)
    t = fetch(c, task_id)
    assert (t["retryPolicy"], t["pauseAfterFailures"], t["consecutiveFailures"]) == (FULL, 5, 0)
    listed = c.get(f"{API}/task/list").json()["items"]
    assert [(i["retryPolicy"], i["pauseAfterFailures"]) for i in listed if i["id"] == task_id] == [(FULL, 5)]
    policy = {"maxAttempts": 10, "initialDelayMs": 1000, "maxDelayMs": 1000, "multiplier": 1.5}
    r = c.post(f"{API}/task/{task_id}/update", json={"retryPolicy": policy})
    assert r.status_code == 200, r.text
    t = fetch(c, task_id)
    assert (t["retryPolicy"], t["pauseAfterFailures"]) == (policy, 5)  # (an update leaves what it does not name)
    r = c.post(f"{API}/task/{task_id}/update", json={"retryPolicy": None, "pauseAfterFailures": None})
    assert r.status_code == 200, r.text
    t = fetch(c, task_id)
    assert (t["retryPolicy"], t["pauseAfterFailures"]) == (None, None)
    assert (fetch(c, create(c, name="plain"))["retryPolicy"]) is None  # the default: no retries


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"retryPolicy": {"maxAttempts": 1}}, "maxAttempts"),
        ({"retryPolicy": {"maxAttempts": 11}}, "maxAttempts"),
        ({"retryPolicy": {}}, "maxAttempts"),
        ({"retryPolicy": {"maxAttempts": 3, "initialDelayMs": 999}}, "initialDelayMs"),
        ({"retryPolicy": {"maxAttempts": 3, "multiplier": 0.5}}, "multiplier"),
        ({"retryPolicy": {"maxAttempts": 3, "multiplier": 11}}, "multiplier"),
        ({"retryPolicy": {"maxAttempts": 3, "jitter": True}}, "jitter"),
        ({"retryPolicy": 3}, "retryPolicy"),
        (
            {"retryPolicy": {"maxAttempts": 3, "initialDelayMs": 60000, "maxDelayMs": 30000}},
            "Invalid retryPolicy: maxDelayMs (30000) must be at least initialDelayMs (60000)",
        ),
        ({"retryPolicy": {"maxAttempts": 3, "initialDelayMs": 1_000_000}}, "must be at least initialDelayMs"),
        ({"pauseAfterFailures": 0}, "pauseAfterFailures"),
        ({"pauseAfterFailures": 101}, "pauseAfterFailures"),
        ({"pauseAfterFailures": "many"}, "pauseAfterFailures"),
    ],
)
def test_bad_failure_settings_are_refused(c: httpx.Client, body: dict[str, Any], message: str) -> None:
    r = c.post(f"{API}/task/create", json={"name": "bad", **body})
    assert message in assert_error(r, 400)["message"]
    task_id = create(c, name="ok")
    assert message in assert_error(c.post(f"{API}/task/{task_id}/update", json=body), 400)["message"]
    assert fetch(c, task_id)["retryPolicy"] is None


def test_consecutive_failures_cannot_be_written(c: httpx.Client) -> None:
    assert_error(c.post(f"{API}/task/create", json={"consecutiveFailures": 3}), 400, None)


@pytest.mark.parametrize("accept", [JSON, JSONL, CSV])
def test_export_and_import_carry_the_settings_but_not_the_count(c: httpx.Client, accept: str) -> None:
    policy = {"maxAttempts": 4, "initialDelayMs": 2000, "maxDelayMs": 8000, "multiplier": 3}
    source = create(c, name=f"src-{accept}", retryPolicy=policy, pauseAfterFailures=7)
    text = export(c, accept)
    mine = [r for r in records(text, accept) if r["name"] == f"src-{accept}"]
    assert len(mine) == 1 and "consecutiveFailures" not in mine[0]
    new_ids = imported(c, text, accept)
    copies = [fetch(c, i) for i in new_ids if i != source and fetch(c, i)["name"] == f"src-{accept}"]
    assert [(t["retryPolicy"], t["pauseAfterFailures"], t["consecutiveFailures"]) for t in copies] == [(policy, 7, 0)]
