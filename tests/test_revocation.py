"""Revoking a secret and deleting an account, through the CLI against a running server (both backends): the
server refuses the secret within a second, and requests racing an account's deletion answer 401, never 500.
(`AccountStore` re-reads a cached secret after `AUTH_RECHECK_S`; a foreign-key failure of a write whose
account vanished mid-request is answered 401.)"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx

from agentcron.store.accounts import AUTH_RECHECK_S
from tests.conftest import Server, new_account
from tests.http_helpers import API


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentcron", *args, "--database-url", db_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


def _refused_within(c: httpx.Client, seconds: float) -> float:
    """Seconds until ``task/list`` answers 401 (fails after ``seconds``)."""
    start = time.monotonic()
    while True:
        r = c.get(f"{API}/task/list")
        elapsed = time.monotonic() - start
        if r.status_code == 401:
            return elapsed
        assert r.status_code == 200, r.text
        assert elapsed < seconds, f"still accepted after {elapsed:.2f} s"
        time.sleep(0.02)


def test_a_revoked_secret_is_refused_within_a_second(server: Server) -> None:
    secret = new_account(server.db_url, "revoked")
    with server.client(secret) as c:
        assert c.get(f"{API}/task/list").status_code == 200  # cached by the server now
        done = _cli(server.db_url, "token", "revoke", secret)
        assert done.returncode == 0 and done.stdout.strip() == "revoked", done.stderr
        assert _refused_within(c, 1.0) <= 1.0
        assert AUTH_RECHECK_S < 1.0
        r = c.post(f"{API}/task/create", json={"name": "after"})
        assert r.status_code == 401 and r.json()["code"] == "NOT_AUTHENTICATED", r.text
    again = _cli(server.db_url, "token", "revoke", secret)
    assert again.returncode == 1 and "no such API secret" in again.stderr


def test_requests_racing_an_account_delete_answer_401_never_500(server: Server) -> None:
    secret = new_account(server.db_url, "doomed")
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        with server.client(secret) as c:
            while not stop.is_set():
                statuses.append(c.post(f"{API}/task/create", json={"name": "racing", "meta": {"k": 1}}).status_code)
                statuses.append(c.get(f"{API}/task/list").status_code)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        dry = _cli(server.db_url, "account", "delete", "doomed")
        assert dry.returncode == 1 and "--yes" in dry.stderr  # nothing happens without --yes
        done = _cli(server.db_url, "account", "delete", "doomed", "--yes")
        assert done.returncode == 0 and done.stdout.startswith("deleted account "), done.stderr
        deleted = time.monotonic()
        while time.monotonic() - deleted < 1.5:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert 200 in statuses and 401 in statuses
    assert set(statuses) <= {200, 401}, sorted(set(statuses))
    with server.client(secret) as c:
        assert c.get(f"{API}/task/list").status_code == 401
    missing = _cli(server.db_url, "account", "delete", "doomed", "--yes")
    assert missing.returncode == 1 and "no account" in missing.stderr
