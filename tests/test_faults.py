"""Fault injection with real processes: SIGKILL/SIGTERM of schedulers, workers and the HTTP server.

(a) three scheduler+worker processes on PostgreSQL fire 5,000 slots exactly once while one of them is
    SIGKILLed and restarted every 2-3 s; runs lost with a killed worker are reaped as "Worker lost";
(b) a worker SIGKILLed mid-run leaves nothing ``running`` after 2x the lease; SIGTERM hands an unfinished
    run back to the queue and another process resumes it (attempt 2);
(c) SIGKILL during a burst of creates on SQLite loses no acknowledged write and leaves an intact file;
(d) cron, interval and date schedules fire within 1 s of due on an idle service (SQLite and PostgreSQL).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import new_account
from tests.fault_helpers import (
    HOUR,
    SECOND,
    Proc,
    agentcron_env,
    cleanup_all,
    db_fetch,
    headless,
    http_server,
    insert_bot,
    insert_one_shot_tasks,
    iso,
    make_account,
    migrate_db,
    now_ms,
    sqlite_check,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

WORKER_LOST = "Worker lost"
LEAD_MS = 9_000  # (d): how far before the boundary the process clock is at spawn


def _count(db_url: str, sql: str, *args: object) -> int:
    return int(db_fetch(db_url, sql, *args)[0]["n"])


# -- (a) ----------------------------------------------------------------------------------------------------

SLOTS = 5_000
SPREAD_S = 20  # the slots come due over this many seconds, while processes are being killed
LEASE_A = 3_000
#: One task in WAIT_EVERY runs a bot that waits WAIT_S, so every kill lands on runs in flight. The rest have
#: no bot: their run ends at once ("The task has no bot"), so 5,000 runs stay cheap on a loaded 2-core
#: machine (a model-backed run costs tens of ms of CPU) and the test measures firing, not the engine.
WAIT_EVERY = 25
WAIT_S = 2
NO_BOT = "The task has no bot"


def _orphans(db_url: str, pid: int) -> list[str]:
    """Executions a just-killed process left running (its worker id embeds its pid)."""
    rows = db_fetch(
        db_url, "SELECT id FROM task_executions WHERE state = 'running' AND worker_id LIKE $1", f"%:{pid}:%"
    )
    return [r["id"] for r in rows]


def test_kill9_storm_fires_every_slot_exactly_once(pg_url: str) -> None:
    account = make_account(pg_url)
    waiter = insert_bot(pg_url, account, [{"type": "wait", "config": {"seconds": WAIT_S}}])
    first = (now_ms() // SECOND + 5) * SECOND
    slots = [first + (i * SPREAD_S * SECOND // SLOTS) // SECOND * SECOND for i in range(SLOTS)]
    waiting_slots = slots[::WAIT_EVERY]
    instant_slots = [s for i, s in enumerate(slots) if i % WAIT_EVERY]
    waiting = insert_one_shot_tasks(pg_url, account, waiter, waiting_slots)
    instant = insert_one_shot_tasks(pg_url, account, None, instant_slots)
    expected = dict(zip(waiting + instant, waiting_slots + instant_slots, strict=True))
    env = agentcron_env(
        lease_ms=LEASE_A,
        max_concurrent_executions=1_000_000,
        max_executions_per_day=1_000_000,
        poll_ms=100,
    )
    rng = random.Random(20260601)
    procs = [headless(pg_url, env) for _ in range(3)]
    kills: list[tuple[int, list[str]]] = []  # (when, in ms; executions the killed process left running)
    started = time.monotonic()
    try:
        # Kill -9 a random process every 2-3 s and restart it, until every slot is past and fired.
        stop_after = slots[-1] + 3 * SECOND
        while now_ms() < stop_after or _count(pg_url, "SELECT COUNT(*) AS n FROM task_executions") < SLOTS:
            assert time.monotonic() - started < 60, "the slots were not all fired within 60 s"
            time.sleep(rng.uniform(2.0, 3.0))
            victim = rng.randrange(len(procs))
            procs[victim].cleanup()  # SIGKILL (and drop its log)
            killed_at = now_ms()
            # A COMMIT the victim sent just before it died is still applied by the server: let those land
            # before listing what it left running (well inside any lease, so nothing is reaped meanwhile).
            time.sleep(0.25)
            kills.append((killed_at, _orphans(pg_url, procs[victim].pid)))
            procs[victim] = headless(pg_url, env)
        last_kill = time.monotonic()
        # No more kills: the runs the last victim left behind are reaped and the queue drains.
        wait_until(
            lambda: _count(pg_url, "SELECT COUNT(*) AS n FROM task_executions WHERE state <> 'done'") == 0,
            timeout=2 * LEASE_A / 1000 + 25,
            what="every execution to end",
        )
        settled = time.monotonic() - last_kill
        for p in procs:
            assert p.alive(), f"a process died on its own: {p.log()[-3000:]}"
        rows = db_fetch(
            pg_url,
            "SELECT id, task_id, scheduled_for, state, kind, outcome, summary, attempt, created_at, completed_at "
            "FROM task_executions",
        )
        conversations = Counter(r["task_id"] for r in db_fetch(pg_url, "SELECT task_id FROM conversations"))
        tasks = db_fetch(pg_url, "SELECT id, next_run_at, status FROM tasks")
    finally:
        cleanup_all(procs)

    # Exactly once: one execution per task, for its slot; none skipped; each claimed (run) once.
    per_task = Counter(r["task_id"] for r in rows)
    duplicates = sum(n - 1 for n in per_task.values() if n > 1)
    lost = [t for t in expected if per_task[t] == 0]
    wrong_slot = [r for r in rows if expected.get(r["task_id"]) != r["scheduled_for"]]
    assert (len(rows), duplicates, len(lost), len(wrong_slot)) == (SLOTS, 0, 0, 0)
    assert {r["kind"] for r in rows} <= {"schedule", "catchup"}, "a slot was skipped (limits or misfire)"
    assert Counter(r["attempt"] for r in rows) == {1: SLOTS}
    assert len(conversations) == SLOTS and max(conversations.values()) == 1
    # Every run ended: as its runner said, or reaped because its worker was killed.
    waiting_ids = set(waiting)
    ended: Counter[str] = Counter()
    for r in rows:
        summary = r["summary"] or ""
        if r["state"] == "done" and summary.startswith(WORKER_LOST) and r["outcome"] == "failure":
            ended["reaped"] += 1
        elif r["state"] == "done" and r["task_id"] in waiting_ids and r["outcome"] == "success":
            ended["waited"] += 1
        elif r["state"] == "done" and r["task_id"] not in waiting_ids and summary.startswith(NO_BOT):
            ended["instant"] += 1
        else:
            ended["wrong"] += 1
    assert ended["wrong"] == 0, [r for r in rows if r["state"] != "done"][:3]
    # The reap window: what each victim left running ended as "Worker lost" within 2x the lease of the kill.
    by_id = {r["id"]: r for r in rows}
    orphans = [(at, by_id[e]) for at, left in kills for e in left]
    not_reaped = [(at, r) for at, r in orphans if not (r["summary"] or "").startswith(WORKER_LOST)]
    assert not not_reaped, f"orphans that did not end as worker lost (kill time, row): {not_reaped[:3]}"
    reap_delay = max((r["completed_at"] - at for at, r in orphans), default=0)
    # (b) holds the 2x-lease bound on an idle machine. Here three processes firing 250 runs/s and restarting
    # share two cores, and on a loaded machine (CI's) every loop lags, a janitor's tick as much as a
    # scheduler's: a reap may be late beyond 2x the lease (+2 s) by what the firing lagged, or 3 s, no more.
    # (A reaper that never reaps fails `not_reaped` above.)
    fire_lag = max(r["created_at"] - r["scheduled_for"] for r in rows)
    assert reap_delay <= 2 * LEASE_A + 2 * SECOND + max(fire_lag, 3 * SECOND), (
        f"an orphan was reaped {reap_delay} ms after its worker died (firing lagged by {fire_lag} ms at most)"
    )
    assert len(kills) >= 5
    assert sum(1 for _, r in orphans if r["task_id"] in waiting_ids) > 0, "no kill landed on a run in flight"
    assert ended["reaped"] >= len(orphans)
    # Every task's one slot passed: no next run, nobody left running.
    assert len(tasks) == SLOTS
    assert all(t["next_run_at"] is None for t in tasks)
    assert Counter(t["status"] for t in tasks) == {"idle": SLOTS}
    print(
        f"\n(a) {SLOTS} slots -> {len(rows)} executions, {duplicates} duplicates, {len(lost)} lost; {len(kills)} kills "
        f"left {len(orphans)} runs orphaned, {ended['reaped']} reaped as worker lost (max {reap_delay} ms after the "
        f"kill), {ended['waited']} waits and {ended['instant']} instant runs ended normally; queue drained "
        f"{settled:.1f} s after the last kill; fired at most {max(r['created_at'] - r['scheduled_for'] for r in rows)} "
        f"ms after due; total {time.monotonic() - started:.1f} s"
    )


# -- (b) ----------------------------------------------------------------------------------------------------

LEASE_B = 3_000


def _executions(db_url: str, task_ids: list[str]) -> list[dict[str, object]]:
    marks = ", ".join(f"${i + 1}" for i in range(len(task_ids)))
    return db_fetch(
        db_url,
        "SELECT id, task_id, state, status, outcome, summary, attempt, worker_id FROM task_executions "
        f"WHERE task_id IN ({marks}) ORDER BY task_id",
        *task_ids,
    )


def _task_status(db_url: str, task_ids: list[str]) -> Counter[str]:
    marks = ", ".join(f"${i + 1}" for i in range(len(task_ids)))
    return Counter(r["status"] for r in db_fetch(db_url, f"SELECT status FROM tasks WHERE id IN ({marks})", *task_ids))


def _owned_by(ex: dict[str, object], proc: Proc) -> bool:
    return f":{proc.pid}:" in str(ex["worker_id"] or "")


def _due_now() -> list[int]:
    return [now_ms() // SECOND * SECOND]


def test_a_killed_worker_is_reaped_and_sigterm_hands_runs_back(db_url: str) -> None:
    migrate_db(db_url)
    account = make_account(db_url)
    slow_bot = insert_bot(db_url, account, [{"type": "wait", "config": {"seconds": 30}}])
    base = agentcron_env(lease_ms=LEASE_B, poll_ms=100)
    procs: list[Proc] = []
    try:
        # A runs three 30 s executions and has no capacity for anything else.
        a = headless(db_url, {**base, **agentcron_env(worker_concurrency=3)})
        procs.append(a)
        doomed = insert_one_shot_tasks(db_url, account, slow_bot, _due_now() * 3)
        wait_until(
            lambda: [e for e in _executions(db_url, doomed) if e["state"] == "running" and _owned_by(e, a)][2:],
            timeout=30,
            what="A to run three executions",
        )
        # B comes up; it is ready once its worker ran a probe (A is full, so only B can claim it).
        b = headless(db_url, {**base, **agentcron_env(shutdown_grace_ms=500)})
        procs.append(b)
        probe = insert_one_shot_tasks(db_url, account, None, _due_now())
        wait_until(
            lambda: [e for e in _executions(db_url, probe) if e["state"] == "done" and _owned_by(e, b)],
            timeout=30,
            what="B to run the probe",
        )
        # Alive workers heartbeat: more than a lease later nothing was reaped, by A's janitor or B's.
        time.sleep(LEASE_B / 1000 * 1.2)
        before = _executions(db_url, doomed)
        assert [(e["state"], e["attempt"]) for e in before] == [("running", 1)] * 3
        assert all(_owned_by(e, a) for e in before)
        assert _task_status(db_url, doomed) == {"running": 3}

        a.kill9()

        def reaped() -> bool:
            ex = _executions(db_url, doomed)
            return all(e["state"] == "done" for e in ex) and _task_status(db_url, doomed) == {"idle": 3}

        _, took = wait_until(reaped, timeout=2 * LEASE_B / 1000 + 10, interval=0.05, what="the reap")
        assert took <= 2 * LEASE_B / 1000 + 1.0, f"reaped {took:.2f} s after the kill (lease {LEASE_B} ms)"
        for e in _executions(db_url, doomed):
            assert (e["status"], e["outcome"]) == ("idle", "failure")
            assert str(e["summary"]).startswith(WORKER_LOST)
        assert _count(db_url, "SELECT COUNT(*) AS n FROM task_executions WHERE state = 'running'") == 0
        assert _count(db_url, "SELECT COUNT(*) AS n FROM tasks WHERE status = 'running'") == 0

        # Graceful: B runs a 30 s execution; SIGTERM with a 0.5 s grace hands it back to the queue.
        (handed,) = insert_one_shot_tasks(db_url, account, slow_bot, _due_now())
        wait_until(
            lambda: [e for e in _executions(db_url, [handed]) if e["state"] == "running" and _owned_by(e, b)],
            timeout=30,
            what="B to run the execution",
        )
        termed = time.monotonic()
        assert b.terminate(timeout=20) == 0, b.log()[-3000:]
        stopped = time.monotonic() - termed
        (ex,) = _executions(db_url, [handed])
        assert (ex["state"], ex["status"], ex["outcome"], ex["attempt"], ex["worker_id"]) == (
            "queued",
            "idle",
            "pending",
            1,
            None,
        )
        assert _task_status(db_url, [handed]) == {"idle": 1}
        c = headless(db_url, base)
        procs.append(c)
        (resumed,), _ = wait_until(
            lambda: [e for e in _executions(db_url, [handed]) if e["state"] == "running"],
            timeout=30,
            what="C to resume the execution",
        )
        assert resumed["id"] == ex["id"] and resumed["attempt"] == 2 and _owned_by(resumed, c)
        assert _task_status(db_url, [handed]) == {"running": 1}
        print(f"\n(b) reaped {took:.2f} s after SIGKILL (lease {LEASE_B} ms); SIGTERM exit took {stopped:.2f} s")
    finally:
        cleanup_all(procs)


# -- (c) ----------------------------------------------------------------------------------------------------


def _burst(url: str, secret: str, acked: list[str], stop: threading.Event, n: int) -> None:
    """Create tasks until the server goes away; record each id acknowledged with 200."""
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {secret}"}, timeout=5) as client:
        i = 0
        while not stop.is_set():
            i += 1
            body = {"name": f"burst-{n}-{i}", "description": "x" * 200, "schedule": "hourly", "meta": {"i": i}}
            try:
                r = client.post("/api/v1/task/create", json=body)
            except httpx.HTTPError:
                return  # killed mid-request: that write was never acknowledged
            if r.status_code == 200:
                acked.append(r.json()["id"])
            else:
                raise AssertionError(f"create answered {r.status_code}: {r.text}")


def _kill_mid_burst(db_url: str, secret: str, round_: int) -> list[str]:
    """Start the server on the file, burst creates from 4 threads, SIGKILL it once a few hundred writes
    were acknowledged; returns the acknowledged ids."""
    per_thread: list[list[str]] = [[] for _ in range(4)]
    stop = threading.Event()
    server = http_server(db_url)
    try:
        threads = [
            threading.Thread(target=_burst, args=(server.url, secret, per_thread[t], stop, round_ * 10 + t))
            for t in range(4)
        ]
        for t in threads:
            t.start()
        wait_until(lambda: sum(map(len, per_thread)) >= 300, timeout=30, interval=0.01, what="the burst")
        server.kill9()
        stop.set()
        for t in threads:
            t.join(10)
            assert not t.is_alive()
    finally:
        stop.set()
        server.cleanup()
    return [i for ids_ in per_thread for i in ids_]


def test_sigkill_during_a_create_burst_loses_no_acknowledged_write_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "burst.db"
    db_url = f"sqlite:///{path}"
    migrate_db(db_url)
    secret = new_account(db_url)
    acked: list[str] = []
    rounds = []
    for round_ in range(3):  # each restart also recovers the file the previous kill left behind
        this_round = _kill_mid_burst(db_url, secret, round_)
        acked.extend(this_round)
        integrity, missing_ids = sqlite_check(path, acked)
        rounds.append((len(this_round), integrity, len(missing_ids)))
        assert integrity == "ok", f"round {round_ + 1}: integrity_check says {integrity}"
        assert not missing_ids, f"round {round_ + 1}: {len(missing_ids)} acknowledged creates lost"
    assert len(set(acked)) == len(acked)
    print(f"\n(c) per round (acknowledged, integrity, lost): {rounds}; {len(acked)} acknowledged in all")


# -- (d) ----------------------------------------------------------------------------------------------------

SCHEDULES = ["* * * * *", "quarterhourly", "hourly"]


def _fire_at_boundary(db_url: str, secret: str, boundary: int) -> list[dict[str, Any]] | None:
    """Spawn ``--role all`` with its clock LEAD_MS before ``boundary`` (an hour boundary), create a cron, two
    interval and a one-shot task all due at it, and return their executions once started; None when the
    server came up too late to create them ahead of the boundary."""
    offset = boundary - LEAD_MS - now_ms()
    proc = http_server(db_url, agentcron_env(clock_offset_ms=offset))
    try:
        with httpx.Client(base_url=proc.url, headers={"authorization": f"Bearer {secret}"}, timeout=10) as client:
            if boundary - (now_ms() + offset) < 2 * SECOND:
                return None
            bot = client.post("/api/v1/bot/create", json={"name": "instant"}).json()["id"]
            task_ids = [
                client.post("/api/v1/task/create", json={"name": sch, "schedule": sch, "botId": bot}).json()["id"]
                for sch in [*SCHEDULES, iso(boundary)]
            ]
            created = [client.get(f"/api/v1/task/{t}/fetch").json() for t in task_ids]
            assert [t["nextRunAt"] for t in created] == [boundary] * 4
            assert boundary - max(t["createdAt"] for t in created) >= 500
            # Nothing fires early; then wait (real time) past the boundary for the runs to start.
            time.sleep(max(0.0, (boundary - (now_ms() + offset)) / 1000 - 0.3))
            assert all(client.get(f"/api/v1/task/{t}/execution/list").json()["items"] == [] for t in task_ids)

            def started() -> list[dict[str, Any]] | None:
                out = []
                for t in task_ids:
                    items = client.get(f"/api/v1/task/{t}/execution/list").json()["items"]
                    if len(items) != 1 or items[0]["startedAt"] is None:
                        return None
                    out.append(items[0])
                return out

            execs, _ = wait_until(started, timeout=15, interval=0.1, what="the four executions to start")
            return list(execs)
    finally:
        proc.cleanup()


def test_cron_intervals_and_dates_fire_within_a_second_of_due(db_url: str) -> None:
    migrate_db(db_url)
    secret = new_account(db_url)
    for attempt in range(3):
        boundary = (now_ms() // HOUR + 2 + attempt) * HOUR
        execs = _fire_at_boundary(db_url, secret, boundary)
        if execs is None:
            continue  # the server took too long to start: try again at another boundary
        names = [*SCHEDULES, "date"]
        lags = {n: (e["createdAt"] - boundary, e["startedAt"] - boundary) for n, e in zip(names, execs, strict=True)}
        assert [e["scheduledFor"] for e in execs] == [boundary] * 4
        assert [e["trigger"] for e in execs] == ["schedule"] * 4
        assert all(0 <= c < 1000 and 0 <= st < 1000 for c, st in lags.values()), lags
        print(f"\n(d) {db_url.split(':')[0]}: (createdAt, startedAt) - due, ms: {lags}")
        return
    pytest.fail("the server never came up early enough before a boundary (3 attempts)")
