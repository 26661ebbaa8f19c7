"""Accounts and their API secrets. Secrets are stored as SHA-256 digests only."""

from __future__ import annotations

import hashlib

from agentcron import ids
from agentcron.store.db import Database

#: cached secret digests (account per digest) before the cache starts over
AUTH_CACHE_MAX = 10_000


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._auth_cache: dict[str, str] = {}

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
        difference can reveal nothing about the secret itself."""
        digest = hash_secret(secret)
        hit = self._auth_cache.get(digest)
        if hit is not None:
            return hit
        async with self.db.tx() as tx:
            row = await tx.fetchrow("SELECT account_id FROM api_tokens WHERE secret_hash = $1", digest)
        if row is None:
            return None
        if len(self._auth_cache) > AUTH_CACHE_MAX:
            self._auth_cache.clear()
        self._auth_cache[digest] = row["account_id"]
        return str(row["account_id"])
