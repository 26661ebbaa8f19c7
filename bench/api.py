"""HTTP benchmark of the task API: ``task/{id}/fetch`` and ``task/list`` (take=100, page 1 and a page deep
in N tasks) next to the same server's bare no-DB endpoint (``GET /healthz``), measured in the same run.

    python bench/api.py [--tasks 1000000] [--backend sqlite|postgres|both] [--duration 10] [--connections 32]

For each backend: create a fresh database (SQLite file in a temp dir / a new PostgreSQL database on the
server of ``--pg-url``), migrate it, bulk-load N tasks for one account (sqlite3 executemany / asyncpg COPY,
big transactions, ids from ``ids.new_id(created_at)`` with distinct increasing ``created_at``), create an
API secret, start ``python -m agentcron serve --role api`` pinned to core 0 and drive it from a bounded
load generator pinned to core 1 (``wrk -t1 -cC`` if installed, else bench/_loadgen.py). The database is
dropped afterwards unless ``--keep``.

Targets (issue): fetch >= 0.5x the bare endpoint's requests/s; the deep page within 1.2x of page 1;
``task/list?take=100`` (page 1) >= 0.2x.

Besides req/s, each cell records the server process's CPU time per request (``/proc/PID/stat``): on a machine
shared with other work req/s swings with the neighbours' load, while the server's CPU cost per request does
not, so the report also gives each endpoint's CPU-per-request ratio to the bare endpoint's (the req/s ratio a
CPU-bound server would reach).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import free_port, pg_admin, pin

from agentcron import ids
from agentcron.store import schema
from agentcron.store.base import open_store
from agentcron.store.migrate import migrate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 50_000
FETCH_ID_SAMPLE = 10_000

FETCH_TARGET = 0.5  # fetch req/s >= 0.5 x bare
LIST_TARGET = 0.2  # task/list?take=100 req/s >= 0.2 x bare
DEPTH_TARGET = 1.2  # max/min of page-1 and deep-page req/s <= 1.2

WRK_LUA = r"""
local ids_path = os.getenv("BENCH_IDS")
if ids_path then
  local ids = {}
  for line in io.lines(ids_path) do ids[#ids + 1] = line end
  math.randomseed(os.time())
  request = function()
    return wrk.format(nil, "/api/v1/task/" .. ids[math.random(#ids)] .. "/fetch")
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH-RESULT %d %d %.1f %.1f %.1f %d %d %d %d %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


# -- data loading ---------------------------------------------------------------------------------------


def _task_columns() -> list[str]:
    """The tasks columns the loader fills. Unknown future columns are left to their defaults when that is
    possible; a new NOT NULL column without a server default fails loudly here."""
    known = set(_row_values(0, "x", "a", 0))
    cols = []
    for c in schema.tasks.columns:
        if c.name in known:
            cols.append(c.name)
        elif not c.nullable and c.server_default is None:
            raise SystemExit(f"bench/api.py does not know how to fill NOT NULL column tasks.{c.name}")
    return cols


def _row_values(i: int, id_: str, account_id: str, created_at: int) -> dict[str, Any]:
    return {
        "id": id_,
        "account_id": account_id,
        "name": f"Benchmark task {i}",
        "description": "A task loaded by bench/api.py",
        "blueprint_id": None,
        "bot_id": None,
        "contact_id": None,
        "schedule": "never",
        "timezone": "UTC",
        "session_duration": None,
        "max_iterations": None,
        "max_time": None,
        "max_calls": None,
        "overlap_policy": "skip",
        "misfire_policy": "coalesce",
        "meta": json.dumps({"bench": True, "n": i}, separators=(",", ":")),
        "status": "idle",
        "outcome": "pending",
        "missed_count": 0,
        "last_run_at": None,
        "next_run_at": None,
        "expires_at": None,
        "deleted_at": None,
        "created_at": created_at,
        "updated_at": created_at,
    }


@dataclass
class Loaded:
    n: int
    fetch_ids: list[str]
    deep_cursor: str
    deep_first: str  # the id the deep page must start with
    page1_first: str
    seconds: float
    post_seconds: float = 0.0  # checkpoint / VACUUM ANALYZE after the load


def _chunks(
    n: int, account_id: str, cols: list[str], base_ms: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[str]]]:
    """Rows in ascending created_at (1 ms apart, so every created_at is distinct), CHUNK at a time."""
    template = list(_row_values(0, "", account_id, 0)[c] for c in cols)
    varying = {c: cols.index(c) for c in ("id", "name", "meta", "created_at", "updated_at")}
    i_id, i_name, i_meta, i_created, i_updated = varying.values()
    assert _row_values(7, "x", account_id, 9)["meta"] == '{"bench":true,"n":7}'
    for start in range(0, n, CHUNK):
        rows = []
        chunk_ids = []
        for i in range(start, min(n, start + CHUNK)):
            at = base_ms + i
            id_ = ids.new_id(at)  # embeds `at`: created_at == ids.id_time(id), as cursors require
            row = template.copy()
            row[i_id] = id_
            row[i_name] = f"Benchmark task {i}"
            row[i_meta] = f'{{"bench":true,"n":{i}}}'
            row[i_created] = row[i_updated] = at
            rows.append(tuple(row))
            chunk_ids.append(id_)
        assert ids.id_time(chunk_ids[0]) == base_ms + start
        yield rows, chunk_ids


def _pick(n: int, all_ids: list[str], seconds: float) -> Loaded:
    deep = int(n * 0.9)  # newest-first order: the deep page starts at item #deep (0-based)
    # Page after cursor = items strictly older than it; in ascending index terms item #k (newest first)
    # is all_ids[n - 1 - k], so the cursor is item #deep-1.
    cursor = all_ids[n - 1 - (deep - 1)]
    rnd = random.Random(42)
    sample = rnd.sample(all_ids, min(FETCH_ID_SAMPLE, n))
    return Loaded(n, sample, cursor, all_ids[n - 1 - deep], all_ids[-1], seconds)


def load_sqlite(path: str, n: int, account_id: str) -> Loaded:
    cols = _task_columns()
    sql = f"INSERT INTO tasks ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    base = int(time.time() * 1000) - n - 60_000
    all_ids: list[str] = []
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    for k, (rows, chunk_ids) in enumerate(_chunks(n, account_id, cols, base)):
        conn.executemany(sql, rows)
        all_ids.extend(chunk_ids)
        if k % 4 == 3:  # 200k rows per transaction
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    loaded = _pick(n, all_ids, seconds)
    loaded.post_seconds = time.perf_counter() - t1
    return loaded


async def load_postgres(url: str, n: int, account_id: str) -> Loaded:
    import asyncpg

    cols = _task_columns()
    conn = await asyncpg.connect(url)
    base = int(time.time() * 1000) - n - 60_000
    all_ids: list[str] = []
    t0 = time.perf_counter()
    try:
        async with conn.transaction():
            for rows, chunk_ids in _chunks(n, account_id, cols, base):
                await conn.copy_records_to_table("tasks", records=rows, columns=cols)
                all_ids.extend(chunk_ids)
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        # What autovacuum would do shortly after such a load: statistics, hint bits, visibility map.
        await conn.execute("VACUUM (ANALYZE) tasks")
        post = time.perf_counter() - t1
    finally:
        await conn.close()
    loaded = _pick(n, all_ids, seconds)
    loaded.post_seconds = post
    return loaded


async def create_secret(url: str) -> tuple[str, str]:
    store = await open_store(url, run_migrations=False, pool_size=2)
    try:
        now = int(time.time() * 1000)
        account_id = await store.accounts.create_account("bench", now - 3_600_000)
        return account_id, await store.accounts.create_token(account_id, now - 3_600_000)
    finally:
        await store.close()


# -- server and load generator --------------------------------------------------------------------------


def start_server(url: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    cmd = [*pin(0), sys.executable, "-m", "agentcron", "serve", "--role", "api"]
    cmd += ["--database-url", url, "--port", str(port)]
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; log: {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not come up; log: {log_path}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _get_json(port: int, path: str, secret: str) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def check_responses(port: int, secret: str, loaded: Loaded) -> None:
    """The measured requests return what they should (a benchmark of 404s would be meaningless)."""
    item = _get_json(port, f"/api/v1/task/{loaded.fetch_ids[0]}/fetch", secret)
    assert item["id"] == loaded.fetch_ids[0], item
    page = _get_json(port, "/api/v1/task/list?take=100", secret)
    assert len(page["items"]) == 100 and page["items"][0]["id"] == loaded.page1_first, "page 1 is wrong"
    deep = _get_json(port, f"/api/v1/task/list?take=100&cursor={loaded.deep_cursor}", secret)
    assert len(deep["items"]) == 100 and deep["items"][0]["id"] == loaded.deep_first, "deep page is wrong"


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    error_detail: str = ""
    #: the server process's CPU time (user + system) per request, microseconds (0 when unknown)
    cpu_us: float = 0.0


def parse_result(out: str) -> Result:
    for line in out.splitlines():
        if line.startswith("BENCH-RESULT "):
            f = line.split()[1:]
            reqs, dur_us = int(f[0]), int(f[1])
            errors = sum(int(x) for x in f[5:10])
            detail = " ".join(
                f"{k}={v}" for k, v in zip(("connect", "read", "write", "status", "timeout"), f[5:10], strict=True)
            )
            return Result(reqs / (dur_us / 1e6), float(f[2]) / 1000, float(f[3]) / 1000, reqs, errors, detail)
    raise RuntimeError("load generator printed no result:\n" + out)


@dataclass
class Generator:
    name: str
    workdir: Path
    connections: int
    lua: Path | None = None
    ids_file: Path | None = None

    @classmethod
    def pick(cls, workdir: Path, connections: int, force_python: bool) -> Generator:
        wrk = None if force_python else shutil.which("wrk")
        gen = cls(
            f"wrk -t1 -c{connections}" if wrk else f"bench/_loadgen.py (asyncio, {connections} conns)",
            workdir,
            connections,
        )
        if wrk:
            gen.lua = workdir / "bench.lua"
            gen.lua.write_text(WRK_LUA)
        return gen

    def run(self, port: int, secret: str, path: str | None, fetch_ids: list[str] | None, duration: float) -> Result:
        base = f"http://127.0.0.1:{port}"
        auth = f"Authorization: Bearer {secret}"
        env = dict(os.environ)
        if self.lua is not None:
            secs = max(1, round(duration))
            cmd = [
                *pin(1),
                "wrk",
                "-t1",
                f"-c{self.connections}",
                f"-d{secs}s",
                "--latency",
                "--timeout",
                "30s",
                "-H",
                auth,
            ]
            cmd += ["-s", str(self.lua), base + (path or "/")]
            if fetch_ids is not None:
                ids_file = self.workdir / "ids.txt"
                ids_file.write_text("\n".join(fetch_ids) + "\n")
                env["BENCH_IDS"] = str(ids_file)
        else:
            cmd = [*pin(1), sys.executable, str(HERE / "_loadgen.py"), "--url", base, "-H", auth]
            cmd += ["--connections", str(self.connections), "--duration", str(duration)]
            if fetch_ids is not None:
                ids_file = self.workdir / "paths.txt"
                ids_file.write_text("".join(f"/api/v1/task/{i}/fetch\n" for i in fetch_ids))
                cmd += ["--paths-file", str(ids_file)]
            else:
                cmd += ["--path", path or "/"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 60)
        if out.returncode != 0:
            raise RuntimeError(f"load generator failed ({out.returncode}): {out.stderr}")
        return parse_result(out.stdout)


# -- the benchmark --------------------------------------------------------------------------------------

ENDPOINTS = ("healthz", "fetch", "page1", "deep")
LABELS = {
    "healthz": "GET /healthz (bare, no DB)",
    "fetch": "GET task/{id}/fetch (random id)",
    "page1": "GET task/list?take=100 (page 1)",
    "deep": "GET task/list?take=100&cursor=<~90% deep>",
}


@dataclass
class BackendRun:
    backend: str
    n: int
    load_s: float
    post_s: float
    generator: str
    pg_pinned: int = 0  # PostgreSQL backends of the scratch database moved to --pg-core
    pg_core: str = "none"
    rounds: dict[str, list[Result]] = field(default_factory=dict)

    def mean(self, ep: str, attr: str) -> float:
        rs = self.rounds[ep]
        return sum(getattr(r, attr) for r in rs) / len(rs)


def bench_backend(backend: str, args: argparse.Namespace, workdir: Path) -> BackendRun:
    db_dir = workdir / backend
    db_dir.mkdir()
    admin_url: str | None = None
    dbname = ""
    if backend == "sqlite":
        url = f"sqlite:///{db_dir / 'bench.db'}"
    else:
        admin_url = args.pg_url
        dbname = f"agentcron_bench_{os.getpid()}"
        asyncio.run(pg_admin(admin_url, f"CREATE DATABASE {dbname}"))
        url = admin_url.rsplit("/", 1)[0] + "/" + dbname
    proc = None
    try:
        asyncio.run(migrate(url))
        account_id, secret = asyncio.run(create_secret(url))
        print(f"[{backend}] loading {args.tasks:,} tasks ...", flush=True)
        if backend == "sqlite":
            loaded = load_sqlite(url[len("sqlite:///") :], args.tasks, account_id)
        else:
            loaded = asyncio.run(load_postgres(url, args.tasks, account_id))
        print(
            f"[{backend}] loaded in {loaded.seconds:.1f} s ({args.tasks / loaded.seconds:,.0f} rows/s)"
            f" + {loaded.post_seconds:.1f} s {'checkpoint' if backend == 'sqlite' else 'VACUUM ANALYZE'}",
            flush=True,
        )
        port = free_port()
        proc = start_server(url, port, db_dir / "server.log")
        check_responses(port, secret, loaded)
        gen = Generator.pick(db_dir, args.connections, args.python_loadgen)
        run = BackendRun(backend, args.tasks, loaded.seconds, loaded.post_seconds, gen.name)
        plan: dict[str, tuple[str | None, list[str] | None]] = {
            "healthz": ("/healthz", None),
            "fetch": (None, loaded.fetch_ids),
            "page1": ("/api/v1/task/list?take=100", None),
            "deep": (f"/api/v1/task/list?take=100&cursor={loaded.deep_cursor}", None),
        }
        for rnd in range(args.rounds):
            for ep in ENDPOINTS:
                path, fetch_ids = plan[ep]
                gen.run(port, secret, path, fetch_ids, args.warmup)  # warm-up, discarded
                if admin_url is not None and args.pg_core != "none":
                    run.pg_pinned = asyncio.run(_pin_backends(admin_url, dbname, int(args.pg_core)))
                    run.pg_core = args.pg_core
                cpu0 = cpu_seconds(proc.pid)
                r = gen.run(port, secret, path, fetch_ids, args.duration)
                r.cpu_us = (cpu_seconds(proc.pid) - cpu0) / max(1, r.requests) * 1e6
                if r.errors:
                    raise SystemExit(f"[{backend}] {ep}: errors ({r.error_detail}); see {db_dir}")
                run.rounds.setdefault(ep, []).append(r)
                print(
                    f"[{backend}] round {rnd + 1} {ep:8s} {r.rps:9,.0f} req/s  p50 {r.p50_ms:6.2f} ms"
                    f"  p99 {r.p99_ms:6.2f} ms  server CPU {r.cpu_us:7.1f} us/req",
                    flush=True,
                )
        return run
    finally:
        if proc is not None:
            stop_server(proc)
        if admin_url is not None and not args.keep:
            asyncio.run(pg_admin(admin_url, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
        elif admin_url is not None:
            print(f"[{backend}] kept database {dbname}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (0.0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _pin_backends(admin_url: str, dbname: str, core: int) -> int:
    """Move the PostgreSQL backends serving the scratch database (only those: the API server's pool) to
    ``core``, so that they do not preempt the API process on its core. Returns how many were moved."""
    import asyncpg

    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) <= core:
        return 0
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", dbname)
    finally:
        await conn.close()
    moved = 0
    for r in rows:
        try:
            os.sched_setaffinity(r["pid"], {core})
            moved += 1
        except OSError:
            pass  # not permitted (another user) or the backend just exited
    return moved


def report(run: BackendRun) -> tuple[str, bool]:
    bare = run.mean("healthz", "rps")
    lines = [
        f"### {run.backend}: {run.n:,} tasks, load {run.load_s:.1f} s (+{run.post_s:.1f} s "
        f"{'checkpoint' if run.backend == 'sqlite' else 'VACUUM ANALYZE'}), generator {run.generator}, "
        f"{len(run.rounds['healthz'])} round(s)"
        + (f", {run.pg_pinned} PostgreSQL backends pinned to core {run.pg_core}" if run.pg_pinned else "")
        + (", PostgreSQL backends unpinned" if run.backend == "postgres" and not run.pg_pinned else ""),
        "",
        "| endpoint | req/s | p50 ms | p99 ms | vs bare | server CPU us/req | CPU vs bare |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    bare_cpu = run.mean("healthz", "cpu_us")
    for ep in ENDPOINTS:
        rps = run.mean(ep, "rps")
        cpu = run.mean(ep, "cpu_us")
        lines.append(
            f"| {LABELS[ep]} | {rps:,.0f} | {run.mean(ep, 'p50_ms'):.2f} | {run.mean(ep, 'p99_ms'):.2f} "
            f"| {rps / bare:.2f}x | {cpu:,.0f} | {bare_cpu / cpu if cpu else 0:.2f}x |"
        )
    fetch_ratio = run.mean("fetch", "rps") / bare
    p1, deep = run.mean("page1", "rps"), run.mean("deep", "rps")
    depth_ratio = max(p1, deep) / min(p1, deep)
    p99_ratio = run.mean("deep", "p99_ms") / run.mean("page1", "p99_ms")
    ok_fetch = fetch_ratio >= FETCH_TARGET
    ok_depth = depth_ratio <= DEPTH_TARGET
    list_ratio = p1 / bare
    list_cpu = bare_cpu / run.mean("page1", "cpu_us") if run.mean("page1", "cpu_us") else 0.0
    ok_list = list_ratio >= LIST_TARGET
    lines += [
        "",
        f"- fetch / bare = {fetch_ratio:.2f}x (target >= {FETCH_TARGET}x): {'PASS' if ok_fetch else 'FAIL'}",
        f"- page 1 vs deep page req/s = {depth_ratio:.2f}x apart (deep/page1 = {deep / p1:.2f}, p99 deep/page1 = "
        f"{p99_ratio:.2f}; target within {DEPTH_TARGET}x): {'PASS' if ok_depth else 'FAIL'}",
        f"- task/list?take=100 / bare = {list_ratio:.2f}x (server CPU per request: {list_cpu:.2f}x; target >= "
        f"{LIST_TARGET}x): {'PASS' if ok_list else 'FAIL'}",
    ]
    return "\n".join(lines), ok_fetch and ok_depth and ok_list


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=1_000_000)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of discarded load before each one")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds; figures are their mean")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("AGENTCRON_BENCH_PG_URL", PG_DEFAULT),
        help="server to create the scratch database on (it is dropped afterwards)",
    )
    p.add_argument(
        "--pg-core",
        default="1",
        help="pin the scratch database's PostgreSQL backends to this core (default 1, the load generator's: "
        "core 0 stays the API process's alone); 'none' leaves them to the OS scheduler",
    )
    p.add_argument("--python-loadgen", action="store_true", help="use bench/_loadgen.py even if wrk exists")
    p.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = p.parse_args()
    if args.tasks < 1000:
        p.error("--tasks must be at least 1000")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = Path(tempfile.mkdtemp(prefix="agentcron-bench-"))
    ok = True
    reports = []
    try:
        for b in backends:
            text, passed = report(bench_backend(b, args, workdir))
            ok &= passed
            reports.append(text)
            print("\n" + text + "\n", flush=True)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if len(reports) > 1:
        print("=" * 80 + "\n" + "\n\n".join(reports))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
