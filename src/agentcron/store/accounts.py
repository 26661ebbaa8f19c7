"""Accounts and their API secrets. Secrets are stored as SHA-256 digests only."""

from __future__ import annotations

import hashlib
import time

from agentcron import ids
from agentcron.store.db import Database

#: cached secret digests (account per digest) before the cache starts over
AUTH_CACHE_MAX = 10_000
#: how long a cached secret is trusted before it is read again: a secret revoked or an account deleted (by
#: any process) stops working in every process within this time
AUTH_RECHECK_S = 0.5


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: digest -> (account, monotonic time it was read)
        self._auth_cache: dict[str, tuple[str, float]] = {}

    async def create_account(self, name: str, now: int) -> str:
        account_id = ids.new_id(now)
        async with self.db.tx(write=True) as tx:
            await tx.execute("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)", account_id, name, now)
        return account_id

    async def find_account(self, ref: str) -> str | None:
        """The id of the account whose id or (exact) name is ``ref``; the oldest one if names repeat."""
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                "SELECT id FROM accounts WHERE id = $1 OR name = $1 ORDER BY created_at LIMIT 1", ref
            )
        return None if row is None else str(row["id"])

    async def create_token(self, account_id: str, now: int) -> str:
        """Create an API secret for the account and return it; only its SHA-256 is stored."""
        secret = ids.new_secret()
        async with self.db.tx(write=True) as tx:
            await tx.execute(
                "INSERT INTO api_tokens (id, account_id, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
                ids.new_id(now),
                account_id,
                hash_secret(secret),
                now,
            )
        return secret

    async def account_for_secret(self, secret: str) -> str | None:
        """The account a bearer secret belongs to, or None. The lookup is by hash, so a timing
        difference can reveal nothing about the secret itself. A secret read in the last
        `AUTH_RECHECK_S` is answered from memory; revocation takes effect within that time."""
        digest = hash_secret(secret)
        now = time.monotonic()
        hit = self._auth_cache.get(digest)
        if hit is not None and now - hit[1] < AUTH_RECHECK_S:
            return hit[0]
        async with self.db.tx() as tx:
            row = await tx.fetchrow("SELECT account_id FROM api_tokens WHERE secret_hash = $1", digest)
        if row is None:
            self._auth_cache.pop(digest, None)
            return None
        if len(self._auth_cache) > AUTH_CACHE_MAX:
            self._auth_cache.clear()
        self._auth_cache[digest] = (str(row["account_id"]), now)
        return str(row["account_id"])

    async def revoke_token(self, secret: str) -> bool:
        """Delete the API secret; every process refuses it within `AUTH_RECHECK_S`. Returns whether it
        existed. Idempotent."""
        digest = hash_secret(secret)
        self._auth_cache.pop(digest, None)
        async with self.db.tx(write=True) as tx:
            return bool(await tx.execute("DELETE FROM api_tokens WHERE secret_hash = $1", digest))

    async def delete_account(self, account_id: str) -> bool:
        """Delete the account and, by cascade, everything it owns (secrets, bots, contacts, tasks, runs,
        conversations, events). Its secrets stop working in every process within `AUTH_RECHECK_S`; a
        request racing the delete answers 401. Returns whether it existed. Idempotent."""
        async with self.db.tx(write=True) as tx:
            # (the tables without a foreign key to accounts, written on the hot path, are cleared by hand)
            for table in ("task_events", "task_executions", "account_usage"):
                await tx.execute(f"DELETE FROM {table} WHERE account_id = $1", account_id)
            return bool(await tx.execute("DELETE FROM accounts WHERE id = $1", account_id))
