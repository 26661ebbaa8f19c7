"""Benchmark of the console (/app/), each figure against a baseline measured in the same run:

1. The Tasks page with 100 rows (``GET /app/tasks?take=100``, signed in by the session cookie) against
   ``GET /api/v1/task/list?take=100`` as JSON, both over the same 100 tasks: mean time per request over
   sequential keep-alive requests, interleaved in rounds, and the server's CPU time per request. Target:
   the page in <= 2x the JSON's time.
2. The JS and CSS the console ships: every script and stylesheet its pages (Tasks, task, task form, execution)
   reference, fetched and summed, uncompressed. Target: <= 200 KB.
3. A live timeline keeping up with a run of 200+ operations: a bot whose one ability is an MCP server over
   HTTP with 100 tools (bench/_mcp_many.py; the offline ``test`` model calls each once: 100 tool calls and
   101 model requests), triggered, and followed live (a) through the execution's events endpoint (the JSONL
   stream its timeline reads) and (b) in headless Chromium on the execution page. Counts every operation's
   begin and end on the stream and every ``li.op`` on the page when ``#timeline-state`` shows the end.
   Target: no event dropped (the page shows every operation the run's event log holds).

    python bench/console.py [--rounds 5] [--requests 100] [--tools 100] [--no-browser]

The server (all roles, SQLite in a temp dir) is pinned to core 0, this client to core 1.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from _common import free_port, pin
from api import cpu_seconds, stop_server

from agentcron.store.migrate import migrate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
API = "/api/v1"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

PAGE_TARGET = 2.0  # Tasks page time <= 2x task/list?take=100 JSON
ASSETS_TARGET = 200 * 1024  # JS + CSS bytes


class Http:
    """One keep-alive connection to the server, with the API secret or the console's session cookie."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = headers

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {**self.headers, **(headers or {})}
        if data is not None:
            hdrs["content-type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=hdrs)
            r = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):  # the server closed an idle keep-alive
            self.conn.close()
            self.conn.request(method, path, body=data, headers=hdrs)
            r = self.conn.getresponse()
        raw = r.read()
        if r.status >= 400:
            raise SystemExit(f"{method} {path}: {r.status} {raw[:300]!r}")
        return r, raw

    def json(self, method: str, path: str, body: Any = None) -> Any:
        return json.loads(self.request(method, path, body)[1])


def start(db_url: str, port: int, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [*pin(0), sys.executable, "-m", "agentcron", "serve", "--database-url", db_url, "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **env})
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, log)
    return proc


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {proc.returncode}; log: {log}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up; log: {log}")


def new_secret(db_url: str) -> str:
    from agentcron.store.base import open_store

    async def run() -> str:
        store = await open_store(db_url, run_migrations=False, pool_size=2)
        try:
            now = int(time.time() * 1000)
            return await store.accounts.create_token(await store.accounts.create_account("bench", now), now)
        finally:
            await store.close()

    return asyncio.run(run())


def sign_in(port: int, secret: str) -> str:
    """The session cookie (``name=value``) the sign-in form sets."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = urllib.parse.urlencode({"secret": secret})
    conn.request("POST", "/app/login", body=body, headers={"content-type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    cookies = [v.split(";", 1)[0] for k, v in r.getheaders() if k.lower() == "set-cookie"]
    if r.status >= 400 or not cookies:
        raise SystemExit(f"sign-in failed: {r.status} (is the console on this build?)")
    return "; ".join(cookies)


# -- 1. the Tasks page against the JSON list ----------------------------------------------------------


def make_tasks(api: Http) -> None:
    """100 tasks of one bot through the API: 5 schedules, 4 zones (the Tasks page's benchmarks)."""
    bot = api.json("POST", f"{API}/bot/create", {"name": "Bench bot", "model": "test"})["id"]
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
    schedules = ["0 9 * * 1-5", "*/15 * * * *", "daily", "30 2 * * *", "0 0 1 * *"]
    for i in range(100):
        body = {"name": f"Task {i:03d}", "botId": bot, "schedule": schedules[i % 5], "timezone": zones[i % 4]}
        api.json("POST", f"{API}/task/create", {**body, "description": "A task of bench/console.py", "meta": {"i": i}})


def bench_page(port: int, pid: int, secret: str, cookie: str, rounds: int, n: int) -> tuple[str, bool]:
    api = Http(port, {"authorization": f"Bearer {secret}"})
    make_tasks(api)
    page = Http(port, {"cookie": cookie})
    targets = {
        "json": (api, f"{API}/task/list?take=100"),
        "page": (page, "/app/tasks?take=100"),
    }
    _, html = page.request("GET", targets["page"][1])
    rows = len(re.findall(rb'<tr[^>]* id="task-', html))
    if rows != 100:
        raise SystemExit(f"the Tasks page shows {rows} rows, not 100")
    assert len(api.json("GET", targets["json"][1])["items"]) == 100
    times: dict[str, list[float]] = {"json": [], "page": []}
    cpu: dict[str, list[float]] = {"json": [], "page": []}
    for _ in range(rounds):
        for name, (client, path) in targets.items():
            for _ in range(max(5, n // 10)):  # warm-up
                client.request("GET", path)
            c0, t0 = cpu_seconds(pid), time.perf_counter()
            for _ in range(n):
                client.request("GET", path)
            times[name].append((time.perf_counter() - t0) / n * 1000)
            cpu[name].append((cpu_seconds(pid) - c0) / n * 1000)
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    mcpu = {k: sum(v) / len(v) for k, v in cpu.items()}
    ratio, cpu_ratio = mean["page"] / mean["json"], mcpu["page"] / mcpu["json"]
    ok = ratio <= PAGE_TARGET
    lines = [
        f"Tasks page vs JSON list, 100 rows, {rounds} interleaved rounds of {n} sequential keep-alive requests:",
        "",
        "| request | mean ms / request | server CPU ms / request | HTML or JSON bytes |",
        "|---|---:|---:|---:|",
        f"| `GET {API}/task/list?take=100` (JSON) | {mean['json']:.2f} | {mcpu['json']:.2f} "
        f"| {len(api.request('GET', targets['json'][1])[1]):,} |",
        f"| `GET /app/tasks?take=100` (page) | {mean['page']:.2f} | {mcpu['page']:.2f} | {len(html):,} |",
        "",
        f"- page / JSON = {ratio:.2f}x time, {cpu_ratio:.2f}x server CPU (target <= {PAGE_TARGET}x): "
        f"{'PASS' if ok else 'FAIL'}",
    ]
    return "\n".join(lines), ok


# -- 2. JS + CSS shipped --------------------------------------------------------------------------------


def bench_assets(port: int, cookie: str, pages: list[str]) -> tuple[str, bool]:
    client = Http(port, {"cookie": cookie})
    assets: dict[str, int] = {}
    for path in pages:
        _, html = client.request("GET", path)
        for ref in re.findall(rb'<script[^>]+src="([^"]+)"', html) + re.findall(
            rb'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', html
        ):
            url = ref.decode()
            if url not in assets:
                if not url.startswith("/"):
                    raise SystemExit(f"{path} loads {url} from another origin")
                assets[url] = len(client.request("GET", url)[1])
    total = sum(assets.values())
    ok = total <= ASSETS_TARGET
    lines = [
        f"JS and CSS the console ships (every script and stylesheet of {', '.join(pages)}), uncompressed:",
        "",
        "| asset | bytes |",
        "|---|---:|",
        *(f"| `{u}` | {b:,} |" for u, b in sorted(assets.items())),
        f"| **total** | **{total:,}** ({total / 1024:.1f} KB) |",
        "",
        f"- total {total / 1024:.1f} KB (target <= {ASSETS_TARGET // 1024} KB): {'PASS' if ok else 'FAIL'}",
    ]
    return "\n".join(lines), ok


# -- 3. a live timeline of a 200-operation run ----------------------------------------------------------


def follow_events(port: int, cookie: str, path: str, out: dict[str, Any]) -> None:
    """Read the execution's events endpoint (JSONL) to its end, counting by type."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers={"cookie": cookie, "accept": "application/jsonl"})
    r = conn.getresponse()
    counts: dict[str, int] = {}
    ops: set[str] = set()
    first = time.perf_counter()
    for line in r:
        if not line.strip():
            continue
        ev = json.loads(line)
        kind = ev.get("type", "?")
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "operationBegin":
            ops.add(ev["data"]["id"])
        if kind == "executionEnd":
            out["end_at"] = time.perf_counter()
    out.update(counts=counts, ops=len(ops), seconds=time.perf_counter() - first)


def bench_timeline(port: int, secret: str, cookie: str, tools: int, browser: bool, mcp_port: int) -> tuple[str, bool]:
    api = Http(port, {"authorization": f"Bearer {secret}"})
    ability = {"type": "mcp", "config": {"url": f"http://127.0.0.1:{mcp_port}/mcp"}}
    bot = api.json("POST", f"{API}/bot/create", {"name": "Many tools", "model": "test", "abilities": [ability]})["id"]
    task = api.json("POST", f"{API}/task/create", {"name": "200 operations", "botId": bot})["id"]
    api.json("POST", f"{API}/task/{task}/trigger", {})
    deadline = time.monotonic() + 30
    while True:
        items = api.json("GET", f"{API}/task/{task}/execution/list")["items"]
        if items:
            eid = items[0]["id"]
            break
        if time.monotonic() > deadline:
            raise SystemExit("the triggered run did not start")
        time.sleep(0.01)
    page_path = f"/app/tasks/{task}/executions/{eid}"
    stream: dict[str, Any] = {}
    reader = threading.Thread(target=follow_events, args=(port, cookie, page_path + "/events", stream))
    reader.start()
    shown: dict[str, Any] = {}
    if browser:
        shown = watch_in_chromium(port, cookie, page_path)
    reader.join(180)
    expected = 2 * tools + 1
    done = api.json("GET", f"{API}/task/{task}/execution/list")["items"][0]
    counts = stream.get("counts", {})
    ok = (
        done["status"] != "running"
        and stream.get("ops") == expected
        and counts.get("operationBegin") == counts.get("operationEnd") == expected
        and counts.get("executionEnd") == 1
        and (not browser or shown.get("ops") == expected)
    )
    lines = [
        f"A run of {tools} MCP tool calls and {tools + 1} model requests ({expected} operations, "
        f"{2 * expected + 2} events), followed live:",
        "",
        "| consumer | operations shown | events (begin / end) | run's final state seen |",
        "|---|---:|---:|---|",
        f"| events endpoint (JSONL) | {stream.get('ops')} | {counts.get('operationBegin')} / "
        f"{counts.get('operationEnd')} | {'executionEnd' if counts.get('executionEnd') else 'no'} "
        f"after {stream.get('seconds', 0):.1f} s |",
    ]
    if browser:
        lines.append(
            f"| Chromium, execution page (`li.op`) | {shown.get('ops')} | - | `{shown.get('state')}` after "
            f"{shown.get('seconds', 0):.1f} s |"
        )
    lines += [
        "",
        f"- run {done['status']}/{done['outcome']}; every operation shown, none dropped (expected {expected}): "
        f"{'PASS' if ok else 'FAIL'}",
    ]
    return "\n".join(lines), ok


def watch_in_chromium(port: int, cookie: str, path: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    name, _, value = cookie.split(";", 1)[0].partition("=")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context()
            context.add_cookies([{"name": name, "value": value, "url": f"http://127.0.0.1:{port}"}])
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}{path}")
            state = "document.querySelector('#timeline-state')?.textContent || 'running'"
            page.wait_for_function(f"() => !/running|queued/.test({state})", timeout=180_000)
            seconds = time.perf_counter() - t0
            page.wait_for_timeout(300)  # anything still in flight
            ops = page.locator("#timeline li.op").count()
            state = page.locator("#timeline-state").inner_text().strip()
            if errors:
                raise SystemExit(f"JS errors on the execution page: {errors}")
            return {"ops": ops, "state": state, "seconds": seconds}
        finally:
            browser.close()


def console_pages(port: int, secret: str) -> list[str]:
    """The Tasks page, a task's page and form, and an execution's page (when the account has one)."""
    api = Http(port, {"authorization": f"Bearer {secret}"})
    task = api.json("GET", f"{API}/task/list?take=1")["items"][0]["id"]
    pages = ["/app/tasks", f"/app/tasks/{task}", "/app/tasks/new"]
    for t in api.json("GET", f"{API}/task/list")["items"]:
        runs = api.json("GET", f"{API}/task/{t['id']}/execution/list?take=1")["items"]
        if runs:
            pages.append(f"/app/tasks/{t['id']}/executions/{runs[0]['id']}")
            break
    return pages


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--requests", type=int, default=100, help="sequential requests per cell")
    p.add_argument("--tools", type=int, default=100, help="MCP tools of the timeline run (operations = 2N + 1)")
    p.add_argument("--no-browser", action="store_true", help="follow the timeline only through the events endpoint")
    p.add_argument("--only", choices=("page", "timeline", "assets"), action="append", help="run only these parts")
    args = p.parse_args()
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    work = Path(tempfile.mkdtemp(prefix="agentcron-console-bench-"))
    db_url = f"sqlite:///{work / 'bench.db'}"
    asyncio.run(migrate(db_url))
    secret = new_secret(db_url)
    port, mcp_port = free_port(), free_port()
    mcp = subprocess.Popen(
        [*pin(1), sys.executable, str(HERE / "_mcp_many.py"), "--port", str(mcp_port), "--tools", str(args.tools)],
        stdout=subprocess.DEVNULL,
        stderr=open(work / "mcp.log", "wb"),  # (the child keeps its own descriptor)
    )
    proc = start(db_url, port, work / "server.log", {"AGENTCRON_HTTP_ALLOW": f"127.0.0.1:{mcp_port}"})
    ok = True
    reports = []
    try:
        wait_http(f"http://127.0.0.1:{mcp_port}/mcp", mcp, work / "mcp.log")
        cookie = sign_in(port, secret)
        parts = args.only or ["page", "timeline", "assets"]
        for part in parts:
            if part == "page":
                text, passed = bench_page(port, proc.pid, secret, cookie, args.rounds, args.requests)
            elif part == "timeline":
                text, passed = bench_timeline(port, secret, cookie, args.tools, not args.no_browser, mcp_port)
            else:
                text, passed = bench_assets(port, cookie, console_pages(port, secret))
            reports.append(text)
            print(text + "\n", flush=True)
            ok &= passed
    finally:
        stop_server(proc)
        stop_server(mcp)
    print("=" * 80 + "\n" + "\n\n".join(reports))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
