"""The ``agentcron`` command (Typer and Rich).

- Client commands talk to a server over HTTP (``--url`` / ``AGENTCRON_URL``, ``--secret`` /
  ``AGENTCRON_SECRET``): ``tasks``, ``runs``, ``bots``, ``export``, ``import``.
- Admin commands work on the database directly (``--database-url`` / ``AGENTCRON_DATABASE_URL``): ``serve``,
  ``migrate``, ``account``, ``token``.

Every command takes ``--help`` (with an example) and ``--json``. A refused request prints the server's
message and exits 1, bad usage exits 2; no failure ends in a traceback (`main`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated

import click
import typer

from agentcron import __version__
from agentcron.cli import admin, bots, control, data, runs, tasks
from agentcron.cli.output import CliError, fail

app = typer.Typer(
    name="agentcron",
    help="Run AI agents as scheduled tasks. Client commands talk to a server (--url, --secret); "
    "serve, migrate, account and token work on the database (--database-url).",
    epilog="Example: agentcron tasks list --url http://127.0.0.1:8000 --secret $SECRET",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("serve", epilog="Example: agentcron serve --port 9000 --database-url postgresql://agentcron@db/agentcron")(
    admin.serve
)
app.command("migrate", epilog="Example: agentcron migrate --database-url postgresql://agentcron@db/agentcron")(
    admin.migrate
)
app.add_typer(admin.account_app)
app.add_typer(admin.token_app)
app.add_typer(tasks.app)
app.add_typer(runs.app)
app.add_typer(bots.app)
app.add_typer(data.app)
_ = control  # (registers trigger ... backfill on the tasks group)


def _version(value: bool) -> None:
    if value:
        print(f"agentcron {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run AI agents as scheduled tasks. Client commands talk to a server (--url, --secret); serve,
    migrate, account and token work on the database (--database-url)."""


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: the exit status of the command (never a traceback: AGENTCRON_DEBUG=1 shows one)."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="agentcron")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except CliError as e:
        return fail(e)
    except KeyboardInterrupt:
        print("agentcron: interrupted", file=sys.stderr)
        return 130
    except click.exceptions.Abort:
        return 1
    except Exception as e:
        if os.environ.get("AGENTCRON_DEBUG"):
            raise
        print(f"agentcron: unexpected {type(e).__name__}: {e} (AGENTCRON_DEBUG=1 shows where)", file=sys.stderr)
        return 1
    return 0
