"""Benchmark of ``POST task/import``: N tasks (default 10,000, the most one import takes) in one request,
against the same server creating tasks one ``task/create`` at a time, measured in the same run.

    python bench/import_tasks.py [--rows 10000] [--creates 1000] [--backend sqlite|postgres|both]
                                 [--format csv|json|jsonl] [--rounds 3]

For each backend: a fresh database (SQLite file in a temp dir / a new PostgreSQL database on the server of
``--pg-url``), one account with a bot and a contact, ``python -m agentcron serve --role api`` pinned to core 0
and this client on core 1. Each round, interleaved:
- create: ``--creates`` sequential ``task/create`` over one keep-alive httpx connection (rows/s);
- import: one ``task/import`` of ``--rows`` rows in ``--format`` (CSV as ``task/export`` writes it: every
  cell quoted, ``meta`` as YAML), timed from sending the body to the answer (rows/s), its count checked.
The rows of both are the same kind of task: name, a ~120-character description, bot, contact, a cron
schedule in a timezone, limits and a small nested ``meta``. Figures are per round and the mean.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from _common import free_port, pg_admin
from api import PG_DEFAULT, create_secret, start_server, stop_server

from agentcron.store.migrate import migrate

COLUMNS = ["name", "description", "botId", "contactId", "schedule", "timezone", "sessionDuration"]
COLUMNS += ["maxIterations", "maxTime", "overlapPolicy", "misfirePolicy", "meta"]


def task_body(i: int, bot: str, contact: str) -> dict[str, Any]:
    return {
        "name": f"Nightly digest #{i}, team {i % 17}",
        "description": "Summarise yesterday's tickets, group them by product and post the digest to the team "
        f"channel ({i}).",
        "botId": bot,
        "contactId": contact,
        "schedule": f"{i % 60} {i % 24} * * 1-5",
        "timezone": "Europe/Berlin",
        "sessionDuration": 600_000,
        "maxIterations": 50,
        "maxTime": 900_000,
        "overlapPolicy": "skip",
        "misfirePolicy": "coalesce",
        "meta": {"team": f"t{i % 17}", "owner": {"name": "Ops", "tags": ["nightly", "digest"]}, "n": i},
    }


def _csv_cell(value: Any, key: str) -> str:
    if value is None:
        return ""
    if key == "meta":
        value = yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip("\n")
    return '"' + str(value).replace('"', '""') + '"'


def import_body(fmt: str, rows: list[dict[str, Any]]) -> tuple[bytes, str]:
    """The file ``task/export`` would write for ``rows``, and its content type."""
    if fmt == "json":
        return json.dumps(rows).encode(), "application/json"
    if fmt == "jsonl":
        return "".join(json.dumps({"type": "item", "data": r}) + "\n" for r in rows).encode(), "application/jsonl"
    out = io.StringIO()
    out.write(",".join(f'"{c}"' for c in COLUMNS) + "\r\n")
    for r in rows:
        out.write(",".join(_csv_cell(r.get(c), c) for c in COLUMNS) + "\r\n")
    body = out.getvalue()
    assert len(list(csv.reader(io.StringIO(body, newline="")))) == len(rows) + 1
    return body.encode(), "text/csv"


@dataclass
class BackendRun:
    backend: str
    body_bytes: int = 0
    create_rps: list[float] = field(default_factory=list)
    import_rps: list[float] = field(default_factory=list)
    import_s: list[float] = field(default_factory=list)


def _pin_self(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})


def bench_backend(backend: str, args: argparse.Namespace, workdir: Path) -> BackendRun:
    db_dir = workdir / backend
    db_dir.mkdir()
    dbname = ""
    if backend == "sqlite":
        url = f"sqlite:///{db_dir / 'bench.db'}"
    else:
        dbname = f"agentcron_bench_import_{os.getpid()}"
        asyncio.run(pg_admin(args.pg_url, f"CREATE DATABASE {dbname}"))
        url = args.pg_url.rsplit("/", 1)[0] + "/" + dbname
    run = BackendRun(backend)
    proc = None
    try:
        asyncio.run(migrate(url))
        _, secret = asyncio.run(create_secret(url))
        port = free_port()
        proc = start_server(url, port, db_dir / "server.log")
        headers = {"authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=300) as c:
            bot = c.post("/api/v1/bot/create", json={"name": "bench"}).json()["id"]
            contact = c.post("/api/v1/contact/create", json={"name": "bench"}).json()["id"]
            body, content_type = import_body(args.format, [task_body(i, bot, contact) for i in range(args.rows)])
            run.body_bytes = len(body)
            creates = [task_body(i, bot, contact) for i in range(args.creates)]
            for b in creates[:50]:  # warm-up: connection, code paths, caches
                assert c.post("/api/v1/task/create", json=b).status_code == 200
            small, _ = import_body(args.format, creates[:100])
            assert c.post("/api/v1/task/import", content=small, headers={"content-type": content_type}).is_success
            for k in range(args.rounds):
                t0 = time.perf_counter()
                for b in creates:
                    r = c.post("/api/v1/task/create", json=b)
                    assert r.status_code == 200, r.text
                create_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                r = c.post("/api/v1/task/import", content=body, headers={"content-type": content_type})
                import_s = time.perf_counter() - t0
                assert r.status_code == 200 and r.json()["count"] == args.rows, r.text[:500]
                run.create_rps.append(args.creates / create_s)
                run.import_rps.append(args.rows / import_s)
                run.import_s.append(import_s)
                print(
                    f"[{backend}] round {k + 1}: create {run.create_rps[-1]:,.0f} rows/s, "
                    f"import {run.import_rps[-1]:,.0f} rows/s ({import_s:.2f} s)",
                    flush=True,
                )
    finally:
        if proc is not None:
            stop_server(proc)
        if dbname and not args.keep:
            asyncio.run(pg_admin(args.pg_url, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
    return run


def report(run: BackendRun, args: argparse.Namespace) -> str:
    create = sum(run.create_rps) / len(run.create_rps)
    imp = sum(run.import_rps) / len(run.import_rps)
    lines = [
        f"## {run.backend}: {args.rows:,} rows in one {args.format} import ({run.body_bytes / 2**20:.1f} MiB) "
        f"vs {args.creates:,} sequential task/create, {args.rounds} round(s), {os.cpu_count()} cores",
        "",
        "| | rows/s (mean) | per round | vs create |",
        "|---|---:|---|---:|",
        f"| task/create, one at a time | {create:,.0f} | {', '.join(f'{x:,.0f}' for x in run.create_rps)} | 1.00x |",
        f"| task/import, {args.rows:,} rows | {imp:,.0f} | {', '.join(f'{x:,.0f}' for x in run.import_rps)} | "
        f"**{imp / create:.1f}x** |",
        "",
        f"- import request time: {', '.join(f'{s:.2f} s' for s in run.import_s)}",
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000, help="rows of each import (at most 10,000)")
    p.add_argument("--creates", type=int, default=1_000, help="sequential task/create calls of each round")
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--format", choices=("csv", "json", "jsonl"), default="csv")
    p.add_argument("--rounds", type=int, default=3, help="interleaved create/import rounds; figures are their mean")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("AGENTCRON_BENCH_PG_URL", PG_DEFAULT),
        help="server to create the scratch database on (it is dropped afterwards)",
    )
    p.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = p.parse_args()
    if not 1 <= args.rows <= 10_000:
        p.error("--rows must be 1 to 10,000")
    _pin_self(1)  # the server goes to core 0 (start_server pins it)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = Path(tempfile.mkdtemp(prefix="agentcron-bench-import-"))
    reports = []
    try:
        for b in backends:
            reports.append(report(bench_backend(b, args, workdir), args))
            print("\n" + reports[-1] + "\n", flush=True)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if len(reports) > 1:
        print("=" * 80 + "\n" + "\n\n".join(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
