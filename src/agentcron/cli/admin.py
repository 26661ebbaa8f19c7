"""The commands that work on the database directly (``--database-url`` / ``AGENTCRON_DATABASE_URL``): serve,
migrate, and the accounts and API secrets (``account``, ``token``), which no API call manages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer

from agentcron.cli.output import USAGE, CliError, emit_json, emit_text, note, table, when
from agentcron.clock import SystemClock
from agentcron.config import ROLES, ConfigError, Settings

if TYPE_CHECKING:
    from agentcron.store.base import Store

# (the store is imported by the commands that use it: the client commands start without SQLAlchemy)

T = TypeVar("T")

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///PATH or postgresql://user@host/db (env AGENTCRON_DATABASE_URL; default sqlite:///./data/agentcron.db).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.", show_default=False)]
AccountArg = Annotated[str, typer.Argument(metavar="ACCOUNT", help="The account's id or name.")]

account_app = typer.Typer(name="account", help="Accounts (on the database directly).", no_args_is_help=True)
token_app = typer.Typer(name="token", help="API secrets of accounts (on the database directly).", no_args_is_help=True)


def settings_of(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except ConfigError as e:
        raise CliError(str(e), USAGE) from None


def safe_url(url: str) -> str:
    """The database URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def on_store(database_url: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` on the (migrated) database; its failures become a `CliError` naming the database."""
    from agentcron.store.base import open_store

    url = settings_of(database_url=database_url).database_url

    async def run() -> T:
        store = await open_store(url, pool_size=1)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except CliError:
        raise
    except Exception as e:  # (cannot connect, not a database, a scheme we do not know, ...)
        raise CliError(f"database {safe_url(url)}: {type(e).__name__}: {e}") from None


async def _account(store: Store, ref: str) -> str:
    account_id = await store.accounts.find_account(ref)
    if account_id is None:
        raise CliError(f"no account with id or name {ref!r} (agentcron account list)")
    return account_id


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (env AGENTCRON_HOST, default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (env AGENTCRON_PORT, default 8000).")] = None,
    database_url: DbOpt = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help=f"'all' (default) or a comma list of {', '.join(ROLES[1:])} (env AGENTCRON_ROLE)."),
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(
            "--health-port",
            help="Also serve /healthz, /readyz and /metrics on this port (env AGENTCRON_HEALTH_PORT; 0: none).",
        ),
    ] = None,
) -> None:
    """Run the service: API, scheduler and worker (or the --role given); migrates the database first."""
    from agentcron.runtime import serve as run_service

    settings = settings_of(database_url=database_url, host=host, port=port, role=role, health_port=health_port)
    raise typer.Exit(run_service(settings))


def migrate(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Bring the database schema up to date (serve does this too)."""
    from agentcron.store.migrate import migrate as migrate_db

    url = settings_of(database_url=database_url).database_url
    try:
        asyncio.run(migrate_db(url))
    except Exception as e:
        raise CliError(f"database {safe_url(url)}: {type(e).__name__}: {e}") from None
    if as_json:
        emit_json({"database": safe_url(url), "migrated": True})
    else:
        note(f"database {safe_url(url)} is up to date")


@account_app.command("create", epilog="Example: SECRET=$(agentcron account create my-team --database-url URL)")
def account_create(
    name: Annotated[str, typer.Argument(metavar="NAME")], database_url: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Create an account and print its first API secret (only that). Names are unique."""

    from agentcron.store.accounts import NameTaken

    async def work(store: Store) -> tuple[str, str, str]:
        now = SystemClock().now_ms()
        try:
            account_id = await store.accounts.create_account(name, now, unique=True)
        except NameTaken:
            raise CliError(
                f"an account named {name!r} exists already: pick another name, or get another secret for it "
                f"with agentcron token create {name}"
            ) from None
        token = await store.accounts.new_token(account_id, now)
        return account_id, token.id, token.secret

    account_id, token_id, secret = on_store(database_url, work)
    if as_json:
        emit_json({"id": account_id, "name": name, "tokenId": token_id, "secret": secret})
    else:
        emit_text(secret)


@account_app.command(
    "list", epilog="Example: agentcron account list --database-url postgresql://agentcron@db/agentcron"
)
def account_list(database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List the accounts, oldest first, with how many API secrets each has."""
    accounts = on_store(database_url, lambda store: store.accounts.list_accounts())
    if as_json:
        emit_json([{"id": a.id, "name": a.name, "createdAt": a.created_at, "secrets": a.tokens} for a in accounts])
    else:
        table(
            ["ID", "NAME", "SECRETS", "CREATED"],
            ([a.id, a.name, a.tokens, when(a.created_at)] for a in accounts),
            "no accounts",
        )


@account_app.command("rename", epilog="Example: agentcron account rename my-team platform-team")
def account_rename(
    account: AccountArg,
    new_name: Annotated[str, typer.Argument(metavar="NEW", help="The new name (unique).")],
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename an account."""
    from agentcron.store.accounts import NameTaken

    async def work(store: Store) -> str:
        account_id = await _account(store, account)
        try:
            await store.accounts.rename_account(account_id, new_name)
        except NameTaken:
            raise CliError(f"another account is named {new_name!r}") from None
        return account_id

    account_id = on_store(database_url, work)
    if as_json:
        emit_json({"id": account_id, "name": new_name})
    else:
        emit_text(f"renamed account {account_id} to {new_name}")


@account_app.command("delete", epilog="Example: agentcron account delete acme --yes")
def account_delete(
    account: AccountArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do it (without --yes, only say what would go).")] = False,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete an account and everything it owns; its secrets stop working within a second."""

    async def work(store: Store) -> str:
        account_id = await _account(store, account)
        if yes:
            await store.accounts.delete_account(account_id)
        return account_id

    account_id = on_store(database_url, work)
    if not yes:
        raise CliError(f"would delete account {account_id} and all it owns; add --yes")
    if as_json:
        emit_json({"id": account_id, "deleted": True})
    else:
        emit_text(f"deleted account {account_id}")


@token_app.command("create", epilog="Example: agentcron token create my-team --name ci")
def token_create(
    account: AccountArg,
    name: Annotated[str | None, typer.Option("--name", help="A label, shown by agentcron token list.")] = None,
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a new API secret for an account (only its hash is stored: keep it now)."""

    async def work(store: Store) -> tuple[str, str, str]:
        account_id = await _account(store, account)
        token = await store.accounts.new_token(account_id, SystemClock().now_ms(), name)
        return account_id, token.id, token.secret

    account_id, token_id, secret = on_store(database_url, work)
    if as_json:
        emit_json({"id": token_id, "accountId": account_id, "name": name, "secret": secret})
    else:
        emit_text(secret)


@token_app.command("list", epilog="Example: agentcron token list my-team")
def token_list(account: AccountArg, database_url: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List an account's API secrets: id, label, created, last used (never the secret itself)."""

    async def work(store: Store) -> list[Any]:
        return list(await store.accounts.list_tokens(await _account(store, account)))

    tokens = on_store(database_url, work)
    if as_json:
        emit_json(
            [{"id": t.id, "name": t.name, "createdAt": t.created_at, "lastUsedAt": t.last_used_at} for t in tokens]
        )
    else:
        rows = ([t.id, t.name, when(t.created_at), when(t.last_used_at)] for t in tokens)
        table(["ID", "NAME", "CREATED", "LAST USED"], rows, "no API secrets")


@token_app.command("revoke", epilog="Example: agentcron token revoke TOKEN_ID   (the id agentcron token list shows)")
def token_revoke(
    token: Annotated[str, typer.Argument(metavar="TOKEN_ID", help="The secret's id (or the secret itself).")],
    database_url: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API secret: every server refuses it within a second."""

    async def work(store: Store) -> bool:
        return await store.accounts.revoke_token_id(token) or await store.accounts.revoke_token(token)

    if not on_store(database_url, work):
        raise CliError("no such API secret (already revoked?)")
    if as_json:
        emit_json({"revoked": True})
    else:
        emit_text("revoked")
