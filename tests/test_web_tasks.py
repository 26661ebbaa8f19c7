"""The console's Tasks page and task page over real HTTP (both backends): empty and filled states, filters,
search by name, cursor paging, tenancy, and every run control going through the API's rules."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.conftest import wait_until
from tests.http_helpers import API, executions, new_bot, new_task, wait_bot
from tests.web_helpers import Console, texts
from tests.web_helpers import console as console  # the fixture


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="task-([^"]+)"', html)


def test_tasks_page_empty_then_filled(console: Callable[[], Console]) -> None:
    con = console()
    page = con.web.get("/app/tasks").text
    assert 'id="task-rows"' in page and _row_ids(page) == []
    assert "create a bot</a> first" in page  # no bots yet: says what to do
    bot = wait_bot(con.api)
    assert "Create a task</a>" in con.web.get("/app/tasks").text
    task = new_task(con.api, name="Morning report", botId=bot, schedule="0 9 * * 1-5", timezone="Europe/Berlin")
    page = con.web.get("/app/tasks").text
    assert _row_ids(page) == [task]
    row = page[page.index(f'id="task-{task}"') :]
    assert f'href="/app/tasks/{task}">Morning report</a>' in row
    assert "Weekdays at 09:00" in row and "Europe/Berlin" in row and "CE" in row  # next run, Berlin time
    assert '<span class="badge idle">idle</span>' in row
    for element in ("filter-bot", "filter-status", "filter-paused", "search"):
        assert f'id="{element}"' in page
    assert 'href="/app/tasks/new"' in page and "New task</a>" in page


def test_filters_search_and_paging(console: Callable[[], Console]) -> None:
    con = console()
    bot1, bot2 = wait_bot(con.api), wait_bot(con.api)
    a = new_task(con.api, name="Alpha 100% sure", botId=bot1)
    b = new_task(con.api, name="beta_report", botId=bot2)
    c = new_task(con.api, name="Gamma", botId=bot1)
    assert con.api.post(f"{API}/task/{c}/pause", json={"reason": "r"}).status_code == 200
    get = lambda q: _row_ids(con.web.get("/app/tasks/list?" + q).text)  # noqa: E731
    assert get("") == [c, b, a]
    assert get(f"bot={bot1}") == [c, a]
    assert get("paused=true") == [c] and get("paused=false") == [b, a]
    assert get("status=running") == [] and get("status=idle") == [c, b, a]
    assert get("q=ALPHA") == [a]  # ignores case
    assert get("q=100%25") == [a] and get("q=a_r") == [b] and get("q=%25") == [a]  # % and _ are literal
    assert get("q=zzz") == []
    assert "No task matches these filters" in con.web.get("/app/tasks?q=zzz").text
    page1 = con.web.get("/app/tasks?take=2").text
    assert _row_ids(page1) == [c, b]
    nxt = re.search(r'href="/app/tasks\?([^"]*cursor=[^"]+)">Next page', page1)
    assert nxt is not None
    page2 = con.web.get("/app/tasks?" + nxt.group(1).replace("&amp;", "&")).text
    assert _row_ids(page2) == [a] and "First page" in page2
    # The live fragment polls itself with the same filters.
    frag = con.web.get(f"/app/tasks/list?bot={bot1}").text
    assert f'hx-get="/app/tasks/list?bot={bot1}"' in frag and 'hx-trigger="every 5s"' in frag


def test_tenancy(console: Callable[[], Console]) -> None:
    mine, theirs = console(), console()
    task = new_task(theirs.api, name="theirs")
    assert _row_ids(mine.web.get("/app/tasks").text) == []
    for path in (f"/app/tasks/{task}", f"/app/tasks/{task}/edit", f"/app/tasks/{task}/executions"):
        r = mine.web.get(path)
        assert r.status_code == 404 and "another account" in r.text, path
    for action in ("trigger", "cancel", "pause", "resume", "delete"):
        assert mine.post(f"/app/tasks/{task}/{action}").status_code == 404, action
    assert theirs.web.get(f"/app/tasks/{task}").status_code == 200


def _page(con: Console, task: str) -> str:
    r = con.web.get(f"/app/tasks/{task}")
    assert r.status_code == 200, r.text
    return r.text


def test_task_page_controls(console: Callable[[], Console]) -> None:
    con = console()
    bot = wait_bot(con.api, wait_s=30)
    task = new_task(con.api, name="Waiter", botId=bot, schedule="hourly", timezone="Asia/Tokyo")
    page = _page(con, task)
    for label in ("Trigger now", "Cancel runs", "Pause", "Backfill", "Delete", "Pause task", "Queue backfill"):
        assert f">{label}</button>" in page, label
    for element in ("task-status", "outcome-chart", "executions", "pause-reason", "pause-until"):
        assert f'id="{element}"' in page
    assert f'href="/app/tasks/{task}/edit">Edit</a>' in page
    assert "No executions yet" in page
    # Trigger: a running execution with its own Cancel button.
    r = con.post(f"/app/tasks/{task}/trigger")
    assert r.status_code == 303 and r.headers["location"] == f"/app/tasks/{task}?done=triggered"
    assert "Run queued" in con.web.get(r.headers["location"]).text
    run = wait_until(lambda: [e for e in executions(con.api, task) if e["status"] == "running"])[0]
    page = _page(con, task)
    assert f'id="execution-{run["id"]}"' in page and f'id="cancel-{run["id"]}"' in page
    assert 'hx-trigger="every 3s"' in page  # the table refreshes while a run is in flight
    r = con.post(f"/app/tasks/{task}/executions/{run['id']}/cancel")
    assert r.status_code == 303
    wait_until(lambda: executions(con.api, task)[0]["status"] == "canceled")
    page = _page(con, task)
    assert f'id="cancel-{run["id"]}"' not in page and '<span class="badge canceled">canceled</span>' in page
    # Pause with a reason, then resume.
    assert con.post(f"/app/tasks/{task}/pause", reason="vendor outage").status_code == 303
    page = _page(con, task)
    assert texts(page, "task-status") == ["paused"]
    assert "vendor outage" in texts(page, "pause-banner")[0]
    assert ">Resume</button>" in page
    assert con.post(f"/app/tasks/{task}/resume").status_code == 303
    page = _page(con, task)
    assert texts(page, "task-status") == ["idle"] and 'id="pause-banner"' not in page
    # A pause "until" in the past is refused in the API's words, on the page.
    r = con.post(f"/app/tasks/{task}/pause", reason="x", until="2001-01-01T00:00")
    assert r.status_code == 400 and "Invalid until" in texts(r.text, "page-error")[0]
    # Backfill: the slots of a window (Tokyo time), then a refused range.
    r = con.post(f"/app/tasks/{task}/backfill", **{"from": "2024-01-01T00:00", "to": "2024-01-01T03:00"})
    assert r.status_code == 200 and "Backfill queued: 3 runs" in r.text
    r = con.post(f"/app/tasks/{task}/backfill", **{"from": "2024-01-02T00:00", "to": "2024-01-01T00:00"})
    assert r.status_code == 400 and "Invalid range" in texts(r.text, "page-error")[0]
    r = con.post(f"/app/tasks/{task}/backfill", **{"from": "yesterday", "to": "2024-01-01T00:00"})
    assert r.status_code == 400 and "Invalid from" in texts(r.text, "page-error")[0]
    # Cancel runs, then delete.
    assert con.post(f"/app/tasks/{task}/cancel").status_code == 303
    r = con.post(f"/app/tasks/{task}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/app/tasks"
    assert con.web.get(f"/app/tasks/{task}").status_code == 404


def test_rows_are_escaped(console: Callable[[], Console]) -> None:
    con = console()
    task = new_task(con.api, name='<script>alert("x")</script>', schedule="daily", timezone="Asia/Tokyo")
    page = con.web.get("/app/tasks").text
    assert "<script>alert" not in page
    assert f'<a href="/app/tasks/{task}">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</a>' in page
    renamed = con.api.post(f"{API}/task/{task}/update", json={"name": "plain"})
    assert renamed.status_code == 200
    assert f'<a href="/app/tasks/{task}">plain</a>' in con.web.get("/app/tasks").text  # a new version, a new row


def test_shared_cells_are_escaped(console: Callable[[], Console]) -> None:
    """Bot names (cached per name across rows) are escaped like the rest of the row."""
    con = console()
    bot = new_bot(con.api, "<b>Ops & co</b>", [])
    task = new_task(con.api, name="a", botId=bot, schedule="daily", timezone="Europe/Berlin")
    row = con.web.get("/app/tasks").text.split(f'id="task-{task}"')[1].split("</tr>")[0]
    assert '<td data-label="Bot">&lt;b&gt;Ops &amp; co&lt;/b&gt;</td>' in row
    assert 'Every day at 00:00<span class="sub">Europe/Berlin</span>' in row
