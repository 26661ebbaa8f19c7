"""Accounts and their API secrets. Secrets are stored as SHA-256 digests only."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from agentcron import ids
from agentcron.store.db import Database

log = logging.getLogger("agentcron.store")

#: cached secret digests (account per digest) before the cache starts over
AUTH_CACHE_MAX = 10_000
#: how long a cached secret is trusted before it is read again: a secret revoked or an account deleted (by
#: any process) stops working in every process within this time
AUTH_RECHECK_S = 0.5
#: a secret's ``last_used_at`` is written when the stored value is older than this (at most once a minute
#: per secret and process: the write rides on the re-read of `AUTH_RECHECK_S`, never on a cached answer)
LAST_USED_EVERY_MS = 60_000


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class NameTaken(ValueError):
    """Another account has this name (``agentcron account create`` / ``rename`` keep names unique)."""


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: str
    name: str
    created_at: int
    tokens: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API secret as the operator sees it: never the secret, which is not stored."""

    id: str
    account_id: str
    name: str | None
    created_at: int
    last_used_at: int | None


@dataclass(frozen=True, slots=True)
class NewToken:
    id: str
    secret: str


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: digest -> (account, monotonic time it was read)
        self._auth_cache: dict[str, tuple[str, float]] = {}
        #: digest -> epoch ms this process last wrote the secret's ``last_used_at``
        self._used_written: dict[str, int] = {}

    async def create_account(self, name: str, now: int, *, unique: bool = False) -> str:
        """Create an account; with ``unique``, raise `NameTaken` when an account already has ``name``."""
        account_id = ids.new_id(now)
        async with self.db.tx(write=True) as tx:
            if unique and await tx.fetchrow("SELECT id FROM accounts WHERE name = $1 LIMIT 1", name):
                raise NameTaken(name)
            await tx.execute("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)", account_id, name, now)
        return account_id

    async def rename_account(self, account_id: str, name: str) -> bool:
        """Rename the account; raises `NameTaken` when another account has ``name``. Returns whether it
        exists."""
        async with self.db.tx(write=True) as tx:
            if await tx.fetchrow("SELECT id FROM accounts WHERE name = $1 AND id <> $2 LIMIT 1", name, account_id):
                raise NameTaken(name)
            return bool(await tx.execute("UPDATE accounts SET name = $1 WHERE id = $2", name, account_id))

    async def find_account(self, ref: str) -> str | None:
        """The id of the account whose id or (exact) name is ``ref``; the oldest one if names repeat."""
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                "SELECT id FROM accounts WHERE id = $1 OR name = $1 ORDER BY created_at LIMIT 1", ref
            )
        return None if row is None else str(row["id"])

    async def list_accounts(self) -> list[AccountInfo]:
        """Every account, oldest first, with the number of its secrets."""
        async with self.db.tx() as tx:
            rows = await tx.fetch(
                "SELECT a.id, a.name, a.created_at, "
                "(SELECT COUNT(*) FROM api_tokens t WHERE t.account_id = a.id) AS tokens "
                "FROM accounts a ORDER BY a.created_at, a.id"
            )
        return [AccountInfo(str(r["id"]), str(r["name"]), int(r["created_at"]), int(r["tokens"])) for r in rows]

    async def create_token(self, account_id: str, now: int, name: str | None = None) -> str:
        """Create an API secret for the account and return it; only its SHA-256 is stored."""
        return (await self.new_token(account_id, now, name)).secret

    async def new_token(self, account_id: str, now: int, name: str | None = None) -> NewToken:
        """`create_token`, answering the new secret's id too."""
        token = NewToken(ids.new_id(now), ids.new_secret())
        async with self.db.tx(write=True) as tx:
            await tx.execute(
                "INSERT INTO api_tokens (id, account_id, secret_hash, created_at, name) VALUES ($1, $2, $3, $4, $5)",
                token.id,
                account_id,
                hash_secret(token.secret),
                now,
                name,
            )
        return token

    async def list_tokens(self, account_id: str) -> list[TokenInfo]:
        """The account's API secrets (never the secrets themselves), oldest first."""
        async with self.db.tx() as tx:
            rows = await tx.fetch(
                "SELECT id, account_id, name, created_at, last_used_at FROM api_tokens "
                "WHERE account_id = $1 ORDER BY created_at, id",
                account_id,
            )
        return [
            TokenInfo(
                str(r["id"]),
                str(r["account_id"]),
                r["name"],
                int(r["created_at"]),
                None if r["last_used_at"] is None else int(r["last_used_at"]),
            )
            for r in rows
        ]

    async def account_for_secret(self, secret: str, now_ms: int | None = None) -> str | None:
        """The account a bearer secret belongs to, or None. The lookup is by hash, so a timing
        difference can reveal nothing about the secret itself. A secret read in the last
        `AUTH_RECHECK_S` is answered from memory; revocation takes effect within that time. A re-read
        finding ``last_used_at`` older than `LAST_USED_EVERY_MS` (``now_ms``: epoch ms, default the
        system clock) writes it: one UPDATE a minute at most per secret and process."""
        digest = hash_secret(secret)
        now = time.monotonic()
        hit = self._auth_cache.get(digest)
        if hit is not None and now - hit[1] < AUTH_RECHECK_S:
            return hit[0]
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                "SELECT id, account_id, last_used_at FROM api_tokens WHERE secret_hash = $1", digest
            )
        if row is None:
            self._auth_cache.pop(digest, None)
            self._used_written.pop(digest, None)
            return None
        if len(self._auth_cache) > AUTH_CACHE_MAX:
            self._auth_cache.clear()
            self._used_written.clear()
        self._auth_cache[digest] = (str(row["account_id"]), now)
        wall = int(time.time() * 1000) if now_ms is None else now_ms
        stored = row["last_used_at"]
        if (stored is None or wall - int(stored) >= LAST_USED_EVERY_MS) and (
            wall - self._used_written.get(digest, -LAST_USED_EVERY_MS) >= LAST_USED_EVERY_MS
        ):
            self._used_written[digest] = wall
            await self._touch(str(row["id"]), wall)
        return str(row["account_id"])

    async def _touch(self, token_id: str, now: int) -> None:
        """Record a use of the secret (best effort: a failure never fails the request it authenticates)."""
        try:
            async with self.db.tx(write=True) as tx:
                await tx.execute(
                    "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND "
                    "(last_used_at IS NULL OR last_used_at <= $3)",
                    now,
                    token_id,
                    now - LAST_USED_EVERY_MS,
                )
        except Exception as e:  # (a busy or failing database: the next re-read a minute on tries again)
            log.debug("could not record the use of API secret %s: %s", token_id, e)

    async def revoke_token(self, secret: str) -> bool:
        """Delete the API secret; every process refuses it within `AUTH_RECHECK_S`. Returns whether it
        existed. Idempotent."""
        digest = hash_secret(secret)
        self._auth_cache.pop(digest, None)
        async with self.db.tx(write=True) as tx:
            return bool(await tx.execute("DELETE FROM api_tokens WHERE secret_hash = $1", digest))

    async def revoke_token_id(self, token_id: str) -> bool:
        """`revoke_token` by the secret's id (as `list_tokens` shows it)."""
        async with self.db.tx(write=True) as tx:
            return bool(await tx.execute("DELETE FROM api_tokens WHERE id = $1", token_id))

    async def delete_account(self, account_id: str) -> bool:
        """Delete the account and, by cascade, everything it owns (secrets, bots, contacts, tasks, runs,
        conversations, events). Its secrets stop working in every process within `AUTH_RECHECK_S`; a
        request racing the delete answers 401. Returns whether it existed. Idempotent."""
        async with self.db.tx(write=True) as tx:
            existed = bool(await tx.execute("DELETE FROM accounts WHERE id = $1", account_id))
            # The tables without a foreign key to accounts (written on the hot path) are cleared by hand,
            # after the cascade: a run queued or an event appended while the cascade waited for the task
            # rows (a tick holds them) has committed by then, and goes too.
            for table in ("task_events", "task_executions", "account_usage"):
                await tx.execute(f"DELETE FROM {table} WHERE account_id = $1", account_id)
            return existed
