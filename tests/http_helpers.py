"""Small HTTP helpers shared by the API tests: create a bot or a task, list a task's executions."""

from __future__ import annotations

from typing import Any

import httpx

API = "/api/v1"


def wait_bot(c: httpx.Client, wait_s: float | None = None) -> str:
    """A bot on the offline ``test`` model; with ``wait_s``, one ``wait`` ability of that many seconds."""
    return new_bot(c, "b", [{"type": "wait", "config": {"seconds": wait_s}}] if wait_s else [])


def new_bot(c: httpx.Client, name: str, abilities: list[dict[str, Any]]) -> str:
    """A bot on the offline ``test`` model (which calls each of its abilities once)."""
    r = c.post(f"{API}/bot/create", json={"name": name, "model": "test", "abilities": abilities})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def new_task(c: httpx.Client, **body: Any) -> str:
    r = c.post(f"{API}/task/create", json={"name": "t", **body})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def fetch_task(c: httpx.Client, task_id: str) -> dict[str, Any]:
    r = c.get(f"{API}/task/{task_id}/fetch")
    assert r.status_code == 200, r.text
    return dict(r.json())


def executions(c: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    """The task's executions, oldest first."""
    r = c.get(f"{API}/task/{task_id}/execution/list", params={"order": "asc"})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])
