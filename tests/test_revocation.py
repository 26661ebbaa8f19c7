"""Revoking a secret and deleting an account, through the CLI against a running server (both backends): the
server refuses the secret within a second (revoked by its id, as `agentcron token list` shows it, or by the
secret itself), on every API process sharing the database, and requests racing an account's deletion answer
401, never 500. (`AccountStore` re-reads a cached secret after `AUTH_RECHECK_S`; a foreign-key failure of a
write whose account vanished mid-request is answered 401.) The re-read records when the secret was last used,
writing at most once a minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from agentcron.store import accounts
from agentcron.store.accounts import AUTH_RECHECK_S, LAST_USED_EVERY_MS
from agentcron.store.base import Store
from tests.conftest import Server, new_account, start_server, stop_server
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


def _token_ids(db_url: str, account: str) -> list[str]:
    done = _cli(db_url, "token", "list", account, "--json")
    assert done.returncode == 0, done.stderr
    return [t["id"] for t in json.loads(done.stdout)]


@pytest.mark.postgres
def test_revoking_by_id_takes_effect_on_two_api_processes_sharing_postgresql(pg_server: Server) -> None:
    second = start_server(pg_server.db_url, "--role", "api")
    try:
        secret = new_account(pg_server.db_url, "two-processes")
        (token_id,) = _token_ids(pg_server.db_url, "two-processes")
        with pg_server.client(secret) as a, second.client(secret) as b:
            assert a.get(f"{API}/task/list").status_code == 200 and b.get(f"{API}/task/list").status_code == 200
            done = _cli(pg_server.db_url, "token", "revoke", token_id)
            assert done.returncode == 0 and done.stdout.strip() == "revoked", done.stderr
            revoked = time.monotonic()
            assert _refused_within(a, 1.0) <= 1.0
            assert _refused_within(b, 1.0 - (time.monotonic() - revoked)) <= 1.0
    finally:
        stop_server(second)


@pytest.mark.anyio
async def test_last_use_is_written_on_a_re_read_at_most_once_a_minute(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "AUTH_RECHECK_S", 0.0)  # every call re-reads the secret
    account = await store.accounts.create_account("used", 1_000)
    secret = await store.accounts.create_token(account, 1_000, name="ci")

    async def last_used() -> int | None:
        (token,) = await store.accounts.list_tokens(account)
        assert token.name == "ci"
        return token.last_used_at

    assert await last_used() is None
    t0 = 1_700_000_000_000
    assert await store.accounts.account_for_secret(secret, now_ms=t0) == account
    assert await last_used() == t0
    for later in (t0 + 1, t0 + LAST_USED_EVERY_MS - 1):
        assert await store.accounts.account_for_secret(secret, now_ms=later) == account
        assert await last_used() == t0  # within the minute: no write
    assert await store.accounts.account_for_secret(secret, now_ms=t0 + LAST_USED_EVERY_MS) == account
    assert await last_used() == t0 + LAST_USED_EVERY_MS
