"""The durable-write floor of a fired slot on SQLite, next to APScheduler's fire rate in the same run.

What agentcron must store for each fired slot of a no-op bot (bench/scheduler.py's workload), written with
bare ``sqlite3`` and nothing else: no scheduling, no runs, no asyncio, ids and parameters built before the
clock starts. Same database settings and the real migrated schema (its indexes and foreign keys), batches
of 1,000 as the scheduler takes them, two transactions per batch as the service needs (the slot is
claimed durably before the bot runs):

    fire:   INSERT execution (running) + INSERT conversation + UPDATE task (next slot, running)
    finish: UPDATE execution (done, outcome) + INSERT 2 messages + UPDATE task (idle, outcome, lastRunAt)

Its fires/s is an upper bound for any scheduler that keeps these records here; APScheduler keeps none.
APScheduler runs its cheapest path here, one-shot date jobs (no next fire time to compute).

    python bench/write_floor.py [--sizes 1000,10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from scheduler import pct, run_apscheduler

from agentcron import ids
from agentcron.store.migrate import migrate
from agentcron.store.sqlite import SQLiteDatabase

BATCH = 1000


def floor_fires_per_s(n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/floor.db"
        asyncio.run(migrate(f"sqlite:///{path}"))
        db = SQLiteDatabase(path)  # the service's connection settings (WAL, synchronous=NORMAL, FKs on, ...)
        conn = db.conn
        now = time.time_ns() // 1_000_000
        account, bot = ids.new_id(now), ids.new_id(now)
        conn.execute("INSERT INTO accounts (id, name, created_at) VALUES (?, 'floor', ?)", (account, now))
        conn.execute(
            "INSERT INTO bots (id, account_id, name, description, model, created_at, updated_at) "
            "VALUES (?, ?, 'noop', '', 'test', ?, ?)",
            (bot, account, now, now),
        )
        tasks = [ids.new_id(now - n + i) for i in range(n)]
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO tasks (id, account_id, name, description, bot_id, schedule, next_run_at, overlap_policy, "
            "misfire_policy, status, outcome, missed_count, created_at, updated_at) "
            "VALUES (?, ?, 'task', '', ?, '0 9 * * *', ?, 'skip', 'coalesce', 'idle', 'pending', 0, ?, ?)",
            [(t, account, bot, now, now, now) for t in tasks],
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        batches = []
        for k in range(0, n, BATCH):
            chunk = tasks[k : k + BATCH]
            runs = [(ids.new_id(now), ids.new_id(now), t) for t in chunk]  # execution, conversation, task
            batches.append(
                (
                    [
                        (e, account, t, "task", "", "running", "pending", "running", "schedule", now, now, now)
                        + (1, "floor", now + 30_000, now, c)
                        for e, c, t in runs
                    ],
                    [(c, account, "task", "", bot, t, '{"app": "task"}', now, now) for e, c, t in runs],
                    [(now + 86_400_000, t) for t in chunk],
                    [("Completed task 'task'", now, now, e) for e, c, t in runs],
                    [
                        (ids.new_id(now), account, c, kind, text, now, now)
                        for e, c, t in runs
                        for kind, text in (("user", "Run the task."), ("bot", "Done."))
                    ],
                    [(now, t) for t in chunk],
                )
            )
        start = time.perf_counter()
        for ex, conv, nxt, done, msgs, settle in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO task_executions (id, account_id, task_id, name, description, status, outcome, state, "
                "kind, scheduled_for, created_at, updated_at, attempt, worker_id, lease_until, started_at, "
                "conversation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (task_id, scheduled_for) DO NOTHING",
                ex,
            )
            conn.executemany(
                "INSERT INTO conversations (id, account_id, name, description, bot_id, task_id, meta, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                conv,
            )
            conn.executemany("UPDATE tasks SET next_run_at = ?, status = 'running' WHERE id = ?", nxt)
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "UPDATE task_executions SET state = 'done', status = 'idle', outcome = 'success', summary = ?, "
                "completed_at = ?, updated_at = ?, lease_until = NULL WHERE id = ? AND attempt = 1 "
                "AND state = 'running'",
                done,
            )
            conn.executemany(
                "INSERT INTO messages (id, account_id, conversation_id, type, text, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                msgs,
            )
            conn.executemany(
                "UPDATE tasks SET status = 'idle', outcome = 'success', last_run_at = ? WHERE id = ?", settle
            )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
        return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per size; the medians are printed")
    args = ap.parse_args()
    run_apscheduler(500, "date")  # warm-up, discarded (as in bench/scheduler.py)
    floor_fires_per_s(500)
    for n in [int(x) for x in args.sizes.split(",")]:
        aps = [run_apscheduler(n, "date").fires_per_s for _ in range(args.rounds)]
        floor = [floor_fires_per_s(n) for _ in range(args.rounds)]
        a, f = pct(aps, 0.5), pct(floor, 0.5)
        print(
            f"N={n:>7,}  APScheduler 3.x date jobs {a:>9,.0f} fires/s (rounds {min(aps):,.0f}-{max(aps):,.0f})   "
            f"durable-write floor, SQLite {f:>9,.0f} fires/s (rounds {min(floor):,.0f}-{max(floor):,.0f})   "
            f"floor / APScheduler {f / a:.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
