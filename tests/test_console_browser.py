"""The console (/app/) end to end in headless Chromium, against the real service (tests/browser_fixtures.py):
sign in, bots and tasks through the forms, the schedule preview's DST flags, a run watched to its end with its
transcript, pause and resume, cancelling a run that waits in a tool, CSV export and import, sign out, CSRF.

Every test signs in as a fresh account of the shared server; the `page` fixture fails a test whose browser
asked another origin for anything or logged a JS error. Element ids and labels: /work/CONSOLE_CONTRACT.md
(the console's templates keep them stable). Each page visited is saved as a screenshot artifact.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser_fixtures import Guard, account_secret, shot
from tests.conftest import Server, wait_until
from tests.http_helpers import API, fetch_task, new_bot, new_task

pytestmark = pytest.mark.browser

#: the execution page's live state, as a JS expression
STATE = "document.querySelector('#timeline-state')"


def sign_in(page: Any, secret: str) -> None:
    page.goto("/app/login")
    page.get_by_label("API secret").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/app/tasks"))


@pytest.fixture
def secret(console_server: Server) -> str:
    """A fresh account's API secret (each test sees only its own tasks)."""
    return account_secret(console_server, "console-e2e")


@pytest.fixture
def api(console_server: Server, secret: str) -> Iterator[httpx.Client]:
    """The same account over the HTTP API, to set up and check what the browser did."""
    with console_server.client(secret) as client:
        yield client


def test_sign_in_refuses_a_wrong_secret_and_signs_out(page: Any, guard: Guard, secret: str) -> None:
    page.goto("/app/tasks")
    page.wait_for_url(re.compile(r"/app/login"))  # no session: the sign-in page
    shot(page, "login")
    guard.expect_error("status of 40[13]")  # the refused sign-in's answer
    page.get_by_label("API secret").fill("sk-not-a-secret")
    page.get_by_role("button", name="Sign in").click()
    assert re.search(r"secret", page.locator("main").inner_text(), re.I)
    assert "/app/login" in page.url
    shot(page, "login-refused")
    sign_in(page, secret)
    page.get_by_role("link", name="New task").first.wait_for()  # the empty state says what to do
    shot(page, "tasks-empty")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/app/login"))
    page.goto("/app/tasks")
    page.wait_for_url(re.compile(r"/app/login"))  # the session is gone


def test_bot_and_task_through_the_forms_with_a_dst_preview(
    page: Any, guard: Guard, api: httpx.Client, secret: str
) -> None:
    sign_in(page, secret)
    page.goto("/app/bots")
    page.get_by_role("link", name="New bot").first.click()
    page.locator("#name").fill("Clock")
    page.locator("#model").fill("test")
    abilities = page.locator("#abilities")
    if abilities.evaluate("e => e.tagName") == "TEXTAREA":
        abilities.fill('[{"type": "time"}]')
    else:
        page.get_by_label(re.compile("time", re.I)).first.check()
    shot(page, "bot-form")
    page.get_by_role("button", name="Create bot").click()
    page.wait_for_load_state()
    bots = api.get(f"{API}/bot/list").json()["items"]
    assert [b["name"] for b in bots] == ["Clock"] and bots[0]["abilities"][0]["type"] == "time"
    page.goto("/app/bots")
    assert "Clock" in page.locator("#bot-rows").inner_text()
    shot(page, "bots")

    page.goto("/app/tasks")
    page.get_by_role("link", name="New task").first.click()
    page.wait_for_url(re.compile(r"/app/tasks/new"))
    page.locator("#name").fill("Nightly report")
    page.locator("#description").fill("Say what time it is.")
    page.locator("#botId").select_option(label="Clock (test)")
    page.locator("#timezone").fill("Europe/Berlin")
    # 02:30 does not exist in Berlin on the last Sunday of March: the preview must flag that run.
    page.locator("#from").fill("2027-03-20T00:00")
    page.locator("#from").dispatch_event("change")
    page.locator("#schedule").fill("30 2 * * *")
    flagged = page.locator("#preview li.dst")
    flagged.first.wait_for()
    assert flagged.count() == 1 and re.search(r"2027-03-28 03:00.*DST", flagged.first.inner_text())
    assert "(America/New_York)" in flagged.first.inner_text()  # the viewer's zone (the browser's) beside it
    assert page.locator("#preview ol > li").count() == 10
    assert "02:30 does not exist in Europe/Berlin on 2027-03-28" in page.locator("#preview-warnings").inner_text()
    shot(page, "task-form-dst-preview")
    page.get_by_role("button", name="Create task").click()
    page.wait_for_url(re.compile(r"/app/tasks/[^/]+$"))
    shot(page, "task")
    (task,) = api.get(f"{API}/task/list").json()["items"]
    assert (task["name"], task["schedule"], task["timezone"]) == ("Nightly report", "30 2 * * *", "Europe/Berlin")
    assert task["botId"] == bots[0]["id"] and f"/app/tasks/{task['id']}" in page.url

    # A bad schedule is refused next to its field, in the server's words.
    page.goto(f"/app/tasks/{task['id']}/edit")
    page.locator("#schedule").fill("61 * * * *")
    guard.expect_error("status of 400")  # the form comes back with its errors
    page.get_by_role("button", name="Save task").click()
    assert "Invalid schedule" in page.locator("#error-schedule").inner_text()
    shot(page, "task-form-error")


def test_trigger_watch_the_timeline_and_read_the_transcript(page: Any, api: httpx.Client, secret: str) -> None:
    bot = new_bot(api, "Clock", [{"type": "time"}])
    task_id = new_task(api, name="Tell the time", botId=bot, schedule="0 9 * * 1-5", timezone="Europe/Berlin")
    sign_in(page, secret)
    page.goto(f"/app/tasks/{task_id}")
    page.get_by_role("button", name="Trigger now").click()
    link = page.locator("#executions tr[id^=execution-] a").first
    link.wait_for()
    link.click()
    page.wait_for_url(re.compile(rf"/app/tasks/{task_id}/executions/[^/]+$"))
    state = page.locator("#timeline-state")
    page.wait_for_function(f"() => /completed|failed|canceled/.test({STATE}?.textContent)")
    assert state.inner_text().strip() == "completed"
    ops = page.locator("#timeline li.op")
    assert ops.count() >= 2  # model requests and the `time` tool call
    assert "time" in page.locator("#timeline").inner_text()
    assert page.locator("#summary").inner_text().strip()
    assert page.locator("#transcript .message").count() >= 2
    shot(page, "execution")


def test_tasks_page_filters_and_search(page: Any, api: httpx.Client, secret: str) -> None:
    clock = new_bot(api, "Clock", [{"type": "time"}])
    writer = new_bot(api, "Writer", [])
    specs = [
        ("Morning digest", clock, "0 9 * * 1-5", "Europe/Berlin"),
        ("Quarter-hour check", clock, "*/15 * * * *", "UTC"),
        ("Nightly backup report", writer, "30 2 * * *", "Europe/Berlin"),
        ("Monthly invoice summary", writer, "0 0 1 * *", "America/New_York"),
        ("Tokyo market open", clock, "0 9 * * 1-5", "Asia/Tokyo"),
    ]
    ids = {name: new_task(api, name=name, botId=bot, schedule=s, timezone=tz) for name, bot, s, tz in specs}
    assert api.post(f"{API}/task/{ids['Nightly backup report']}/pause", json={"reason": "disk full"}).status_code == 200
    api.post(f"{API}/task/{ids['Morning digest']}/trigger", json={})
    wait_until(lambda: fetch_task(api, ids["Morning digest"])["lastRunAt"], timeout=20)
    sign_in(page, secret)
    rows = page.locator("#task-rows tr[id^=task-]")
    assert rows.count() == 5
    assert "paused" in page.locator(f"#task-{ids['Nightly backup report']}").inner_text()
    page.wait_for_function(f"() => /success/.test(document.querySelector('#task-{ids['Morning digest']}').textContent)")
    shot(page, "tasks")
    page.locator("#search").fill("report")
    page.wait_for_function("() => document.querySelectorAll('#task-rows tr[id^=task-]').length === 1")
    page.locator("#search").fill("")
    page.wait_for_function("() => document.querySelectorAll('#task-rows tr[id^=task-]').length === 5")
    page.locator("#filter-paused").select_option("true")
    page.wait_for_function("() => document.querySelectorAll('#task-rows tr[id^=task-]').length === 1")
    page.locator("#filter-paused").select_option("")
    page.locator("#filter-bot").select_option(label="Writer")
    page.wait_for_function("() => document.querySelectorAll('#task-rows tr[id^=task-]').length === 2")
    page.locator(f"#task-{ids['Monthly invoice summary']} a").first.click()
    page.wait_for_url(re.compile(rf"/app/tasks/{ids['Monthly invoice summary']}$"))


def test_pause_with_a_reason_and_resume(page: Any, api: httpx.Client, secret: str) -> None:
    task_id = new_task(api, name="Pausable", schedule="0 9 * * *", timezone="UTC")
    sign_in(page, secret)
    page.goto(f"/app/tasks/{task_id}")
    page.get_by_role("button", name="Pause", exact=True).click()
    page.locator("#pause-reason").fill("vendor outage")
    page.get_by_role("button", name="Pause task").click()
    page.locator("#pause-banner").wait_for()
    assert "vendor outage" in page.locator("#pause-banner").inner_text()
    assert page.locator("#task-status").inner_text().strip() == "paused"
    shot(page, "task-paused")
    paused = fetch_task(api, task_id)
    assert paused["pauseReason"] == "vendor outage" and paused["pausedAt"] and paused["nextRunAt"] is None
    page.get_by_role("button", name="Resume").click()
    page.locator("#pause-banner").wait_for(state="detached")
    assert page.locator("#task-status").inner_text().strip() == "idle"
    resumed = fetch_task(api, task_id)
    assert resumed["pausedAt"] is None and resumed["nextRunAt"]


def test_cancel_a_run_waiting_in_a_tool(page: Any, api: httpx.Client, secret: str) -> None:
    bot = new_bot(api, "Sleeper", [{"type": "wait", "config": {"seconds": 600}}])
    task_id = new_task(api, name="Waits", botId=bot)
    sign_in(page, secret)
    page.goto(f"/app/tasks/{task_id}")
    page.get_by_role("button", name="Trigger now").click()
    # (the form posts and redirects: let that navigation end before navigating again)
    page.wait_for_url("**done=triggered**")

    def waiting() -> str | None:  # running, and inside the wait tool (its call is in the conversation)
        items = api.get(f"{API}/task/{task_id}/execution/list").json()["items"]
        return items[0]["id"] if items and items[0]["status"] == "running" else None

    eid = wait_until(waiting, timeout=20)
    page.goto(f"/app/tasks/{task_id}")
    cancel = page.locator(f"#cancel-{eid}")
    shot(page, "task-running")
    cancel.click()
    page.wait_for_load_state()

    def canceled() -> bool:
        (e,) = api.get(f"{API}/task/{task_id}/execution/list").json()["items"]
        return bool(e["status"] == "canceled")

    wait_until(canceled, timeout=10)  # well before the tool's 600 s
    page.goto(f"/app/tasks/{task_id}/executions/{eid}")
    page.wait_for_function(f"() => /canceled|failed/.test({STATE}?.textContent)")
    shot(page, "execution-canceled")


def test_export_csv_and_import_it_back(page: Any, guard: Guard, api: httpx.Client, secret: str, tmp_path: Path) -> None:
    for i in range(3):
        new_task(api, name=f"Exported {i}", schedule="0 9 * * *", timezone="Europe/Berlin", meta={"n": i})
    sign_in(page, secret)
    page.goto("/app/export")
    shot(page, "export")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    csv_path = tmp_path / "tasks.csv"
    info.value.save_as(csv_path)
    text = csv_path.read_text()
    assert text.count("Exported") == 3

    page.goto("/app/import")
    page.locator("#file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Check file").click()
    page.locator("#import-result").wait_for()
    assert len(api.get(f"{API}/task/list").json()["items"]) == 3  # a check writes nothing
    page.locator("#file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text(re.compile(r"Imported 3 tasks")).wait_for()
    shot(page, "import-done")
    names = sorted(t["name"] for t in api.get(f"{API}/task/list").json()["items"])
    assert names == sorted([f"Exported {i}" for i in range(3)] * 2)

    # A bad row is listed (row number and message) and nothing is written.
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace("0 9 * * *", "61 * * * *", 1))
    guard.expect_error("status of 400")  # the refused file's page
    page.locator("#file").set_input_files(str(bad))
    page.get_by_role("button", name="Import", exact=True).click()
    assert "Invalid schedule" in page.locator("#import-result").inner_text()
    assert len(api.get(f"{API}/task/list").json()["items"]) == 6
    shot(page, "import-refused")


class _CrossSite(BaseHTTPRequestHandler):
    """A page of another origin that posts a form to the console (as a hostile site would)."""

    target = ""

    def do_GET(self) -> None:
        body = (
            f'<!doctype html><html><head><link rel="icon" href="data:,"></head><body>'
            f'<form method="post" action="{self.target}"><input name="reason" value="csrf"></form>'
            "<script>document.forms[0].submit()</script></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_cross_site_post_without_the_token_is_refused(
    page: Any, guard: Guard, api: httpx.Client, secret: str
) -> None:
    task_id = new_task(api, name="Guarded", schedule="0 9 * * *")
    sign_in(page, secret)
    base = page.url.split("/app/")[0]
    target = f"{base}/app/tasks/{task_id}/pause"

    # 1. The request API shares the page's cookies: the session is sent, the token is not.
    r = page.request.post(target, form={"reason": "csrf"}, max_redirects=0)
    assert r.status == 403
    # 2. A form on another origin (127.0.0.1 on another port: the same site, so even a SameSite=Strict cookie
    # goes along and only the token stops it).
    handler = type("H", (_CrossSite,), {"target": target})
    hostile = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=hostile.serve_forever, daemon=True).start()
    try:
        other = f"http://127.0.0.1:{hostile.server_address[1]}/"
        guard.allow(other)
        guard.expect_error("status of 403")
        with page.expect_response(lambda resp: resp.url == target) as answer:
            page.goto(other)
        assert answer.value.status == 403
        shot(page, "csrf-refused")
    finally:
        hostile.shutdown()
        hostile.server_close()
    assert fetch_task(api, task_id)["pausedAt"] is None
