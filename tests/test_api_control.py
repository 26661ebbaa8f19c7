"""Task controls over real HTTP on both backends (agentcron.api.control): pause, resume, and the fields
and filters that go with them; plus `execution/{id}/fetch`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Server, account_of_task, new_account, new_token, start_server, stop_server, wait_until

API = "/api/v1"


def _task(c: httpx.Client, **body: Any) -> str:
    r = c.post(f"{API}/task/create", json={"name": "t", **body})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _fetch(c: httpx.Client, task_id: str) -> dict[str, Any]:
    r = c.get(f"{API}/task/{task_id}/fetch")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_pause_clears_the_next_run_and_resume_computes_it_from_now(c: httpx.Client) -> None:
    task_id = _task(c, schedule="hourly")
    before = _fetch(c, task_id)
    assert (before["pausedAt"], before["pauseReason"], before["pausedUntil"]) == (None, None, None)
    assert before["nextRunAt"] is not None
    t0 = int(time.time() * 1000)
    assert c.post(f"{API}/task/{task_id}/pause", json={"reason": "maintenance"}).json() == {"id": task_id}
    paused = _fetch(c, task_id)
    assert paused["nextRunAt"] is None and paused["pauseReason"] == "maintenance"
    assert paused["pausedUntil"] is None and t0 - 1000 <= paused["pausedAt"] <= int(time.time() * 1000) + 1000
    # pausing again replaces reason and until, and keeps when it was paused
    until = int(time.time() * 1000) + 3_600_000
    assert c.post(f"{API}/task/{task_id}/pause", json={"reason": "longer", "until": until}).status_code == 200
    again = _fetch(c, task_id)
    assert (again["pausedAt"], again["pauseReason"], again["pausedUntil"]) == (paused["pausedAt"], "longer", until)
    assert c.post(f"{API}/task/{task_id}/resume", json={}).json() == {"id": task_id}
    resumed = _fetch(c, task_id)
    assert (resumed["pausedAt"], resumed["pauseReason"], resumed["pausedUntil"]) == (None, None, None)
    assert resumed["nextRunAt"] == before["nextRunAt"]  # the same next hourly slot, from now
    # resuming a task that is not paused is a no-op
    assert c.post(f"{API}/task/{task_id}/resume", json={}).status_code == 200
    assert _fetch(c, task_id)["nextRunAt"] == before["nextRunAt"]


def test_pause_refuses_bad_bodies_and_other_accounts_tasks(server: Server, c: httpx.Client) -> None:
    task_id = _task(c, schedule="hourly")
    past = int(time.time() * 1000) - 1000
    r = c.post(f"{API}/task/{task_id}/pause", json={"until": past})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    assert r.json()["message"].startswith(f"Invalid until: {past} is not in the future")
    r = c.post(f"{API}/task/{task_id}/pause", json={"reason": "x" * 1025})
    assert r.status_code == 400 and "reason" in r.json()["message"]
    r = c.post(f"{API}/task/{task_id}/pause", json={"why": "x"})
    assert r.status_code == 400 and "why" in r.json()["message"]
    assert _fetch(c, task_id)["pausedAt"] is None  # nothing was paused by a refused request
    with server.client(server.account("other")) as other:
        for path in ("pause", "resume"):
            r = other.post(f"{API}/task/{task_id}/{path}", json={})
            assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")
        assert other.post(f"{API}/task/missing/pause", json={}).status_code == 404
    assert _fetch(c, task_id)["pausedAt"] is None


def test_a_paused_task_still_runs_a_trigger_and_stays_paused_through_update_and_cancel(c: httpx.Client) -> None:
    bot = c.post(f"{API}/bot/create", json={"name": "b", "model": "test"}).json()["id"]
    task_id = _task(c, schedule="hourly", botId=bot)
    assert c.post(f"{API}/task/{task_id}/pause", json={}).status_code == 200
    assert c.post(f"{API}/task/{task_id}/trigger", json={}).status_code == 200
    items = wait_until(
        lambda: [e for e in c.get(f"{API}/task/{task_id}/execution/list").json()["items"] if e["outcome"] == "success"]
    )
    assert items[0]["trigger"] == "trigger"
    assert c.post(f"{API}/task/{task_id}/update", json={"schedule": "daily"}).status_code == 200
    t = _fetch(c, task_id)
    assert (t["schedule"], t["nextRunAt"]) == ("daily", None) and t["pausedAt"] is not None
    assert c.post(f"{API}/task/{task_id}/cancel", json={}).status_code == 200
    assert _fetch(c, task_id)["pausedAt"] is not None and _fetch(c, task_id)["nextRunAt"] is None


def test_list_and_export_filter_on_paused(c: httpx.Client) -> None:
    a, b = _task(c, schedule="hourly"), _task(c, schedule="hourly")
    assert c.post(f"{API}/task/{a}/pause", json={"reason": "r"}).status_code == 200
    ids = lambda q: [t["id"] for t in c.get(f"{API}/task/list", params=q).json()["items"]]  # noqa: E731
    assert a in ids({"paused": "true"}) and b not in ids({"paused": "true"})
    assert b in ids({"paused": "false"}) and a not in ids({"paused": "false"})
    assert {a, b} <= set(ids({}))
    r = c.get(f"{API}/task/list", params={"paused": "yes"})
    assert r.status_code == 400 and r.json()["message"] == "Invalid paused: 'yes'; expected true or false"
    exported = c.get(f"{API}/task/export", params={"paused": "true"}).json()["items"]
    (row,) = [t for t in exported if t["id"] == a]
    assert row["pauseReason"] == "r" and row["pausedAt"] is not None and "pausedUntil" in row
    assert b not in [t["id"] for t in exported]


def test_a_pause_with_until_ends_by_itself(c: httpx.Client) -> None:
    task_id = _task(c, schedule="hourly")
    nxt = _fetch(c, task_id)["nextRunAt"]
    until = int(time.time() * 1000) + 800
    assert c.post(f"{API}/task/{task_id}/pause", json={"until": until}).status_code == 200
    assert _fetch(c, task_id)["nextRunAt"] is None
    t = wait_until(lambda: (lambda t: t if t["pausedAt"] is None else None)(_fetch(c, task_id)), timeout=5)
    assert t["nextRunAt"] == nxt and t["pausedUntil"] is None
    # within a second of until (the scheduler looks at least every poll interval)
    assert int(time.time() * 1000) - until < 2000


def test_execution_fetch(server: Server, c: httpx.Client) -> None:
    bot = c.post(f"{API}/bot/create", json={"name": "b", "model": "test"}).json()["id"]
    task_id, other_task = _task(c, botId=bot), _task(c, botId=bot)
    assert c.post(f"{API}/task/{task_id}/trigger", json={}).status_code == 200
    (ex,) = wait_until(lambda: c.get(f"{API}/task/{task_id}/execution/list").json()["items"])
    r = c.get(f"{API}/task/{task_id}/execution/{ex['id']}/fetch")
    assert r.status_code == 200 and r.json()["id"] == ex["id"] and r.json()["taskId"] == task_id
    assert set(r.json()) == set(ex)
    assert c.get(f"{API}/task/{other_task}/execution/{ex['id']}/fetch").status_code == 404
    assert c.get(f"{API}/task/{task_id}/execution/missing/fetch").status_code == 404
    with server.client(server.account("other")) as other:
        assert other.get(f"{API}/task/{task_id}/execution/{ex['id']}/fetch").status_code == 404


def test_a_pause_holds_across_a_restart_while_its_slots_pass(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    server = start_server(db)
    try:
        with server.client(server.account()) as c:
            task_id = _task(c, schedule="hourly")
            assert c.post(f"{API}/task/{task_id}/pause", json={"reason": "r"}).status_code == 200
    finally:
        stop_server(server)
    # The same database two hours later: two hourly slots passed while the service was down.
    later = start_server(db, env={"AGENTCRON_CLOCK_OFFSET_MS": str(2 * 3_600_000)})
    try:
        with later.client(new_account(db, "b")) as other:
            assert other.get(f"{API}/task/{task_id}/fetch").status_code == 404
        with later.client(new_token(db, account_of_task(db, task_id))) as c:
            time.sleep(0.6)  # more than two scheduler polls: it would have fired the missed slots by now
            t = _fetch(c, task_id)
            assert (t["pauseReason"], t["nextRunAt"]) == ("r", None)
            assert c.get(f"{API}/task/{task_id}/execution/list").json()["items"] == []
    finally:
        stop_server(later)


QUARTER = 15 * 60_000


def _quarter_floor(at: int) -> int:
    return at - at % QUARTER


def test_a_backfill_queues_one_run_per_slot_and_runs_them_one_at_a_time_in_slot_order(c: httpx.Client) -> None:
    bot = c.post(f"{API}/bot/create", json={"name": "b", "model": "test"}).json()["id"]
    task_id = _task(c, schedule="quarterhourly", botId=bot, overlapPolicy="allow")
    to = _quarter_floor(int(time.time() * 1000)) - 2 * QUARTER  # (leaves the live slots to the scheduler)
    start = to - 4 * QUARTER
    r = c.post(f"{API}/task/{task_id}/backfill", json={"from": start, "to": to})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": task_id, "count": 4}
    done = wait_until(
        lambda: (lambda items: items if len(items) == 4 and all(e["outcome"] == "success" for e in items) else None)(
            [e for e in c.get(f"{API}/task/{task_id}/execution/list").json()["items"] if e["trigger"] == "backfill"]
        ),
        timeout=20,
    )
    by_slot = sorted(done, key=lambda e: e["scheduledFor"])
    assert [e["scheduledFor"] for e in by_slot] == [start + i * QUARTER for i in range(4)]
    for earlier, later in zip(by_slot, by_slot[1:], strict=False):
        # one at a time, in slot order, although the task allows overlapping runs
        finished = int(datetime.fromisoformat(earlier["completedAt"].replace("Z", "+00:00")).timestamp() * 1000)
        assert later["startedAt"] >= finished
    first = by_slot[0]
    said = c.get(f"{API}/conversation/{first['conversationId']}/message/list", params={"order": "asc"}).json()["items"]
    slot_iso = datetime.fromtimestamp(start / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert said[0]["type"] == "user" and f"backfill run for the slot of {slot_iso}" in said[0]["text"]
    # the same window again: every slot already has its run
    assert c.post(f"{API}/task/{task_id}/backfill", json={"from": start, "to": to}).json()["count"] == 0


def test_a_thousand_slot_backfill_and_its_limits(server: Server, c: httpx.Client) -> None:
    bot = c.post(
        f"{API}/bot/create",
        json={"name": "b", "model": "test", "abilities": [{"type": "wait", "config": {"seconds": 30}}]},
    ).json()["id"]
    task_id = _task(c, schedule="quarterhourly", botId=bot)
    to = _quarter_floor(int(time.time() * 1000)) - 2 * QUARTER
    r = c.post(f"{API}/task/{task_id}/backfill", json={"from": to - 1001 * QUARTER, "to": to})
    assert r.status_code == 400
    assert r.json()["message"] == "Too many slots: the range holds 1,001 slots; a backfill takes at most 1,000"
    r = c.post(f"{API}/task/{task_id}/backfill", json={"from": to - 1000 * QUARTER, "to": to})
    assert r.json() == {"id": task_id, "count": 1000}
    runs = [e for e in c.get(f"{API}/task/{task_id}/execution/list", params={"take": 100}).json()["items"]]
    assert runs and {e["trigger"] for e in runs} == {"backfill"}
    # cancel stops the one running (a 30 s wait) and every one not yet run
    assert c.post(f"{API}/task/{task_id}/cancel", json={}).status_code == 200
    statuses = {
        e["status"] for e in c.get(f"{API}/task/{task_id}/execution/list", params={"take": 100}).json()["items"]
    }
    assert statuses == {"canceled"}
    now = int(time.time() * 1000)
    for body, start in (
        ({"from": now - QUARTER, "to": now + 60_000}, "Invalid range: "),
        ({"from": now - QUARTER, "to": now - QUARTER}, "Invalid range: "),
        ({"from": now - QUARTER}, "Invalid request body: "),
    ):
        r = c.post(f"{API}/task/{task_id}/backfill", json=body)
        assert r.status_code == 400 and r.json()["message"].startswith(start), r.text
    botless = _task(c, schedule="quarterhourly")
    r = c.post(f"{API}/task/{botless}/backfill", json={"from": to - QUARTER, "to": to})
    assert (r.status_code, r.json()["message"]) == (400, "The task has no bot: set botId before a backfill")
    with server.client(server.account("other")) as other:
        assert other.post(f"{API}/task/{task_id}/backfill", json={"from": to - QUARTER, "to": to}).status_code == 404
