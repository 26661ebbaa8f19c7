"""Bots, contacts and conversations over real HTTP, on both backends (contract section 7)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Server, start_server, stop_server, wait_until
from tests.http_helpers import executions, new_task
from tests.test_api_tasks import API, assert_error, now_ms

BOT_KEYS = {
    "id",
    "name",
    "description",
    "meta",
    "backstory",
    "model",
    "datasetId",
    "skillsetId",
    "privacy",
    "moderation",
    "visibility",
    "createdAt",
    "updatedAt",
}
CONTACT_KEYS = {
    "id",
    "name",
    "description",
    "meta",
    "fingerprint",
    "email",
    "phone",
    "nick",
    "preferences",
    "verifiedAt",
    "createdAt",
    "updatedAt",
}
CONVERSATION_KEYS = {"id", "name", "description", "meta", "botId", "contactId", "taskId", "createdAt", "updatedAt"}
KEYS = {"bot": BOT_KEYS, "contact": CONTACT_KEYS, "conversation": CONVERSATION_KEYS}


def create(c: httpx.Client, kind: str, **fields: Any) -> str:
    r = c.post(f"{API}/{kind}/create", json=fields)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"id"}
    return str(r.json()["id"])


def fetch(c: httpx.Client, kind: str, id_: str) -> dict[str, Any]:
    r = c.get(f"{API}/{kind}/{id_}/fetch")
    assert r.status_code == 200, r.text
    return dict(r.json())


def list_ids(c: httpx.Client, path: str, **params: Any) -> list[str]:
    r = c.get(f"{API}/{path}", params=params)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


@pytest.mark.parametrize("kind", ["bot", "contact", "conversation"])
def test_defaults_and_every_key_present(c: httpx.Client, kind: str) -> None:
    before = now_ms()
    item = fetch(c, kind, create(c, kind))
    assert KEYS[kind] <= set(item), KEYS[kind] - set(item)
    assert item["name"] == "" and item["description"] == "" and item["meta"] is None
    assert before <= item["createdAt"] == item["updatedAt"] <= now_ms()
    for key in KEYS[kind] - {"id", "name", "description", "createdAt", "updatedAt", "fingerprint"}:
        assert item[key] is None, key
    if kind == "contact":  # the SDK types declare fingerprint a required string
        assert isinstance(item["fingerprint"], str) and item["fingerprint"]


@pytest.mark.parametrize("kind", ["bot", "contact", "conversation"])
def test_crud_cycle(c: httpx.Client, kind: str) -> None:
    a = create(c, kind, name="first", description="d", meta={"k": 1, "_x": 2})
    b = create(c, kind, name="second")
    assert list_ids(c, f"{kind}/list") == [b, a]
    assert list_ids(c, f"{kind}/list", order="asc") == [a, b]
    assert list_ids(c, f"{kind}/list", order="asc", cursor=a) == [b]
    assert list_ids(c, f"{kind}/list", take=1) == [b]
    item = fetch(c, kind, a)
    assert item["meta"] == {"k": 1}
    r = c.post(f"{API}/{kind}/{a}/update", json={"name": "renamed", "meta": {"$update": {"j": True}}})
    assert r.status_code == 200 and r.json() == {"id": a}
    updated = fetch(c, kind, a)
    assert updated["name"] == "renamed" and updated["description"] == "d"
    assert updated["meta"] == {"k": 1, "j": True}
    assert updated["updatedAt"] >= item["updatedAt"] and updated["createdAt"] == item["createdAt"]
    assert c.post(f"{API}/{kind}/{a}/update", json={"meta": {"only": "this"}}).status_code == 200
    assert fetch(c, kind, a)["meta"] == {"only": "this"}
    assert c.post(f"{API}/{kind}/{a}/update", json={"name": None}).status_code == 200
    assert fetch(c, kind, a)["name"] == ""
    # meta filters and formats on every list
    assert list_ids(c, f"{kind}/list", **{"meta.only": "this"}) == [a]
    assert list_ids(c, f"{kind}/list", **{"meta[only]": "that"}) == []
    r = c.get(f"{API}/{kind}/list", headers={"accept": "application/jsonl"})
    assert [json.loads(line)["data"]["id"] for line in r.text.splitlines()] == [b, a]
    r = c.get(f"{API}/{kind}/list", headers={"accept": "text/csv"})
    assert [row["id"] for row in csv.DictReader(io.StringIO(r.text))] == [b, a]
    # delete
    r = c.post(f"{API}/{kind}/{a}/delete", json={})
    assert r.status_code == 200 and r.json() == {"id": a}
    assert_error(c.get(f"{API}/{kind}/{a}/fetch"), 404)
    assert_error(c.post(f"{API}/{kind}/{a}/update", json={}), 404)
    assert_error(c.post(f"{API}/{kind}/{a}/delete", json={}), 404)
    assert list_ids(c, f"{kind}/list") == [b]
    # validation
    assert_error(c.post(f"{API}/{kind}/create", json={"nope": 1}), 400)
    assert_error(c.post(f"{API}/{kind}/create", json={"name": 1}), 400)
    assert_error(c.post(f"{API}/{kind}/create", content=b"{"), 400)
    assert_error(c.post(f"{API}/{kind}/{b}/update", json={"meta": [1]}), 400)
    assert list_ids(c, f"{kind}/list") == [b]


def test_bot_fields(c: httpx.Client) -> None:
    body = {
        "name": "Bot",
        "description": "helps",
        "backstory": "You are helpful.",
        "model": "gpt-4o",
        "datasetId": "ds1",
        "skillsetId": "ss1",
        "privacy": True,
        "moderation": False,
        "visibility": "private",
        "meta": {"team": "x"},
    }
    item = fetch(c, "bot", create(c, "bot", **body))
    for key, value in body.items():
        assert item[key] == value, key
    assert_error(c.post(f"{API}/bot/create", json={"visibility": "everyone"}), 400)
    assert_error(c.post(f"{API}/bot/create", json={"privacy": "yes"}), 400)
    assert_error(c.post(f"{API}/bot/create", json={"abilities": [{"type": "teleport"}]}), 400)


# -- bots are checked when they are written ---------------------------------------------------------------

ACCEPTED_MODELS = "accepted: openai:<model>, anthropic:<model>, test"
EVERY_ABILITY: list[dict[str, Any]] = [
    {"type": "time", "name": "clock", "config": {"timezone": "Europe/Berlin"}},
    {"type": "fetch", "config": {"maxBytes": 1000, "url": "https://example.com/"}},
    {"type": "http", "config": {"url": "http://example.com/hook", "method": "POST", "headers": {"X-A": "1"}}},
    {"type": "wait", "config": {"maxSeconds": 60, "seconds": 2}},
    # (stdio MCP servers, by name, only where the operator declares them: see the MCP tests below)
    {"type": "mcp", "config": {"url": "https://mcp.example.com/mcp", "timeout": 5}},
    {"type": "mcp", "name": "remote", "config": {"url": "https://mcp.example.com/mcp", "headers": {"A": "b"}}},
]


def bot_error(c: httpx.Client, bot_id: str | None, body: dict[str, Any]) -> str:
    """The 400 message for creating (``bot_id`` None) or updating a bot with ``body``."""
    path = f"{API}/bot/create" if bot_id is None else f"{API}/bot/{bot_id}/update"
    return str(assert_error(c.post(path, json=body), 400)["message"])


def test_a_bot_with_every_ability_type_and_key_is_accepted(c: httpx.Client) -> None:
    bot_id = create(c, "bot", model="test", abilities=EVERY_ABILITY)
    stored = fetch(c, "bot", bot_id)["abilities"]
    assert [(a["type"], a["config"]) for a in stored] == [(a["type"], a["config"]) for a in EVERY_ABILITY]
    r = c.post(f"{API}/bot/{bot_id}/update", json={"abilities": [], "model": "anthropic:claude-sonnet-4-5"})
    assert r.status_code == 200, r.text
    assert fetch(c, "bot", bot_id)["abilities"] == []


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "ollama:llama3",
            f"Invalid model: unknown model provider 'ollama' in 'ollama:llama3'; {ACCEPTED_MODELS} (openai:<model> "
            "also serves OpenAI-compatible servers such as Ollama or vLLM, with AGENTCRON_OPENAI_BASE_URL)",
        ),
        ("llama3", "Invalid model: unknown model 'llama3': write it as provider:model; " + ACCEPTED_MODELS),
        ("openai:", f"Invalid model: model 'openai:' names no model after the provider; {ACCEPTED_MODELS}"),
    ],
)
def test_an_unknown_model_provider_is_refused_on_create_and_update(c: httpx.Client, model: str, message: str) -> None:
    assert bot_error(c, None, {"name": "b", "model": model}).startswith(message)
    bot_id = create(c, "bot", name="b", model="test")
    assert bot_error(c, bot_id, {"model": model}).startswith(message)
    assert fetch(c, "bot", bot_id)["model"] == "test"  # the refused update changed nothing
    assert list_ids(c, "bot/list") == [bot_id]  # the refused create left no bot


@pytest.mark.parametrize(
    ("abilities", "message"),
    [
        (
            [{"type": "time"}, {"type": "teleport"}],
            "Invalid abilities[1].type: unknown ability type 'teleport'; accepted: time, fetch, http, wait, mcp",
        ),
        (
            [{"type": "wait"}, {"type": "time", "config": {"timezone": "Mars/Base"}}],
            "Invalid abilities[1].config.timezone: unknown timezone 'Mars/Base', not an IANA timezone name "
            "(such as Europe/Berlin or UTC)",
        ),
        (
            [{"type": "fetch", "config": {"url": "ftp://example.com/file"}}],
            "Invalid abilities[0].config.url: 'ftp://example.com/file' is not an http(s) URL "
            "(such as https://example.com/)",
        ),
        (
            [{"type": "http", "config": {"url": "file:///etc/passwd"}}],
            "Invalid abilities[0].config.url: 'file:///etc/passwd' is not an http(s) URL (such as https://example.com/)",
        ),
        (
            [{"type": "mcp", "config": {"timeout": 10}}],
            "Invalid abilities[0].config: an mcp ability needs server, the name of an MCP server the operator "
            "declared (none is declared on this server; the operator declares them in AGENTCRON_MCP_SERVERS), or "
            "url, the http(s) URL of an MCP server over streamable HTTP",
        ),
        (
            [{"type": "wait", "config": {"seconds": "ten"}}],
            "Invalid abilities[0].config.seconds: must be a number from 0 to 86,400, not 'ten'",
        ),
        (
            [{"type": "wait", "config": {"maxSeconds": 1, "sceonds": 1}}],
            "Invalid abilities[0].config.sceonds: not a key of the wait ability; accepted: maxSeconds, seconds",
        ),
        (
            [{"type": "fetch", "config": {"maxBytes": 10_000_000}}],
            "Invalid abilities[0].config.maxBytes: must be a number from 1 to 5,000,000, not 10000000",
        ),
        (
            [{"type": "http", "config": {"method": "FETCH"}}],
            "Invalid abilities[0].config.method: unknown method 'FETCH'; accepted: GET, POST, PUT, PATCH, DELETE, HEAD",
        ),
    ],
)
def test_an_unusable_ability_is_refused_on_create_and_update(
    c: httpx.Client, abilities: list[dict[str, Any]], message: str
) -> None:
    assert bot_error(c, None, {"model": "test", "abilities": abilities}) == message
    bot_id = create(c, "bot", abilities=[{"type": "time"}])
    assert bot_error(c, bot_id, {"abilities": abilities}) == message
    assert fetch(c, "bot", bot_id)["abilities"] == [{"type": "time", "name": None, "description": None, "config": {}}]


# -- MCP servers: the operator declares them, bots name them (issue #15) ----------------------------------------

NONE_DECLARED = "(none is declared on this server; the operator declares them in AGENTCRON_MCP_SERVERS)"
CHOOSES_A_PROGRAM = (
    "a bot cannot choose the program an MCP server runs, its arguments or its directory: name a server the "
    "operator declared in config.server {declared}, or use config.url"
)
#: Bots that would run a command of their choosing on the worker, by ``command``, ``cwd`` or ``env``.
HOSTILE_MCP: list[tuple[dict[str, Any], str]] = [
    ({"command": ["sh", "-c", "id > /tmp/pwned"]}, "command"),
    ({"command": ["npx", "-y", "srv"], "env": {"LD_PRELOAD": "/tmp/evil.so"}}, "command"),
    ({"command": ["python3", "-m", "srv"], "env": {"PYTHONWARNINGS": "ignore::0:evil:1"}}, "command"),
    ({"command": ["node", "srv.js"], "env": {"NODE_OPTIONS": "--require /tmp/evil.js"}}, "command"),
    ({"server": "github", "cwd": "/tmp/evil"}, "cwd"),
    ({"server": "github", "env": {"BROWSER": "sh -c 'id > /tmp/pwned'"}}, "env"),
    ({"server": "github", "env": {"LD_PRELOAD": "/tmp/evil.so"}}, "env"),
    ({"server": "github", "env": {"PYTHONWARNINGS": "ignore::0:evil:1"}}, "env"),
    ({"server": "github", "env": {"NODE_OPTIONS": "--require /tmp/evil.js"}}, "env"),
    ({"url": "https://mcp.example.com/mcp", "env": {"LD_PRELOAD": "/tmp/evil.so"}}, "env"),
]


def assert_refused_on_create_and_update(c: httpx.Client, config: dict[str, Any], message: str) -> None:
    abilities = [{"type": "mcp", "config": config}]
    assert bot_error(c, None, {"model": "test", "abilities": abilities}) == message
    bot_id = create(c, "bot", abilities=[{"type": "time"}])
    assert bot_error(c, bot_id, {"abilities": abilities}) == message
    assert [a["type"] for a in fetch(c, "bot", bot_id)["abilities"]] == ["time"]


@pytest.mark.parametrize(("config", "key"), HOSTILE_MCP)
def test_a_bot_cannot_choose_an_mcp_program_or_its_environment(
    c: httpx.Client, config: dict[str, Any], key: str
) -> None:
    """On a server that declares no MCP servers: nothing a bot sends starts a program on the worker."""
    message = {
        "command": f"Invalid abilities[0].config.command: {CHOOSES_A_PROGRAM.format(declared=NONE_DECLARED)}",
        "cwd": f"Invalid abilities[0].config.cwd: {CHOOSES_A_PROGRAM.format(declared=NONE_DECLARED)}",
        "env": f"Invalid abilities[0].config.server: no MCP server named 'github' {NONE_DECLARED}",
    }[key]
    if "url" in config:
        message = "Invalid abilities[0].config.env: only for a declared server (config.server); over HTTP, send headers"
    assert_refused_on_create_and_update(c, config, message)
    before = list_ids(c, "bot/list")
    assert_error(c.post(f"{API}/bot/create", json={"abilities": [{"type": "mcp", "config": config}]}), 400)
    assert list_ids(c, "bot/list") == before


MCP_SERVERS = {
    "github": {
        "command": ["npx", "-y", "@modelcontextprotocol/server-github"],
        "tenantEnv": ["GITHUB_PERSONAL_ACCESS_TOKEN"],
    },
    "probe": {
        "command": [sys.executable, str(ROOT / "tests" / "mcp_server.py"), "--with-env"],
        "env": {"DECLARED_SETTING": "op"},
        "tenantEnv": ["TENANT_TOKEN"],
    },
}


@pytest.fixture
def mcp_server(db_url: str) -> Iterator[Server]:
    """A server (on each backend) whose operator declares `MCP_SERVERS`."""
    srv = start_server(db_url, env={"AGENTCRON_MCP_SERVERS": json.dumps(MCP_SERVERS)})
    yield srv
    stop_server(srv)


def test_bots_name_the_mcp_servers_the_operator_declares(mcp_server: Server) -> None:
    declared = "(declared: github, probe)"
    with mcp_server.client(mcp_server.account()) as c:
        # the declared server, with the variables it lets bots set
        ok = [
            {"type": "mcp", "name": "gh", "config": {"server": "github", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "t"}}},
            {"type": "mcp", "config": {"server": "probe", "timeout": 30}},
        ]
        bot_id = create(c, "bot", model="test", abilities=ok)
        assert [a["config"] for a in fetch(c, "bot", bot_id)["abilities"]] == [a["config"] for a in ok]
        # anything else is refused, naming the declared servers or the variables allowed
        for config, key in HOSTILE_MCP:
            message = {
                "command": f"Invalid abilities[0].config.command: {CHOOSES_A_PROGRAM.format(declared=declared)}",
                "cwd": f"Invalid abilities[0].config.cwd: {CHOOSES_A_PROGRAM.format(declared=declared)}",
                "env": f"Invalid abilities[0].config.env: MCP server 'github' does not let a bot set "
                f"{next(iter(config.get('env', {})), '')!r}; the names it may set: GITHUB_PERSONAL_ACCESS_TOKEN",
            }[key]
            if "url" in config:
                message = (
                    "Invalid abilities[0].config.env: only for a declared server (config.server); over HTTP, "
                    "send headers"
                )
            assert_refused_on_create_and_update(c, config, message)
        assert_refused_on_create_and_update(
            c, {"server": "gitlab"}, f"Invalid abilities[0].config.server: no MCP server named 'gitlab' {declared}"
        )
        assert_refused_on_create_and_update(
            c,
            {"server": "probe", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "t"}},
            "Invalid abilities[0].config.env: MCP server 'probe' does not let a bot set "
            "'GITHUB_PERSONAL_ACCESS_TOKEN'; the names it may set: TENANT_TOKEN",
        )
        # a bot naming a declared server runs it: its tools are called, in the declared environment
        probe = [{"type": "mcp", "config": {"server": "probe", "env": {"TENANT_TOKEN": "from-bot"}}}]
        task_id = new_task(c, botId=create(c, "bot", model="test", abilities=probe), schedule="never")
        assert c.post(f"{API}/task/{task_id}/trigger", json={}).status_code == 200
        (ex,) = wait_until(lambda: [e for e in executions(c, task_id) if e["outcome"] != "pending"], timeout=30)
        assert ex["outcome"] == "success", ex["summary"]
        assert ex["summary"].startswith("Completed task 't' (add: 2; shout: TEST!; environment: DECLARED_SETTING=op ")
        assert ex["summary"].endswith(" TENANT_TOKEN=from-bot)")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AGENTCRON_MCP_SERVERS": '{"gh": {"command": ["npx"], "tenantEnv": ["LD_PRELOAD"]}}'},
            "agentcron: AGENTCRON_MCP_SERVERS: server 'gh': tenantEnv: a bot may never set 'LD_PRELOAD'",
        ),
        ({"AGENTCRON_MCP_SERVERS": '{"gh": '}, "agentcron: AGENTCRON_MCP_SERVERS is not valid JSON"),
        (
            {"AGENTCRON_MCP_SERVERS": "/nonexistent/mcp.json"},
            "agentcron: AGENTCRON_MCP_SERVERS: cannot read the file '/nonexistent/mcp.json'",
        ),
        (
            {"AGENTCRON_MCP_STDIO_ALLOW": "npx"},
            "agentcron: AGENTCRON_MCP_STDIO_ALLOW is no longer supported: bots no longer choose the programs",
        ),
    ],
)
def test_a_server_with_an_unusable_mcp_configuration_does_not_start(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(RuntimeError) as refused:
        start_server(f"sqlite:///{tmp_path / 'refused.db'}", env=env)
    assert str(refused.value).startswith(f"server exited with 2: {message}")
    assert not (tmp_path / "refused.db").exists()  # refused before it touched the database


def test_update_checks_only_the_fields_sent(c: httpx.Client) -> None:
    bot_id = create(c, "bot", model="test", abilities=[{"type": "wait"}])
    assert c.post(f"{API}/bot/{bot_id}/update", json={"name": "renamed"}).status_code == 200
    assert c.post(f"{API}/bot/{bot_id}/update", json={"model": None, "abilities": None}).status_code == 200
    assert c.post(f"{API}/bot/{bot_id}/update", json={"model": "  "}).status_code == 200  # the default model
    message = bot_error(c, bot_id, {"model": "gpt-4o", "abilities": [{"type": "wait", "config": {"x": 1}}]})
    assert message.startswith("Invalid abilities[0].config.x: not a key of the wait ability")
    assert fetch(c, "bot", bot_id)["model"] == "  "


def test_models_are_accepted_without_any_api_key_configured(tmp_path: Path) -> None:
    # Whether a key is configured is checked when a run starts: the configuration may change meanwhile.
    keyless = {k: "" for k in ("OPENAI_API_KEY", "AGENTCRON_OPENAI_API_KEY", "AGENTCRON_ANTHROPIC_API_KEY")}
    srv = start_server(f"sqlite:///{tmp_path / 'keyless.db'}", env={**keyless, "AGENTCRON_OPENAI_BASE_URL": ""})
    try:
        with srv.client(srv.account()) as client:
            for model in ("test", "openai:gpt-4o-mini", "gpt-4o-mini/temperature=0.2", "anthropic:claude-sonnet-4-5"):
                bot_id = create(client, "bot", model=model)
                assert fetch(client, "bot", bot_id)["model"] == model
            assert client.post(f"{API}/bot/{bot_id}/update", json={"model": "openai:gpt-4o"}).status_code == 200
    finally:
        stop_server(srv)


def test_contact_fields(c: httpx.Client) -> None:
    verified = now_ms()
    body = {
        "name": "Ann",
        "fingerprint": "fp-1",
        "email": "ann@example.com",
        "phone": "+441234",
        "nick": "annie",
        "preferences": "tea",
        "verifiedAt": verified,
        "meta": {"vip": True},
    }
    contact_id = create(c, "contact", **body)
    item = fetch(c, "contact", contact_id)
    for key, value in body.items():
        assert item[key] == value, key
    # clearing the fingerprint keeps it (it is always present)
    c.post(f"{API}/contact/{contact_id}/update", json={"fingerprint": None})
    assert fetch(c, "contact", contact_id)["fingerprint"] == "fp-1"
    assert_error(c.post(f"{API}/contact/create", json={"verifiedAt": -1}), 400)
    assert list_ids(c, "contact/list", **{"meta.vip": "true"}) == [contact_id]


def test_conversation_refs_and_messages(server: Server, c: httpx.Client) -> None:
    bot_id, contact_id = create(c, "bot"), create(c, "contact")
    task_id = create(c, "task", botId=bot_id)
    conv = create(
        c,
        "conversation",
        name="talk",
        botId=bot_id,
        contactId=contact_id,
        taskId=task_id,
        meta={"app": "task", "taskId": task_id},
        messages=[{"type": "user", "text": "hi"}, {"type": "bot", "text": "hello ✓"}],
    )
    item = fetch(c, "conversation", conv)
    assert (item["botId"], item["contactId"], item["taskId"]) == (bot_id, contact_id, task_id)
    r = c.get(f"{API}/conversation/{conv}/message/list", params={"order": "asc"})
    assert r.status_code == 200
    messages = r.json()["items"]
    assert [(m["type"], m["text"]) for m in messages] == [("user", "hi"), ("bot", "hello ✓")]
    assert list_ids(c, f"conversation/{conv}/message/list") == [m["id"] for m in messages][::-1]
    assert list_ids(c, "conversation/list", taskId=task_id) == [conv]
    assert list_ids(c, "conversation/list", botId=bot_id, contactId=contact_id) == [conv]
    assert list_ids(c, "conversation/list", botId="c" + "0" * 24) == []
    assert_error(c.post(f"{API}/conversation/create", json={"messages": [{"type": "alien", "text": "x"}]}), 400)
    assert_error(c.post(f"{API}/conversation/create", json={"messages": [{"type": "user"}]}), 400)
    missing = "c" + "0" * 24
    assert_error(c.post(f"{API}/conversation/create", json={"botId": missing}), 404, "Bot not found")
    assert_error(c.post(f"{API}/conversation/create", json={"contactId": missing}), 404, "Contact not found")
    assert_error(c.post(f"{API}/conversation/create", json={"taskId": missing}), 404, "Task not found")
    assert_error(c.post(f"{API}/conversation/{conv}/update", json={"botId": missing}), 404, "Bot not found")
    assert fetch(c, "conversation", conv)["botId"] == bot_id
    assert list_ids(c, "conversation/list") == [conv]
    assert_error(c.get(f"{API}/conversation/{missing}/message/list"), 404)
    # deleting the conversation removes its messages with it
    assert c.post(f"{API}/conversation/{conv}/delete", json={}).status_code == 200
    assert_error(c.get(f"{API}/conversation/{conv}/message/list"), 404)


def test_resource_errors(server: Server, c: httpx.Client) -> None:
    with server.client() as anon:
        for kind in ("bot", "contact", "conversation"):
            assert_error(anon.get(f"{API}/{kind}/list"), 401)
            assert_error(anon.post(f"{API}/{kind}/create", json={}), 401)
    for kind in ("bot", "contact", "conversation"):
        assert_error(c.get(f"{API}/{kind}/create"), 405)
        assert_error(c.post(f"{API}/{kind}/list"), 405)
        assert_error(c.get(f"{API}/{kind}/list", headers={"accept": "text/html"}), 400)
        big = b'{"name":"' + b"x" * (1024 * 1024) + b'"}'
        assert_error(c.post(f"{API}/{kind}/create", content=big), 413)
