"""Scheduler benchmark: N tasks all due in the same second, no-op bot, end to end.

For each backend (SQLite file, PostgreSQL) and N in --sizes, tasks are bulk-loaded with a daily cron that
comes due at T0 (a minute boundary); the scheduler, worker and janitor run in this process with a clock
offset so T0 arrives ~2 s after loading. Every execution is durable (a row from queued to done, with its
conversation and messages). Printed per run: fires/s (N / (last completion - T0)), lateness of completion
(completed_at - scheduled_for) p50/p99/max, dropped slots (tasks without exactly one execution).

Baseline in the same run: APScheduler 3.x (BackgroundScheduler, MemoryJobStore, ThreadPoolExecutor(10)),
N jobs due at the same instant on the same workload as the agentcron tasks: a daily cron trigger (so each
fire also computes the job's next fire time, as agentcron advances ``nextRunAt``). Lateness =
EVENT_JOB_EXECUTED time - scheduled_run_time, dropped = EVENT_JOB_MISSED. The other trigger's
APScheduler rounds are printed too, for reference. ``--schedule date`` makes the due tasks one-shot dates
and the baseline date jobs (APScheduler's cheapest path: no next fire time, the fired job is removed).
Also: lateness of 1,000 due tasks with 1,000,000 idle tasks stored vs with none.
``--observe-compare``: instead, for each size and backend, the fire rate with the observers on (metrics, and
INFO logs in JSON lines to a file: a line per finished run) and off (no observer, WARNING), rounds
alternating on/off in the same process; prints each median and the ratio on/off (target >= 0.9).
One discarded warm-up round of 500 runs each before measuring; each size runs ``--rounds`` times (default
3) for both schedulers and the median round is printed (agentcron: by p99 lateness, APScheduler: by rate).

    python bench/scheduler.py [--sizes 1000,10000,100000] [--backend sqlite|postgres|both] [--idle 1000000]
                              [--rounds 3] [--schedule cron|date] [--observe-compare]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from agentcron import ids
from agentcron.clock import OffsetClock
from agentcron.config import Settings
from agentcron.engine.basic import BasicRunner
from agentcron.observers import logs
from agentcron.runtime import Services
from agentcron.store.base import Store, open_store

PG_URL = os.environ.get("AGENTCRON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Result:
    name: str
    n: int
    fires_per_s: float
    p50: float
    p99: float
    max: float
    dropped: int


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def one_shot(ms: int) -> str:
    """The schedule text of a one-shot date task due at ``ms``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


async def load(store: Store, n_due: int, n_idle: int, t0: int, now: int, schedule: str = "cron") -> str:
    account = await store.accounts.create_account("bench", now)
    bot_id = ids.new_id(now)
    due_cron = f"{time.gmtime(t0 / 1000).tm_min} {time.gmtime(t0 / 1000).tm_hour} * * *"
    due_schedule = due_cron if schedule == "cron" else one_shot(t0)
    rows: list[tuple[Any, ...]] = []
    async with store.db.tx(write=True) as tx:
        await tx.execute(
            "INSERT INTO bots (id, account_id, name, description, model, created_at, updated_at) "
            "VALUES ($1, $2, 'noop', '', 'test', $3, $3)",
            bot_id,
            account,
            now,
        )
    sql = (
        "INSERT INTO tasks (id, account_id, name, description, bot_id, schedule, timezone, next_run_at, "
        "overlap_policy, misfire_policy, status, outcome, missed_count, created_at, updated_at) "
        "VALUES ($1, $2, $3, '', $4, $5, NULL, $6, 'skip', 'coalesce', 'idle', 'pending', 0, $7, $7)"
    )
    total = n_due + n_idle
    for i in range(total):
        due = i < n_due
        created = now - total + i
        rows.append(
            (
                ids.new_id(created),
                account,
                f"t{i}",
                bot_id,
                due_schedule if due else "0 0 1 1 *",
                t0 if due else t0 + 86_400_000 * 30,
                created,
            )
        )
        if len(rows) == 20_000 or i == total - 1:
            async with store.db.tx(write=True) as tx:
                await tx.executemany(sql, rows)
            rows = []
    return account


async def settle_after_load(store: Store) -> None:
    """Reach steady state before measuring: the bulk load's WAL is checkpointed (SQLite) and statistics
    are fresh (PostgreSQL), as on a service that has been running for a while."""
    if store.db.sql.name == "sqlite":
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
        store.db.conn.execute("ANALYZE")  # type: ignore[attr-defined]
        return
    async with store.db.tx() as tx:
        for table in ("tasks", "task_executions", "conversations", "messages"):
            await tx.execute(f"VACUUM ANALYZE {table}")


async def run_agentcron(
    url: str,
    n: int,
    n_idle: int = 0,
    label: str = "",
    rounds: int = 1,
    schedule: str = "cron",
    observe: list[bool] | None = None,
    before_round: Callable[[Store, str, list[str], int], Awaitable[None]] | None = None,
    **overrides: Any,
) -> Result | list[list[Result]]:
    """Load once, then fire the N due tasks ``rounds`` times (each round re-arms them one minute later);
    the round with the median p99 lateness is reported (single runs of small N are noisy).

    With ``observe`` (a list of on/off modes), each round is run once per mode, in turn, and every result
    is returned: one list per mode. ``before_round(store, account, due task ids, round)`` runs before each
    round starts; ``overrides`` are more `Settings` fields."""
    settings = Settings(
        database_url=url,
        worker_concurrency=2000,
        max_concurrent_executions=0,  # no caps: the benchmark measures firing, not limits
        max_executions_per_day=0,
        scheduler_batch=1000,
        misfire_grace_ms=600_000,
        **overrides,
    )
    store = await open_store(url)
    wall = time.time_ns() // 1_000_000
    t0 = (wall // 60_000 + 1) * 60_000  # next minute boundary (a cron slot)
    t_load = time.perf_counter()
    account = await load(store, n, n_idle, t0, wall, schedule)
    await settle_after_load(store)
    load_s = time.perf_counter() - t_load
    async with store.db.tx() as tx:
        due = await tx.fetch("SELECT id, schedule FROM tasks WHERE next_run_at = $1", t0)
    due_ids = [r["id"] for r in due]
    due_schedule = due[0]["schedule"] if due else ""
    await store.close()
    results: list[Result] = []
    modes = observe or [True]
    by_mode: list[list[Result]] = [[] for _ in modes]
    for r in range(rounds * len(modes)):
        mode = r % len(modes)
        if observe:
            _observe_logs(observe[mode])
        slot = t0 + r * 60_000
        store = await open_store(url, run_migrations=False)
        if r:
            # A one-shot task is re-armed by moving its date (its next run was cleared by firing).
            again = due_schedule if schedule == "cron" else one_shot(slot)
            async with store.db.tx(write=True) as tx:
                for i in range(0, len(due_ids), 1000):
                    chunk = due_ids[i : i + 1000]
                    marks = ", ".join(f"${k + 3}" for k in range(len(chunk)))
                    await tx.execute(
                        f"UPDATE tasks SET next_run_at = $1, schedule = $2 WHERE id IN ({marks})", slot, again, *chunk
                    )
        if before_round is not None:
            await before_round(store, account, due_ids, r)
        # Shift the clock so that the slot comes 2 s from now, whatever the loading took.
        clock = OffsetClock(slot - 2000 - time.time_ns() // 1_000_000)
        # The no-op bot runs through BasicRunner: this measures scheduling and durable bookkeeping, not a model.
        roles = await Services.build(settings, clock, BasicRunner(), store=store, observe=modes[mode])
        await roles.start()
        deadline = time.monotonic() + 120 + n / 500
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            async with store.db.tx() as tx:
                row = await tx.fetchrow(
                    "SELECT COUNT(*) AS n FROM task_executions WHERE state = 'done' AND scheduled_for = $1", slot
                )
            if row is not None and int(row["n"]) >= n:
                break
        await roles.stop()
        result = await _round_result(url, n, slot, label)
        results.append(result)
        by_mode[mode].append(result)
    print(f"  (loaded {n + n_idle:,} tasks in {load_s:.1f} s)", file=sys.stderr)
    if observe:
        return by_mode
    results.sort(key=lambda x: x.p99)
    return results[len(results) // 2]


_LOG_FILE: list[Any] = []


def _observe_logs(on: bool) -> None:
    """Logging as a server has it: on, INFO in JSON lines (to a file here, as a service's stderr would go to
    a collector); off, WARNING."""
    if not _LOG_FILE:
        _LOG_FILE.append(tempfile.TemporaryFile("w+"))
    level = "INFO" if on else "WARNING"
    logs.setup(Settings(log_level=level, log_format="json"), stream=_LOG_FILE[0])


async def _round_result(url: str, n: int, slot: int, label: str) -> Result:
    store = await open_store(url, run_migrations=False)
    async with store.db.tx() as tx:
        rows = await tx.fetch(
            "SELECT completed_at FROM task_executions WHERE kind <> 'skip' AND scheduled_for = $1", slot
        )
        per_task = await tx.fetchrow(
            "SELECT COUNT(*) AS n FROM (SELECT task_id FROM task_executions WHERE scheduled_for = $1 "
            "GROUP BY task_id HAVING COUNT(*) = 1) s",
            slot,
        )
    await store.close()
    late = [r["completed_at"] - slot for r in rows if r["completed_at"] is not None]
    span = max(1, max(late, default=1)) / 1000
    dropped = n - int(per_task["n"] if per_task else 0)
    name = label or f"agentcron {'sqlite' if url.startswith('sqlite') else 'postgres'}"
    return Result(name, n, len(late) / span, pct(late, 0.5), pct(late, 0.99), max(late, default=0), dropped)


def run_apscheduler(n: int, trigger: str = "cron") -> Result:
    """``trigger``: "cron" (daily, at the instant's hour, minute and second: the agentcron workload) or
    "date" (one-shot)."""
    from datetime import datetime, timedelta

    from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler

    late: list[float] = []
    missed = [0]
    done = threading.Event()
    lock = threading.Lock()

    def listener(event: Any) -> None:
        with lock:
            if event.code == EVENT_JOB_MISSED:
                missed[0] += 1
            else:
                late.append(
                    (datetime.now(event.scheduled_run_time.tzinfo) - event.scheduled_run_time).total_seconds() * 1000
                )
            if len(late) + missed[0] >= n:
                done.set()

    def noop() -> None:
        return None

    import logging

    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)  # one log line per missed job otherwise
    sched = BackgroundScheduler()
    sched.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    sched.start(paused=True)
    # Due 2 s after the last job is added, on a whole second (the cron trigger's resolution).
    run_at = (datetime.now().astimezone() + timedelta(seconds=3 + n / 5_000)).replace(microsecond=0)
    for _ in range(n):
        if trigger == "cron":
            sched.add_job(noop, "cron", hour=run_at.hour, minute=run_at.minute, second=run_at.second)
        else:
            sched.add_job(noop, "date", run_date=run_at)
    sched.resume()
    done.wait(120 + n / 1000)
    sched.shutdown(wait=False)
    span = max(late, default=0) / 1000 or 1
    return Result(
        f"APScheduler 3.x {trigger}",
        n,
        len(late) / span,
        pct(late, 0.5),
        pct(late, 0.99),
        max(late, default=0),
        missed[0],
    )


async def pg_database() -> tuple[str, str]:
    import asyncpg

    name = f"agentcron_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return PG_URL.rsplit("/", 1)[0] + "/" + name, name


async def drop_pg(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def agentcron_run(
    backend: str, n: int, n_idle: int = 0, label: str = "", rounds: int = 1, schedule: str = "cron"
) -> Result:
    result = await _on_backend(backend, n, n_idle, label, rounds, schedule)
    assert isinstance(result, Result)
    return result


async def _on_backend(
    backend: str,
    n: int,
    n_idle: int = 0,
    label: str = "",
    rounds: int = 1,
    schedule: str = "cron",
    observe: list[bool] | None = None,
) -> Result | list[list[Result]]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            return await run_agentcron(f"sqlite:///{d}/bench.db", n, n_idle, label, rounds, schedule, observe)
    url, name = await pg_database()
    try:
        return await run_agentcron(url, n, n_idle, label, rounds, schedule, observe)
    finally:
        await drop_pg(name)


def observe_compare(backends: list[str], sizes: list[int], rounds: int, schedule: str) -> None:
    """Fire rate with the observers (metrics, INFO logs) on vs off, rounds alternating in one process."""
    for b in backends:
        asyncio.run(agentcron_run(b, 500))  # warm-up, discarded
        for n in sizes:
            both = asyncio.run(_on_backend(b, n, rounds=rounds, schedule=schedule, observe=[True, False]))
            assert isinstance(both, list)
            # Rounds ran on, off, on, off...: each on round is paired with the off round right after it
            # (the same minute of the machine's background load).
            pairs = sorted(on.fires_per_s / off.fires_per_s for on, off in zip(both[0], both[1], strict=True))
            on, off = (sorted(results, key=lambda r: r.fires_per_s) for results in both)
            on_m, off_m = on[len(on) // 2], off[len(off) // 2]
            for name, m, rs in (("on ", on_m, both[0]), ("off", off_m, both[1])):
                rates = ", ".join(f"{r.fires_per_s:,.0f}" for r in rs)
                print(
                    f"agentcron {b:<8} N={n:>7,} observers {name}  fires/s {m.fires_per_s:>9,.0f}  "
                    f"p99 {m.p99:>6.0f} ms  dropped {m.dropped:,}  (rounds in order: {rates})",
                    flush=True,
                )
            print(
                f"  ratio on/off: {on_m.fires_per_s / off_m.fires_per_s:.2f} of the medians, "
                f"{pairs[len(pairs) // 2]:.2f} median of the paired rounds (target >= 0.9)",
                flush=True,
            )


def show(results: list[Result], baseline: Result | None) -> None:
    for r in results:
        ratio = f"{r.fires_per_s / baseline.fires_per_s:5.2f}x" if baseline and baseline.fires_per_s else "  -  "
        print(
            f"{r.name:<28} N={r.n:>7,}  fires/s {r.fires_per_s:>9,.0f} ({ratio} APS)  lateness p50 {r.p50:>7.0f} ms"
            f"  p99 {r.p99:>7.0f} ms  max {r.max:>7.0f} ms  dropped {r.dropped:,}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    ap.add_argument("--idle", type=int, default=1_000_000, help="idle tasks for the storage-size check (0: skip)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per size and scheduler; the median round is printed")
    ap.add_argument(
        "--schedule",
        default="cron",
        choices=["cron", "date"],
        help="the due tasks' schedule: a daily cron (default) or a one-shot date; APScheduler's baseline "
        "uses the same trigger",
    )
    ap.add_argument(
        "--observe-compare",
        action="store_true",
        help="only compare the fire rate with metrics and INFO logs on vs off (rounds alternating)",
    )
    args = ap.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.observe_compare:
        observe_compare(backends, [int(x) for x in args.sizes.split(",")], args.rounds, args.schedule)
        return
    # Warm-up, discarded: both schedulers are measured as they run in a long-lived process (code paths
    # imported and exercised once), not on this process's first pass through them.
    if not args.no_baseline:
        run_apscheduler(500)
        run_apscheduler(500, "date")
    for b in backends:
        asyncio.run(agentcron_run(b, 500))
    for n in [int(x) for x in args.sizes.split(",")]:
        base = None
        if not args.no_baseline:
            # APScheduler's rate swings between runs here (its threads and the GIL): the median round.
            other = "date" if args.schedule == "cron" else "cron"
            for trigger in (other, args.schedule):
                aps = sorted((run_apscheduler(n, trigger) for _ in range(args.rounds)), key=lambda r: r.fires_per_s)
                base = aps[len(aps) // 2]
                show([base], None)
                rates = ", ".join(f"{r.fires_per_s:,.0f}" for r in aps)
                print(f"  (APScheduler {trigger} rounds: {rates} fires/s)", flush=True)
            # base is now the round of the same trigger as the agentcron tasks: the ratio printed.
        for b in backends:
            result = asyncio.run(agentcron_run(b, n, rounds=args.rounds, schedule=args.schedule))
            show([replace(result, name=f"{result.name} {args.schedule}")], base)
    if args.idle:
        for b in backends:
            small = asyncio.run(agentcron_run(b, 1000, 0, f"{b} 1k due, 0 idle", rounds=5))
            big = asyncio.run(agentcron_run(b, 1000, args.idle, f"{b} 1k due, {args.idle:,} idle", rounds=5))
            show([small, big], None)
            print(
                f"  p99 lateness ratio with {args.idle:,} idle tasks: {big.p99 / max(small.p99, 1):.2f}x "
                f"(target <= 1.2x)",
                flush=True,
            )


if __name__ == "__main__":
    main()
