"""``agentcron bots``: the account's bots (list, show, create)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from agentcron.cli.http import DEFAULT_URL, Api, JsonOpt, LimitOpt, SecretOpt, UrlOpt, parse_meta
from agentcron.cli.output import emit_json, emit_text, one_line, record, table, when

app = typer.Typer(name="bots", help="Bots on a server: list, show, create.", no_args_is_help=True)


def _abilities(specs: list[str] | None) -> list[dict[str, Any]]:
    """``TYPE`` or ``TYPE=CONFIG`` (CONFIG a JSON object) per ability."""
    out: list[dict[str, Any]] = []
    for spec in specs or []:
        kind, sep, raw = spec.partition("=")
        ability: dict[str, Any] = {"type": kind.strip()}
        if sep:
            try:
                config = json.loads(raw)
            except ValueError:
                config = None
            if not isinstance(config, dict):
                raise typer.BadParameter(f"{spec!r}: CONFIG must be a JSON object", param_hint="--ability")
            ability["config"] = config
        out.append(ability)
    return out


def _ability_names(bot: dict[str, Any]) -> str:
    names = [str(a.get("name") or a.get("type")) for a in bot.get("abilities") or []]
    return ", ".join(names) or "-"


@app.command("list", epilog="Example: agentcron bots list --json")
def list_bots(
    limit: LimitOpt = 100,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the account's bots, newest first."""
    with Api(url, secret) as api:
        bots = api.items("/bot/list", limit)
    if as_json:
        emit_json(bots)
        return
    rows = [[b.get("id"), b.get("name"), b.get("model"), _ability_names(b), when(b.get("createdAt"))] for b in bots]
    table(["ID", "NAME", "MODEL", "ABILITIES", "CREATED"], rows, empty="no bots")


@app.command("show", epilog="Example: agentcron bots show BOT_ID")
def show(
    bot_id: Annotated[str, typer.Argument(metavar="ID", help="The bot's id.")],
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one bot."""
    with Api(url, secret) as api:
        bot = api.get(f"/bot/{bot_id}/fetch")
    if as_json:
        emit_json(bot)
        return
    record(
        [
            ("id", bot.get("id")),
            ("name", bot.get("name")),
            ("description", bot.get("description")),
            ("model", bot.get("model")),
            ("backstory", one_line(bot.get("backstory"), 200)),
            ("abilities", bot.get("abilities")),
            ("meta", bot.get("meta")),
            ("created", when(bot.get("createdAt"))),
            ("updated", when(bot.get("updatedAt"))),
        ]
    )


@app.command(
    "create",
    epilog="Example: agentcron bots create --name Clock --model test --ability time "
    "--ability 'wait={\"seconds\": 2}' --backstory 'You tell the time.'",
)
def create(
    name: Annotated[str, typer.Option("--name", help="The bot's name.")],
    model: Annotated[
        str | None, typer.Option("--model", help="provider:model, e.g. openai:gpt-4o-mini, or test (offline).")
    ] = None,
    backstory: Annotated[str | None, typer.Option("--backstory", help="The system prompt.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="What the bot is for.")] = None,
    ability: Annotated[
        list[str] | None,
        typer.Option("--ability", metavar="TYPE[=CONFIG]", help="A tool (repeatable); CONFIG is a JSON object."),
    ] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", metavar="K=V", help="A meta field (repeatable).")] = None,
    url: UrlOpt = DEFAULT_URL,
    secret: SecretOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a bot; prints its id."""
    body: dict[str, Any] = {"name": name}
    for key, value in (("model", model), ("backstory", backstory), ("description", description)):
        if value is not None:
            body[key] = value
    if ability:
        body["abilities"] = _abilities(ability)
    if meta:
        body["meta"] = parse_meta(meta)
    with Api(url, secret) as api:
        answer = api.post("/bot/create", body)
    if as_json:
        emit_json(answer)
    else:
        emit_text(str(answer["id"]))
