"""The ``agentcron`` command: serve | account create|delete | token create|revoke | migrate.

Every flag also reads an ``AGENTCRON_*`` environment variable (``--database-url`` /
``AGENTCRON_DATABASE_URL``); flags win.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from agentcron import __version__
from agentcron.clock import SystemClock
from agentcron.config import ROLES, ConfigError, Settings
from agentcron.store.base import open_store
from agentcron.store.migrate import migrate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agentcron", description="Run AI agents as scheduled tasks.")
    p.add_argument("--version", action="version", version=f"agentcron {__version__}")
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--database-url", help="sqlite:///PATH or postgresql://... (env AGENTCRON_DATABASE_URL)")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[db], help="run the service (migrates first)")
    serve.add_argument("--host", help="bind address (env AGENTCRON_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env AGENTCRON_PORT, default 8000)")
    serve.add_argument(
        "--role",
        help=f"'all' (default) or a comma list of {', '.join(ROLES[1:])} (env AGENTCRON_ROLE)",
    )

    account = sub.add_parser("account", help="manage accounts").add_subparsers(dest="action", required=True)
    create = account.add_parser("create", parents=[db], help="create an account; prints its first API secret")
    create.add_argument("name")
    adelete = account.add_parser(
        "delete",
        parents=[db],
        help="delete ACCOUNT (id or name) and everything it owns; its secrets stop working within a second",
        epilog="example: agentcron account delete acme --yes",
    )
    adelete.add_argument("account")
    adelete.add_argument("--yes", action="store_true", help="do it (without --yes, only say what would go)")

    token = sub.add_parser("token", help="manage API secrets").add_subparsers(dest="action", required=True)
    tcreate = token.add_parser("create", parents=[db], help="print a new API secret for ACCOUNT (id or name)")
    tcreate.add_argument("account")
    trevoke = token.add_parser(
        "revoke",
        parents=[db],
        help="revoke an API secret: every server refuses it within a second",
        epilog="example: agentcron token revoke sk-...",
    )
    trevoke.add_argument("secret")

    sub.add_parser("migrate", parents=[db], help="bring the database schema up to date")
    return p


async def _account_create(settings: Settings, name: str) -> str:
    store = await open_store(settings.database_url, pool_size=1)
    try:
        now = SystemClock().now_ms()
        account_id = await store.accounts.create_account(name, now)
        return await store.accounts.create_token(account_id, now)
    finally:
        await store.close()


async def _token_create(settings: Settings, ref: str) -> str | None:
    store = await open_store(settings.database_url, pool_size=1)
    try:
        account_id = await store.accounts.find_account(ref)
        if account_id is None:
            return None
        return await store.accounts.create_token(account_id, SystemClock().now_ms())
    finally:
        await store.close()


async def _token_revoke(settings: Settings, secret: str) -> bool:
    store = await open_store(settings.database_url, pool_size=1)
    try:
        return await store.accounts.revoke_token(secret)
    finally:
        await store.close()


async def _account_delete(settings: Settings, ref: str, really: bool) -> str | None:
    """The id of the account ``ref`` names (deleted when ``really``), or None when there is none."""
    store = await open_store(settings.database_url, pool_size=1)
    try:
        account_id = await store.accounts.find_account(ref)
        if account_id is not None and really:
            await store.accounts.delete_account(account_id)
        return account_id
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            database_url=getattr(args, "database_url", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            role=getattr(args, "role", None),
        )
    except ConfigError as e:
        print(f"agentcron: {e}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from agentcron.runtime import serve

        return serve(settings)
    if args.command == "migrate":
        asyncio.run(migrate(settings.database_url))
        return 0
    if args.command == "account" and args.action == "delete":
        account_id = asyncio.run(_account_delete(settings, args.account, args.yes))
        if account_id is None:
            print(f"agentcron: no account with id or name {args.account!r}", file=sys.stderr)
            return 1
        if not args.yes:
            print(f"agentcron: would delete account {account_id} and all it owns; add --yes", file=sys.stderr)
            return 1
        print(f"deleted account {account_id}")
        return 0
    if args.command == "account":
        print(asyncio.run(_account_create(settings, args.name)))
        return 0
    if args.command == "token" and args.action == "revoke":
        if not asyncio.run(_token_revoke(settings, args.secret)):
            print("agentcron: no such API secret (already revoked?)", file=sys.stderr)
            return 1
        print("revoked")
        return 0
    if args.command == "token":
        secret = asyncio.run(_token_create(settings, args.account))
        if secret is None:
            print(f"agentcron: no account with id or name {args.account!r}", file=sys.stderr)
            return 1
        print(secret)
        return 0
    return 2
