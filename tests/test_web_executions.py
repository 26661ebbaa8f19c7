"""The console's execution page over real HTTP (both backends): the per-execution event stream the timeline
reads (replay, live, ending at executionEnd), the page's state, result and transcript, tenancy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import wait_until
from tests.http_helpers import API, executions, new_task, wait_bot
from tests.web_helpers import Console, texts
from tests.web_helpers import console as console  # the fixture


def _events(con: Console, task: str, execution: str) -> list[dict[str, Any]]:
    with con.web.stream("GET", f"/app/tasks/{task}/executions/{execution}/events", timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/jsonl")
        return [json.loads(line) for line in r.iter_lines() if line]


def test_timeline_stream_and_page(console: Callable[[], Console]) -> None:
    con = console()
    bot = wait_bot(con.api, wait_s=0.5)
    task = new_task(con.api, name="Timed", botId=bot)
    assert con.post(f"/app/tasks/{task}/trigger").status_code == 303
    execution = wait_until(lambda: executions(con.api, task))[0]["id"]
    page = con.web.get(f"/app/tasks/{task}/executions/{execution}").text
    assert texts(page, "timeline-state")[0] in ("queued", "running", "completed")
    assert 'src="/app/static/timeline.js"' in page and 'id="timeline"' in page
    events = _events(con, task, execution)  # live until the end
    kinds = [e["type"] for e in events if e["type"] != "ping"]
    assert kinds[0] == "executionBegin" and kinds[-1] == "executionEnd"
    begins = [e["data"]["id"] for e in events if e["type"] == "operationBegin"]
    ends = [e["data"]["id"] for e in events if e["type"] == "operationEnd"]
    assert begins and sorted(begins) == sorted(ends)
    assert all(op.startswith(execution + "-") for op in begins)
    assert events[-1]["data"]["outcome"] == "success"
    page = con.web.get(f"/app/tasks/{task}/executions/{execution}").text
    assert texts(page, "timeline-state") == ["completed"]
    for element in ("summary", "outcome", "tokens", "transcript"):
        assert f'id="{element}"' in page
    assert page.count('class="message ') >= 2  # the conversation
    assert _events(con, task, execution) == events  # a replay after the end: the same, then closed
    details = con.web.get(f"/app/tasks/{task}/executions/{execution}/details")
    assert details.status_code == 200 and 'id="run-details"' in details.text


def test_canceled_while_queued_ends_at_once(console: Callable[[], Console]) -> None:
    con = console()
    bot = wait_bot(con.api, wait_s=30)
    task = new_task(con.api, name="Slow", botId=bot, schedule="hourly")
    r = con.api.post(f"{API}/task/{task}/backfill", json={"from": 1_700_000_000_000, "to": 1_700_007_200_000})
    assert r.json()["count"] == 2
    queued = wait_until(
        lambda: (
            [e for e in executions(con.api, task) if e["status"] == "idle" and e["outcome"] == "pending"]
            if any(e["status"] == "running" for e in executions(con.api, task))
            else None
        )
    )[0]["id"]
    assert con.post(f"/app/tasks/{task}/executions/{queued}/cancel").status_code == 303
    events = _events(con, task, queued)
    assert [e["type"] for e in events] == ["executionEnd"]  # no steps: made from the stored outcome
    assert events[0]["data"]["status"] == "canceled"
    page = con.web.get(f"/app/tasks/{task}/executions/{queued}").text
    assert texts(page, "timeline-state") == ["canceled"]
    assert con.post(f"/app/tasks/{task}/cancel").status_code == 303


def test_another_accounts_execution_is_not_found(console: Callable[[], Console]) -> None:
    mine, theirs = console(), console()
    task = new_task(theirs.api, name="theirs", botId=wait_bot(theirs.api))
    assert theirs.post(f"/app/tasks/{task}/trigger").status_code == 303
    execution = wait_until(lambda: executions(theirs.api, task))[0]["id"]
    for suffix in ("", "/events", "/details"):
        assert mine.web.get(f"/app/tasks/{task}/executions/{execution}{suffix}").status_code == 404
    own = new_task(mine.api, name="mine")
    assert mine.web.get(f"/app/tasks/{own}/executions/{execution}").status_code == 404  # not this task's
