"""Webhook benchmark: how fast the deliverer sends, and what webhooks cost firing.

1. Deliveries/s: 10,000 ``execution.succeeded`` notices (real executions, one webhook) written to the outbox,
   then the deliverer (``webhook_concurrency`` in flight, signing each with standardwebhooks) sends them to a
   local receiver (bench/_receiver.py, its own process, pinned to another core when there is one) until all
   are recorded delivered. Printed: deliveries/s (N / time to the last one recorded).
2. Fire rate with webhooks: bench/scheduler.py's end-to-end run (N tasks due at once, no-op bot, every
   execution durable) with an ``execution.succeeded`` webhook on every task, next to the same run without
   webhooks, rounds alternating with/without in one database and one process (each with-round paired with the
   without-round after it). The deliverer runs in the same process, as in ``agentcron serve``. Printed: median
   fires/s of each, the ratio (target >= 0.8), and how many deliveries had been sent when the round ended.

    python bench/webhooks.py [--backend sqlite|postgres|both] [--notices 10000] [--sizes 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
sys.path.insert(0, os.path.dirname(__file__))

from _common import free_port, pin
from scheduler import Result, agentcron_run, drop_pg, pg_database, run_agentcron

from agentcron import ids
from agentcron.clock import SystemClock
from agentcron.config import Settings
from agentcron.deliverer import Deliverer
from agentcron.signals import Signals, WebhooksAttempted
from agentcron.store.base import Store, open_store
from agentcron.store.notices import EXECUTION_SUCCEEDED, Notice, record_notices


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [*pin(1), sys.executable, os.path.join(os.path.dirname(__file__), "_receiver.py"), str(port)]
    )
    time.sleep(0.5)
    return proc, f"http://127.0.0.1:{port}/hook"


async def delivered(store: Store) -> int:
    async with store.db.tx() as tx:
        row = await tx.fetchrow("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'delivered'")
    return int(row["n"]) if row else 0


async def deliveries_per_s(db_url: str, receiver: str, n: int, concurrency: int) -> float:
    store = await open_store(db_url)
    now = time.time_ns() // 1_000_000
    acc = await store.accounts.create_account("bench", now)
    task_id = ids.new_id(now)
    execs = [ids.new_id(now) for _ in range(n)]
    async with store.db.tx(write=True) as tx:
        await tx.execute(
            "INSERT INTO tasks (id, account_id, name, description, created_at, updated_at) "
            "VALUES ($1, $2, 't', '', $3, $3)",
            task_id,
            acc,
            now,
        )
        await tx.executemany(
            "INSERT INTO task_executions (id, account_id, task_id, name, description, status, outcome, state, kind, "
            "scheduled_for, summary, completed_at, created_at, updated_at) "
            "VALUES ($1, $2, $3, 't', '', 'idle', 'success', 'done', 'schedule', $4, 'ok', $4, $4, $4)",
            [(e, acc, task_id, now + i) for i, e in enumerate(execs)],
        )
    await store.webhooks.create(acc, receiver, [EXECUTION_SUCCEEDED], None, "", now)
    for i in range(0, n, 1000):
        async with store.db.tx(write=True) as tx:
            notices = [Notice(EXECUTION_SUCCEEDED, acc, task_id, e) for e in execs[i : i + 1000]]
            await record_notices(tx, notices, now)
    settings = Settings(database_url=db_url, http_allow=("127.0.0.1",), webhook_concurrency=concurrency)
    signals = Signals()
    done = asyncio.Event()
    count = [0]

    def on_attempted(sig: WebhooksAttempted) -> None:
        count[0] += sum(a.status == "delivered" for a in sig.attempts)
        if count[0] >= n:
            done.set()

    signals.connect(WebhooksAttempted, on_attempted)
    deliverer = Deliverer(store.webhooks, settings, SystemClock(), signals)
    started = time.perf_counter()
    loop = asyncio.create_task(deliverer.run())
    await done.wait()  # (every delivery recorded delivered)
    elapsed = time.perf_counter() - started
    assert await delivered(store) == n
    deliverer.stopping = True
    deliverer.wake.set()
    await loop
    await deliverer.stop()
    await store.close()
    return n / elapsed


def with_webhooks(receiver: str) -> Any:
    """A `before_round` hook: even rounds with an ``execution.succeeded`` webhook on every due task, odd
    rounds without any (and no deliveries left over from the previous round)."""

    async def before(store: Store, account: str, task_ids: list[str], r: int) -> None:
        now = time.time_ns() // 1_000_000
        async with store.db.tx(write=True) as tx:
            await tx.execute("DELETE FROM webhook_deliveries")
            await tx.execute("DELETE FROM webhooks")
            if r % 2 == 0:
                await tx.executemany(
                    "INSERT INTO webhooks (id, account_id, url, events, task_id, description, secret, created_at, "
                    "updated_at) VALUES ($1, $2, $3, $4, $5, '', $6, $7, $7)",
                    [
                        (
                            ids.new_id(now),
                            account,
                            receiver,
                            '["execution.succeeded"]',
                            t,
                            "whsec_" + "A" * 43 + "=",
                            now,
                        )
                        for t in task_ids
                    ],
                )

    return before


async def fire_rates(db_url: str, receiver: str, n: int, rounds: int) -> tuple[list[Result], list[Result]]:
    both = await run_agentcron(
        db_url,
        n,
        rounds=rounds,
        observe=[True, True],  # (two modes, both observed: with webhooks, then without)
        before_round=with_webhooks(receiver),
        http_allow=("127.0.0.1",),
    )
    assert isinstance(both, list)
    return both[0], both[1]


async def on_backend(backend: str, fn: Any, *args: Any) -> Any:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            return await fn(f"sqlite:///{d}/bench.db", *args)
    url, name = await pg_database()
    try:
        return await fn(url, *args)
    finally:
        await drop_pg(name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    ap.add_argument("--notices", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=Settings().webhook_concurrency)
    ap.add_argument("--sizes", default="10000")
    ap.add_argument("--rounds", type=int, default=3, help="rounds with webhooks (as many without)")
    args = ap.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    receiver, url = start_receiver()
    try:
        for b in backends:
            rate = asyncio.run(on_backend(b, deliveries_per_s, url, args.notices, args.concurrency))
            print(f"deliverer {b:<8} {args.notices:,} notices, {args.concurrency} in flight: {rate:,.0f} deliveries/s")
        for b in backends:
            asyncio.run(agentcron_run(b, 500))  # warm-up, discarded
            for n in (int(s) for s in args.sizes.split(",")):
                on, off = asyncio.run(on_backend(b, fire_rates, url, n, args.rounds * 2))
                pairs = sorted(a.fires_per_s / z.fires_per_s for a, z in zip(on, off, strict=True))
                on_m = sorted(r.fires_per_s for r in on)[len(on) // 2]
                off_m = sorted(r.fires_per_s for r in off)[len(off) // 2]
                for label, rs, m in (("with webhooks   ", on, on_m), ("without webhooks", off, off_m)):
                    rates = ", ".join(f"{r.fires_per_s:,.0f}" for r in rs)
                    print(f"agentcron {b:<8} N={n:>7,} {label} fires/s {m:>9,.0f}  (rounds: {rates})", flush=True)
                print(
                    f"  ratio with/without: {on_m / off_m:.2f} of the medians, {pairs[len(pairs) // 2]:.2f} median "
                    "of the paired rounds (target >= 0.8)",
                    flush=True,
                )
    finally:
        receiver.terminate()
        receiver.wait()


if __name__ == "__main__":
    main()
