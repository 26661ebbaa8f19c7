"""The console's Export downloads and Import upload over real HTTP (both backends): every format, a dry run
listing every bad row with nothing written, an import that round-trips an export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from html import unescape

import httpx

from tests.http_helpers import API, new_task
from tests.web_helpers import Console
from tests.web_helpers import console as console  # the fixture


def _upload(con: Console, name: str, body: bytes, action: str) -> httpx.Response:
    return con.web.post("/app/import", data={"csrf": con.csrf, "action": action}, files={"file": (name, body)})


def _tasks(con: Console) -> list[dict[str, object]]:
    return list(con.api.get(f"{API}/task/list", params={"order": "asc"}).json()["items"])


def test_export_formats(console: Callable[[], Console]) -> None:
    con = console()
    page = con.web.get("/app/export").text
    for label in ("Download JSON", "Download JSONL", "Download CSV"):
        assert label in page
    new_task(con.api, name="one", schedule="daily", meta={"team": "ops"})
    new_task(con.api, name="two")
    for fmt in ("json", "jsonl", "csv"):
        r = con.web.get(f"/app/export.{fmt}")
        assert r.status_code == 200
        assert r.headers["content-disposition"] == f'attachment; filename="agentcron-tasks.{fmt}"'
        if fmt == "json":
            names = [t["name"] for t in r.json()["items"]]
        elif fmt == "jsonl":
            names = [json.loads(line)["data"]["name"] for line in r.text.splitlines()]
        else:
            names = [row["name"] for row in csv.DictReader(io.StringIO(r.text))]
        assert sorted(names) == ["one", "two"], fmt
        assert "status" not in r.text.split("\n")[0] or fmt != "csv"  # configuration only, no run state


def test_import_dry_run_lists_every_bad_row(console: Callable[[], Console]) -> None:
    con = console()
    bad = b'[{"name": "a", "schedule": "bogus"}, {"name": "b"}, {"name": "c", "maxTime": -1}]'
    for action in ("check", "import"):
        r = _upload(con, "tasks.json", bad, action)
        assert r.status_code == 400
        rows = [(n, unescape(m)) for n, m in re.findall(r"<td>Row (\d+)</td><td>([^<]*)</td>", r.text)]
        assert [n for n, _ in rows] == ["1", "3"] and "Invalid schedule" in rows[0][1] and "maxTime" in rows[1][1]
        assert 'id="import-result"' in r.text and "nothing was imported" in r.text
    assert _tasks(con) == []
    r = con.web.post("/app/import", data={"csrf": con.csrf, "action": "check"})
    assert r.status_code == 400 and "Choose a file" in r.text
    assert con.web.post("/app/import", files={"file": ("t.json", b"[]")}).status_code == 403  # CSRF


def test_import_round_trip(console: Callable[[], Console]) -> None:
    source, target = console(), console()
    new_task(source.api, name="alpha", schedule="0 9 * * 1-5", timezone="Europe/Berlin")
    new_task(source.api, name="beta")
    exported = source.web.get("/app/export.csv").content
    r = _upload(target, "agentcron-tasks.csv", exported, "check")
    assert r.status_code == 200 and "All 2 rows" in r.text and _tasks(target) == []
    r = _upload(target, "agentcron-tasks.csv", exported, "import")
    assert r.status_code == 200 and "Imported 2 tasks" in r.text
    assert sorted(t["name"] for t in _tasks(target)) == ["alpha", "beta"]  # type: ignore[type-var]
    r = _upload(target, "again.jsonl", source.web.get("/app/export.jsonl").content, "import")
    assert "Imported 2 tasks" in r.text and len(_tasks(target)) == 4
