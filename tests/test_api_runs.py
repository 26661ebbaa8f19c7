"""Run endpoints over real HTTP: trigger, cancel, delete and update while running, limits (429)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server, wait_until
from tests.http_helpers import API, executions, new_task, wait_bot


def test_trigger_runs_once_and_records_outcome(c: httpx.Client) -> None:
    task_id = new_task(c, botId=wait_bot(c), schedule="never")
    assert c.post(f"{API}/task/{task_id}/trigger", json={}).json() == {"id": task_id}
    (ex,) = wait_until(lambda: [e for e in executions(c, task_id) if e["outcome"] != "pending"])
    assert (ex["status"], ex["outcome"], ex["trigger"]) == ("idle", "success", "trigger")
    t = c.get(f"{API}/task/{task_id}/fetch").json()
    assert (t["status"], t["outcome"], t["nextRunAt"]) == ("idle", "success", None)
    assert t["lastRunAt"] is not None
    conv = c.get(f"{API}/conversation/{ex['conversationId']}/fetch").json()
    assert (conv["taskId"], conv["meta"]) == (task_id, {"app": "task", "taskId": task_id})
    messages = c.get(f"{API}/conversation/{ex['conversationId']}/message/list", params={"order": "asc"}).json()
    assert [m["type"] for m in messages["items"]][:: len(messages["items"]) - 1] == ["user", "bot"]


def test_max_calls_is_stored_and_caps_the_tool_calls_of_a_run(c: httpx.Client) -> None:
    tools = [{"type": "time", "name": f"t{i}"} for i in range(3)]
    bot = c.post(f"{API}/bot/create", json={"name": "b", "model": "test", "abilities": tools}).json()["id"]
    capped = new_task(c, botId=bot, schedule="never", maxCalls=2)
    zero = new_task(c, botId=bot, schedule="never", maxCalls=0)  # 0: null, the default (10,000)
    assert "maxCalls" not in c.get(f"{API}/task/{capped}/fetch").json()  # written, never answered
    for t in (capped, zero):
        c.post(f"{API}/task/{t}/trigger", json={})
    (ex,) = wait_until(lambda: [e for e in executions(c, capped) if e["outcome"] != "pending"])
    assert (ex["outcome"], ex["summary"]) == (
        "failure",
        "Run ended: maxCalls (2 tool calls) reached before the agent finished.",
    )
    assert ex["inputTokens"] > 0 and ex["outputTokens"] > 0 and ex["modelRequests"] == 3
    kept = c.get(f"{API}/conversation/{ex['conversationId']}/message/list", params={"order": "asc"}).json()
    assert [m["type"] for m in kept["items"]][0] == "user" and len(kept["items"]) == 6
    (ok,) = wait_until(lambda: [e for e in executions(c, zero) if e["outcome"] != "pending"])
    assert ok["outcome"] == "success"
    # an update to null lifts the cap
    assert c.post(f"{API}/task/{capped}/update", json={"maxCalls": None}).status_code == 200
    c.post(f"{API}/task/{capped}/trigger", json={})
    runs = wait_until(lambda: [e for e in executions(c, capped) if e["outcome"] != "pending"][1:])
    assert runs[0]["outcome"] == "success"


def test_cancel_interrupts_a_running_bot_within_a_second(c: httpx.Client) -> None:
    task_id = new_task(c, botId=wait_bot(c, wait_s=30))
    c.post(f"{API}/task/{task_id}/trigger", json={})
    wait_until(lambda: c.get(f"{API}/task/{task_id}/fetch").json()["status"] == "running")
    started = time.monotonic()
    assert c.post(f"{API}/task/{task_id}/cancel", json={}).json() == {"id": task_id}
    (ex,) = executions(c, task_id)
    assert (ex["status"], ex["outcome"], ex["summary"]) == ("canceled", "failure", "Task execution canceled")
    assert c.get(f"{API}/task/{task_id}/fetch").json()["status"] == "idle"
    assert time.monotonic() - started < 1.0
    # cancelling again is a no-op 200
    assert c.post(f"{API}/task/{task_id}/cancel", json={}).status_code == 200


def test_execution_cancel_targets_one_execution_of_thatnew_task(c: httpx.Client) -> None:
    bot = wait_bot(c, wait_s=30)
    a, b = new_task(c, botId=bot), new_task(c, botId=bot)
    c.post(f"{API}/task/{a}/trigger", json={})
    (ex,) = wait_until(lambda: [e for e in executions(c, a) if e["status"] == "running"])
    assert c.post(f"{API}/task/{b}/execution/{ex['id']}/cancel", json={}).status_code == 404
    r = c.post(f"{API}/task/{a}/execution/{ex['id']}/cancel", json={})
    assert r.json() == {"id": ex["id"], "taskId": a}
    (after,) = executions(c, a)
    assert (after["status"], after["outcome"]) == ("canceled", "failure")


def test_delete_while_running_hides_the_task_lets_the_run_finish_then_removes_it(c: httpx.Client) -> None:
    task_id = new_task(c, botId=wait_bot(c, wait_s=1))
    c.post(f"{API}/task/{task_id}/trigger", json={})
    wait_until(lambda: c.get(f"{API}/task/{task_id}/fetch").json()["status"] == "running")
    c.post(f"{API}/task/{task_id}/trigger", json={})  # queued behind the running one
    assert c.post(f"{API}/task/{task_id}/delete", json={}).json() == {"id": task_id}
    assert c.get(f"{API}/task/{task_id}/fetch").status_code == 404
    assert c.post(f"{API}/task/{task_id}/trigger", json={}).status_code == 404
    assert c.post(f"{API}/task/{task_id}/update", json={"name": "x"}).status_code == 404
    assert all(t["id"] != task_id for t in c.get(f"{API}/task/list").json()["items"])

    # The running execution completes (its conversation gets the run's messages, ending with the bot's
    # summary), then the task is gone.
    def finished() -> list[dict[str, Any]]:
        out = []
        for x in c.get(f"{API}/conversation/list", params={"taskId": task_id}).json()["items"]:
            items = c.get(f"{API}/conversation/{x['id']}/message/list", params={"order": "asc"}).json()["items"]
            if items and items[0]["type"] == "user" and items[-1]["type"] == "bot":
                out.append(x)
        return out

    assert len(wait_until(finished)) == 1  # the queued trigger never started


def test_update_while_running_applies_to_the_next_run(c: httpx.Client) -> None:
    task_id = new_task(c, botId=wait_bot(c, wait_s=0.5), name="before")
    c.post(f"{API}/task/{task_id}/trigger", json={})
    wait_until(lambda: c.get(f"{API}/task/{task_id}/fetch").json()["status"] == "running")
    assert c.post(f"{API}/task/{task_id}/update", json={"name": "after"}).status_code == 200
    (first,) = wait_until(lambda: [e for e in executions(c, task_id) if e["outcome"] != "pending"])
    assert "'before'" in first["summary"]
    c.post(f"{API}/task/{task_id}/trigger", json={})
    done = wait_until(lambda: [e for e in executions(c, task_id) if e["outcome"] != "pending"][1:])
    assert "'after'" in done[0]["summary"]


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("capped") / "agentcron.db"
    server = start_server(
        f"sqlite:///{db}",
        env={"AGENTCRON_MAX_CONCURRENT_EXECUTIONS": "1", "AGENTCRON_MAX_EXECUTIONS_PER_DAY": "3"},
    )
    yield server
    stop_server(server)


def test_trigger_beyond_account_limits_is_429_limits_reached(capped_server: Server) -> None:
    with capped_server.client(capped_server.account()) as c:
        slow = new_task(c, botId=wait_bot(c, wait_s=30))
        assert c.post(f"{API}/task/{slow}/trigger", json={}).status_code == 200
        r = c.post(f"{API}/task/{slow}/trigger", json={})
        assert r.status_code == 429 and r.json()["code"] == "LIMITS_REACHED"
        assert "queued or running" in r.json()["message"]
        c.post(f"{API}/task/{slow}/cancel", json={})
        quick = new_task(c, botId=wait_bot(c))
        for _ in range(2):
            assert c.post(f"{API}/task/{quick}/trigger", json={}).status_code == 200
            wait_until(lambda: all(e["outcome"] != "pending" for e in executions(c, quick)))
        r = c.post(f"{API}/task/{quick}/trigger", json={})  # 4th start in the rolling day
        assert r.status_code == 429 and "last 24 hours" in r.json()["message"]
    with capped_server.client(capped_server.account()) as other:  # limits are per account
        assert other.post(f"{API}/task/{new_task(other, botId=wait_bot(other))}/trigger", json={}).status_code == 200
