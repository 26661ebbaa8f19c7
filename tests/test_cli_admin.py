"""The admin commands of ``agentcron`` (``account``, ``token``, ``migrate``), run as the real executable on the
database of a running server (both backends): unique account names, list, rename, delete, labelled secrets
listed with when they were last used (never the secret) and revocation by id. (Each command opens the
database, ~1 s: independent ones run at once.)"""

from __future__ import annotations

import secrets
import time

from tests.conftest import Server
from tests.http_helpers import API
from tests.test_cli import ok_json, run_cli, run_many
from tests.test_revocation import _refused_within


def test_account_names_are_unique_and_accounts_list_rename_and_delete(server: Server) -> None:
    name, other, doomed = (f"{p}-{secrets.token_hex(4)}" for p in ("team", "other", "doomed"))
    created, second, third = run_many(
        server,
        None,
        ["account", "create", name, "--database-url", server.db_url],
        ["account", "create", other, "--json"],
        ["account", "create", doomed],
    )
    assert created.returncode == 0 and created.stdout.startswith("sk-"), created.stderr
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n"  # the secret, only that: SECRET=$(agentcron account create NAME)
    made = ok_json(second)
    assert made["name"] == other and made["secret"].startswith("sk-") and made["tokenId"]
    assert third.returncode == 0
    # (at once, so none touches an account another one reads or changes)
    again, renamed, clash, missing, dry, migrated = run_many(
        server,
        None,
        ["account", "create", other],
        ["account", "rename", name, f"{name}-2"],
        ["account", "rename", doomed, other],
        ["account", "rename", "nobody-" + secrets.token_hex(4), "x"],
        ["account", "delete", made["id"]],
        ["migrate", "--json"],
    )
    assert again.returncode == 1 and f"an account named {other!r} exists already" in again.stderr
    assert again.stdout == ""
    assert renamed.returncode == 0 and renamed.stdout.startswith("renamed account "), renamed.stderr
    assert clash.returncode == 1 and "another account is named" in clash.stderr
    assert missing.returncode == 1 and "no account with id or name" in missing.stderr
    assert dry.returncode == 1 and "add --yes" in dry.stderr  # nothing happens without --yes
    assert ok_json(migrated)["migrated"] is True
    taken, gone = run_many(
        server,
        None,
        ["account", "rename", other, f"{other}-x", "--json"],
        ["account", "delete", doomed, "--yes", "--json"],
    )
    assert ok_json(taken) == {"id": made["id"], "name": f"{other}-x"}
    assert ok_json(gone)["deleted"] is True
    listed, table = run_many(server, None, ["account", "list", "--json"], ["account", "list"])
    accounts = {a["name"]: a for a in ok_json(listed)}
    assert accounts[f"{name}-2"]["secrets"] == 1 and accounts[f"{other}-x"]["id"] == made["id"]
    assert not {name, other, doomed} & set(accounts)
    assert f"{name}-2" in table.stdout and "SECRETS" in table.stdout
    with server.client(secret) as c:  # renaming leaves the secrets as they were
        assert c.get(f"{API}/task/list").status_code == 200


def test_tokens_are_labelled_listed_with_last_use_and_revoked_by_id(server: Server) -> None:
    name = f"tokens-{secrets.token_hex(4)}"
    first = run_cli(server, None, "account", "create", name).stdout.strip()
    made, plain = run_many(server, None, ["token", "create", name, "--name", "ci", "--json"], ["token", "create", name])
    ci = ok_json(made)
    assert ci["name"] == "ci" and ci["secret"].startswith("sk-")
    assert plain.returncode == 0 and plain.stdout.startswith("sk-")
    before = int(time.time() * 1000)
    with server.client(ci["secret"]) as c:
        assert c.get(f"{API}/task/list").status_code == 200  # a use: recorded on the server's first read
        listed, table = run_many(server, None, ["token", "list", name, "--json"], ["token", "list", name])
        tokens = ok_json(listed)
        assert sorted(t["name"] or "" for t in tokens) == ["", "", "ci"]
        assert all(set(t) == {"id", "name", "createdAt", "lastUsedAt"} for t in tokens)  # never the secret
        used = {t["id"]: t["lastUsedAt"] for t in tokens}
        assert used[ci["id"]] is not None and used[ci["id"]] >= before - 1000
        assert sum(v is not None for v in used.values()) == 1
        assert table.returncode == 0 and "LAST USED" in table.stdout and ci["id"] in table.stdout
        assert ci["secret"] not in table.stdout and first not in table.stdout
        revoked = run_cli(server, None, "token", "revoke", ci["id"])
        assert revoked.returncode == 0 and revoked.stdout.strip() == "revoked", revoked.stderr
        assert _refused_within(c, 1.0) <= 1.0
    again, after = run_many(server, None, ["token", "revoke", ci["id"]], ["token", "list", name, "--json"])
    assert again.returncode == 1 and "no such API secret" in again.stderr
    assert {t["id"] for t in ok_json(after)} == set(used) - {ci["id"]}
    with server.client(first) as c:  # the account's other secrets still work
        assert c.get(f"{API}/task/list").status_code == 200
