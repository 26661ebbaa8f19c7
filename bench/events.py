"""Benchmark of task event streaming: N concurrent ``POST task/{id}/subscribe`` JSONL streams on ONE API
process while one run emits events, plus replay of 1,000 history events.

    python bench/events.py [--subscribers 1000] [--backend sqlite|postgres|both] [--rounds 3]

Per backend: a fresh database (SQLite file in a temp dir / a new PostgreSQL database), one account, and
- SQLite: ``agentcron serve --role all`` (in-process fan-out);
- PostgreSQL: ``agentcron serve --role api`` + a headless ``--role scheduler,worker`` process: every event
  crosses processes (worker INSERT + NOTIFY -> the API process's one LISTEN connection -> fan-out).
The server side is pinned to core 0 (the API process, and on PostgreSQL the headless worker too) and this
client (asyncio + raw sockets, uvloop) to core 1 alone (``taskset``/``sched_setaffinity`` when there are
2+ cores): the same split as SQLite's single ``--role all`` process. With the worker on the client's core,
p99 measured the client's share of a core as much as delivery (PostgreSQL burst rounds 57-195 ms, against
52-60 ms with the client alone).

Measured, each against a baseline taken in the same run:
- RSS per idle subscriber: API process VmRSS before/after N idle subscribe streams; baseline: a fresh API
  process of the same kind before/after N idle keep-alive connections that made one ``GET /healthz``.
- Delivery latency = time a subscriber reads the line - the event's ``createdAt`` (same clock, loopback),
  per event per subscriber, for a run of 20 abilities (40 events): ``spaced`` (20 ``wait`` 0.05 s: pairs of
  events 50 ms apart) and ``burst`` (20 ``time``: 40 events back to back). Baseline: one ``GET /healthz``
  sent on each of the N connections at once (latency to the response), i.e. the same 1:N fan-out as plain
  requests.
- Replay: ``historyLength=1000`` over 1,000 persisted events, request sent -> 1,000th line read; baseline:
  sequential ``GET /healthz`` on one keep-alive connection.

Targets (issue): delivery p99 < 100 ms; < 64 KB RSS per idle subscriber; replay of 1,000 events < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from _common import free_port, pg_admin, pin

from agentcron.clock import SystemClock
from agentcron.config import Settings
from agentcron.events import open_event_bus
from agentcron.store.base import open_store
from agentcron.store.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"

LATENCY_TARGET_MS = 100.0
RSS_TARGET_KB = 64.0
REPLAY_TARGET_MS = 100.0
ABILITIES = 20
PATTERNS: dict[str, list[dict[str, Any]]] = {
    "spaced": [{"type": "wait", "config": {"seconds": 0.05}}] * ABILITIES,
    "burst": [{"type": "time", "config": {"timezone": "UTC"}}] * ABILITIES,
}

_decode = msgspec.json.Decoder()


def now_ms() -> float:
    return time.time() * 1000.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100.0 * len(s) + 0.5) - 1))]


# -- processes ------------------------------------------------------------------------------------------


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn(url: str, role: str, core: int, workdir: Path, http: bool = True) -> Proc:
    port = free_port()
    log = workdir / f"server-{role.replace(',', '+')}-{port}.log"
    cmd = [*pin(core), sys.executable, "-m", "agentcron", "serve", "--role", role]
    cmd += ["--database-url", url, "--port", str(port)]
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    p = Proc(proc, port, log)
    if not http:
        return p
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; log: {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            if s.recv(100).startswith(b"HTTP/1.1 200"):
                return p
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not come up; log: {log}")


def stop(p: Proc) -> None:
    p.proc.terminate()
    try:
        p.proc.wait(15)
    except subprocess.TimeoutExpired:
        p.proc.kill()
        p.proc.wait()


# -- raw HTTP client ------------------------------------------------------------------------------------


def _request(method: str, path: str, secret: str, body: bytes | None = None, accept: str = "application/json") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: {accept}\r\nauthorization: Bearer {secret}\r\n"
    if body is not None:
        head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    out = b""
    async for chunk in _chunks(reader):
        out += chunk
    return out


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def call(port: int, method: str, path: str, secret: str, body: Any = None) -> Any:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        payload = None if body is None else msgspec.json.encode(body)
        writer.write(_request(method, path, secret, payload))
        status, headers = await _read_head(reader)
        data = await _read_body(reader, headers)
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status}: {data[:300]!r}")
        return _decode.decode(data) if data else None
    finally:
        writer.close()


class Stream:
    """One subscribe stream; ``lines()`` yields (receive time ms, decoded event)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buf = b""

    @classmethod
    async def open(cls, port: int, task_id: str, secret: str, history: int = 0) -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = msgspec.json.encode({"historyLength": history})
        writer.write(_request("POST", f"/api/v1/task/{task_id}/subscribe", secret, body, "application/jsonl"))
        status, headers = await _read_head(reader)
        if status != 200 or headers.get("transfer-encoding") != "chunked":
            raise RuntimeError(f"subscribe -> {status} {headers}")
        return cls(reader, writer)

    async def lines(self) -> AsyncIterator[tuple[float, dict[str, Any]]]:
        async for chunk in _chunks(self.reader):
            t = now_ms()
            self.buf += chunk
            *complete, self.buf = self.buf.split(b"\n")
            for line in complete:
                if not line:
                    raise RuntimeError("blank line in the stream")
                yield t, _decode.decode(line)

    def close(self) -> None:
        self.writer.close()


async def open_many(n: int, opener: Any, batch: int = 100) -> list[Any]:
    out: list[Any] = []
    for i in range(0, n, batch):  # ramp: 100 connections at a time
        out += await asyncio.gather(*(opener() for _ in range(min(batch, n - i))))
    return out


async def settle_rss(p: Proc, seconds: float = 1.0) -> int:
    await asyncio.sleep(seconds)
    return p.rss_kb()


# -- measurements ---------------------------------------------------------------------------------------


@dataclass
class Figures:
    backend: str
    rss_base_kb: int = 0
    rss_subs_kb: int = 0
    rss_loaded_kb: int = 0
    kb_per_sub: float = 0.0
    kb_per_conn_baseline: float = 0.0
    healthz_fanout_ms: list[float] = field(default_factory=list)
    healthz_seq_ms: list[float] = field(default_factory=list)
    delivery_ms: dict[str, list[float]] = field(default_factory=dict)
    fanout_done_ms: dict[str, list[float]] = field(default_factory=dict)  # per event: last subscriber
    cpu_us_per_line: dict[str, float] = field(default_factory=dict)
    replay_ms: list[float] = field(default_factory=list)


async def healthz_sequential(port: int, n: int) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            _, headers = await _read_head(reader)
            await _read_body(reader, headers)
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        writer.close()
    return out


async def idle_connection_baseline(url: str, role: str, n: int, workdir: Path) -> tuple[float, list[float]]:
    """A fresh API process: KB of RSS per idle keep-alive connection, and the latency of N concurrent
    ``GET /healthz`` (one per connection, all sent at once)."""
    p = spawn(url, role, 0, workdir)
    try:
        await healthz_sequential(p.port, 200)  # warm-up
        before = await settle_rss(p)

        async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            _, headers = await _read_head(reader)
            await _read_body(reader, headers)
            return reader, writer

        conns = await open_many(n, one)
        after = await settle_rss(p)

        async def timed(reader: asyncio.StreamReader, t0: float) -> float:
            _, headers = await _read_head(reader)
            await _read_body(reader, headers)
            return now_ms() - t0

        t0 = now_ms()
        for _, writer in conns:
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        lat = await asyncio.gather(*(timed(reader, t0) for reader, _ in conns))
        for _, writer in conns:
            writer.close()
        return (after - before) / n, list(lat)
    finally:
        stop(p)


async def deliver(
    api: Proc, streams: list[Stream], port: int, secret: str, task_id: str, expected: int
) -> tuple[list[float], list[float], float]:
    """Trigger one run; every stream must read ``expected`` operation events. Returns per-(event, subscriber)
    latencies, per-event time until the last subscriber had it, and API CPU seconds used."""
    lat: list[float] = []
    last_rx: dict[tuple[str, str], float] = {}
    created: dict[tuple[str, str], int] = {}

    async def consume(s: Stream) -> None:
        got = 0
        async for t, e in s.lines():
            if e["type"] not in ("operationBegin", "operationEnd"):
                continue
            lat.append(t - e["createdAt"])
            key = (e["type"], e["data"]["id"])
            created[key] = e["createdAt"]
            last_rx[key] = max(last_rx.get(key, 0.0), t)
            got += 1
            if got == expected:
                return

    cpu0, client0 = api.cpu_s(), time.process_time()
    consumers = [asyncio.ensure_future(consume(s)) for s in streams]
    await call(port, "POST", f"/api/v1/task/{task_id}/trigger", secret, {})
    done, pending = await asyncio.wait(consumers, timeout=120)
    cpu = api.cpu_s() - cpu0
    log(f"  client CPU {time.process_time() - client0:.2f} s (this process, core 1)")
    for c in pending:
        c.cancel()
    for c in done:
        c.result()
    if pending:
        raise RuntimeError(f"{len(pending)} subscribers did not get all {expected} events within 120 s")
    fanout = [last_rx[k] - created[k] for k in last_rx]
    return lat, fanout, cpu


def profiler(api: Proc, out_dir: str | None, label: str) -> subprocess.Popen[bytes] | None:
    """``--profile DIR``: py-spy (from this venv) records the API process during the delivery rounds,
    collapsed stacks in DIR/<backend>-<pattern>.txt (with idle frames, so waiting shows as well)."""
    if not out_dir:
        return None
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        log("py-spy not found: no profile")
        return None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    out = Path(out_dir) / f"{label}.txt"
    cmd = [spy, "record", "-p", str(api.pid), "-f", "raw", "-r", "250", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attach
    return proc


async def replay(port: int, task_id: str, secret: str, n: int) -> float:
    t0 = now_ms()
    s = await Stream.open(port, task_id, secret, history=n)
    got = 0
    try:
        async for _, _e in s.lines():
            got += 1
            if got == n:
                return now_ms() - t0
    finally:
        s.close()
    raise RuntimeError(f"replay ended after {got} lines")


async def wait_finished(port: int, secret: str, task_id: str, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while True:
        page = await call(port, "GET", f"/api/v1/task/{task_id}/execution/list?take=100", secret)
        items = page["items"]
        if items and all(x["status"] != "running" and x["outcome"] != "pending" for x in items):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"run of {task_id} did not finish: {items}")
        await asyncio.sleep(0.05)


async def count_events(url: str, task_id: str) -> int:
    store = await open_store(url, run_migrations=False, pool_size=1)
    try:
        async with store.db.tx() as tx:
            row = await tx.fetchrow("SELECT COUNT(*) AS n FROM task_events WHERE task_id = $1", task_id)
        assert row is not None
        return int(row["n"])
    finally:
        await store.close()


async def persist_events(url: str, account_id: str, task_id: str, n: int) -> None:
    store = await open_store(url, run_migrations=False, pool_size=2)
    try:
        bus = open_event_bus(store, SystemClock(), Settings())
        data = {"id": "x", "action": {"id": "ability-0", "kind": "function", "name": "time", "input": {}}}
        for _ in range(n):
            await bus.publish(account_id, task_id, None, "operationEnd", data)
    finally:
        await store.close()


async def create_secret(url: str) -> tuple[str, str]:
    store = await open_store(url, run_migrations=False, pool_size=2)
    try:
        now = int(time.time() * 1000)
        account_id = await store.accounts.create_account("bench-events", now)
        return account_id, await store.accounts.create_token(account_id, now)
    finally:
        await store.close()


async def bench_backend(backend: str, url: str, args: argparse.Namespace, workdir: Path) -> Figures:
    n = args.subscribers
    fig = Figures(backend)
    account_id, secret = await create_secret(url)
    api_role = "all" if backend == "sqlite" else "api"
    log(f"[{backend}] baseline: fresh --role {api_role} process, {n} idle keep-alive connections")
    fig.kb_per_conn_baseline, fig.healthz_fanout_ms = await idle_connection_baseline(url, api_role, n, workdir)
    procs: list[Proc] = []
    try:
        api = spawn(url, api_role, 0, workdir)
        procs.append(api)
        if backend != "sqlite":
            procs.append(spawn(url, "scheduler,worker", 0, workdir, http=False))
        tasks = {}
        for name, abilities in PATTERNS.items():
            bot = await call(api.port, "POST", "/api/v1/bot/create", secret, {"name": name, "abilities": abilities})
            task = await call(api.port, "POST", "/api/v1/task/create", secret, {"name": name, "botId": bot["id"]})
            tasks[name] = task["id"]
        # warm-up: one full run per task (imports, statement caches, worker loop), which also tells how many
        # events a run emits (the runner may add operations of its own to the 2 per ability)
        per_run: dict[str, int] = {}
        for name in PATTERNS:
            await call(api.port, "POST", f"/api/v1/task/{tasks[name]}/trigger", secret, {})
            await wait_finished(api.port, secret, tasks[name])
            per_run[name] = await count_events(url, tasks[name])
            log(f"[{backend}] a `{name}` run emits {per_run[name]} events")
        fig.healthz_seq_ms = await healthz_sequential(api.port, 500)
        for name in PATTERNS:
            base = await settle_rss(api)
            streams = await open_many(n, lambda name=name: Stream.open(api.port, tasks[name], secret))
            rss = await settle_rss(api)
            if name == "spaced":  # the first set of subscribers on this process: the RSS figure
                fig.rss_base_kb, fig.rss_subs_kb = base, rss
                fig.kb_per_sub = (rss - fig.rss_base_kb) / n
                log(f"[{backend}] {n} idle subscribers: RSS {fig.rss_base_kb} -> {rss} KB")
            lat_all: list[float] = []
            fan_all: list[float] = []
            cpu_all = 0.0
            spy = profiler(api, args.profile, f"{backend}-{name}")
            for r in range(args.rounds):
                lat, fan, cpu = await deliver(api, streams, api.port, secret, tasks[name], per_run[name])
                lat_all += lat
                fan_all += fan
                cpu_all += cpu
                log(
                    f"[{backend}] {name} round {r + 1}: delivery p50 {pct(lat, 50):.1f} p99 {pct(lat, 99):.1f} "
                    f"max {max(lat):.1f} ms; API CPU {cpu:.2f} s"
                )
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(30)
            fig.delivery_ms[name] = lat_all
            fig.fanout_done_ms[name] = fan_all
            fig.cpu_us_per_line[name] = cpu_all / (args.rounds * per_run[name] * n) * 1e6
            fig.rss_loaded_kb = max(fig.rss_loaded_kb, api.rss_kb())
            for s in streams:
                s.close()
            await asyncio.sleep(1.0)  # let the server notice the disconnects
        log(f"[{backend}] persisting 1000 events for replay")
        chatty = (await call(api.port, "POST", "/api/v1/task/create", secret, {"name": "replay"}))["id"]
        await persist_events(url, account_id, chatty, 1000)
        await replay(api.port, chatty, secret, 1000)  # warm-up
        for _ in range(args.replays):
            fig.replay_ms.append(await replay(api.port, chatty, secret, 1000))
        return fig
    finally:
        for p in reversed(procs):
            stop(p)


# -- databases ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def database(backend: str, pg_url: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'events.db'}"
        asyncio.run(migrate(url))
        yield url
        return
    name = f"agentcron_bench_events_{secrets.token_hex(4)}"
    asyncio.run(pg_admin(pg_url, f'CREATE DATABASE "{name}"'))
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        asyncio.run(pg_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- report ---------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def report(fig: Figures, n: int) -> tuple[str, bool]:
    ok = True

    def verdict(passed: bool) -> str:
        nonlocal ok
        ok = ok and passed
        return "PASS" if passed else "FAIL"

    h50, h99 = pct(fig.healthz_fanout_ms, 50), pct(fig.healthz_fanout_ms, 99)
    s50 = pct(fig.healthz_seq_ms, 50)
    rows = [
        f"## {fig.backend}: {n} subscribers on one API process",
        "| measure | value | baseline (same run) | ratio | target | |",
        "|---|---:|---:|---:|---:|---|",
        f"| RSS per idle subscriber | {fig.kb_per_sub:.1f} KB | {fig.kb_per_conn_baseline:.1f} KB per idle "
        f"keep-alive conn | {fig.kb_per_sub / max(fig.kb_per_conn_baseline, 0.1):.1f}x | < {RSS_TARGET_KB:g} KB "
        f"| {verdict(fig.kb_per_sub < RSS_TARGET_KB)} |",
    ]
    for name, lat in fig.delivery_ms.items():
        p50, p99 = pct(lat, 50), pct(lat, 99)
        fan = fig.fanout_done_ms[name]
        rows.append(
            f"| delivery `{name}` p50 / p99 (max) | {p50:.1f} / {p99:.1f} ({max(lat):.0f}) ms | {h50:.1f} / {h99:.1f} "
            f"ms: {n} concurrent GET /healthz | {p99 / max(h99, 0.1):.2f}x | p99 < {LATENCY_TARGET_MS:g} ms "
            f"| {verdict(p99 < LATENCY_TARGET_MS)} |"
        )
        rows.append(
            f"| `{name}`: event -> last subscriber p50 / max; API process CPU per line "
            f"| {pct(fan, 50):.1f} / {max(fan):.1f} ms; {fig.cpu_us_per_line[name]:.0f} us | | | | |"
        )
    r50, r99 = pct(fig.replay_ms, 50), pct(fig.replay_ms, 99)
    rows.append(
        f"| replay of 1,000 events p50 / p99 | {r50:.1f} / {r99:.1f} ms | {s50:.2f} ms: GET /healthz "
        f"| {r50 / max(s50, 0.01):.0f}x | < {REPLAY_TARGET_MS:g} ms | {verdict(r99 < REPLAY_TARGET_MS)} |"
    )
    rows.append(
        f"| API RSS idle / {n} subscribers / after load | {fig.rss_base_kb / 1024:.0f} / {fig.rss_subs_kb / 1024:.0f}"
        f" / {fig.rss_loaded_kb / 1024:.0f} MB | | | | |"
    )
    return "\n".join(rows), ok


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=3, help="runs per pattern on the same subscribers")
    ap.add_argument("--replays", type=int, default=30)
    ap.add_argument("--profile", metavar="DIR", help="py-spy record the API process during delivery into DIR")
    ap.add_argument("--pg-url", default=os.environ.get("AGENTCRON_TEST_PG", PG_DEFAULT))
    args = ap.parse_args()
    if _cores() >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # this client on core 1; the API process goes to core 0
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.subscribers + 256)), hard))
    except (ImportError, ValueError, OSError):
        pass
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    all_ok = True
    tables = []
    with tempfile.TemporaryDirectory(prefix="agentcron-bench-events-") as tmp:
        for backend in backends:
            workdir = Path(tmp) / backend
            workdir.mkdir()
            with database(backend, args.pg_url, workdir) as url:
                fig = _run(bench_backend(backend, url, args, workdir))
            table, ok = report(fig, args.subscribers)
            tables.append(table)
            all_ok = all_ok and ok
    print("\n\n".join(tables))
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
