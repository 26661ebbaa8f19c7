"""The ``mcp`` ability against a real MCP server process (tests/mcp_server.py): over stdio, a server the
operator declares (``AGENTCRON_MCP_SERVERS``) started by the run, and over streamable HTTP on loopback. Also
the declarations themselves: how they are parsed and what they refuse."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcron.config import ConfigError, Settings
from agentcron.engine.agent import AgentRunner
from agentcron.engine.mcp_servers import McpServer, env_name_risk, parse_servers
from tests.dns import fake_dns
from tests.engine_helpers import Events, job
from tests.fake_openai import FakeOpenAI, text, tool_call

pytestmark = pytest.mark.anyio

SERVER = str(Path(__file__).with_name("mcp_server.py"))
#: What the operator declares for these tests: the test server, plainly and with its failing tool.
SERVERS: dict[str, Any] = {
    "probe": {"command": [sys.executable, SERVER]},
    "flaky": {"command": [sys.executable, SERVER, "--with-fail"]},
    "broken": {"command": [sys.executable, "-c", "raise SystemExit(3)"]},
}
DECLARED = Settings(mcp_servers=json.dumps(SERVERS))


def declaring(**servers: Any) -> Settings:
    return Settings(mcp_servers=json.dumps(servers))


async def test_test_model_calls_every_tool_of_the_server() -> None:
    abilities = [
        {"type": "mcp", "config": {"server": "probe"}},
        {"type": "mcp", "name": "calc", "config": {"server": "probe"}},
    ]
    events = Events()
    result = await AgentRunner(DECLARED).run(job(abilities), events)
    assert result.outcome == "success", result.summary
    assert result.summary == "Completed task 'Digest' (add: 2; shout: TEST!; calc_add: 2; calc_shout: TEST!)"
    tools = [n for n in events.named("operationBegin") if not n.startswith("model:")]
    assert tools == ["add", "shout", "calc_add", "calc_shout"]
    assert ("activity", 'called calc_add {"a": 1, "b": 1}') in result.messages
    assert ("activity", "calc_add returned: 2") in result.messages


async def test_a_failing_mcp_tool_is_reported_to_the_model_and_fails_the_run() -> None:
    events = Events()
    result = await AgentRunner(DECLARED).run(job([{"type": "mcp", "config": {"server": "flaky"}}]), events)
    assert result.outcome == "failure"
    assert "tool errors: fail: Error executing tool fail: the tool broke" in result.summary
    (end,) = [d for t, d in events if t == "operationEnd" and d["action"]["name"] == "fail"]
    assert end["error"] == "Error executing tool fail: the tool broke"


async def test_an_openai_model_drives_mcp_tools() -> None:
    async with FakeOpenAI([tool_call("shout", {"text": "good morning"}), text("Shouted.")]) as fake:
        s = Settings(openai_base_url=fake.base_url, openai_api_key="k", mcp_servers=DECLARED.mcp_servers)
        ability = {"type": "mcp", "config": {"server": "probe"}}
        result = await AgentRunner(s).run(job([ability], model="openai:gpt-4o-mini"), Events())
    assert (result.outcome, result.summary) == ("success", "Shouted.")
    sent = {t["function"]["name"]: t["function"] for t in fake.requests[0].body["tools"]}
    assert set(sent) == {"add", "shout", "report_failure"}
    assert sent["add"]["parameters"]["required"] == ["a", "b"]
    assert fake.requests[1].body["messages"][-1]["content"] == "GOOD MORNING!"


async def test_a_server_that_does_not_start_fails_the_run_cleanly() -> None:
    ability = {"type": "mcp", "config": {"server": "broken", "timeout": 5}}
    result = await AgentRunner(DECLARED).run(job([ability]), Events())
    assert result.outcome == "failure"
    assert result.summary.startswith("Run failed: ") and "Connection closed" in result.summary


# -- who chooses what runs on the worker (issue #15) ----------------------------------------------------------


def environment_of(events: Events) -> dict[str, str]:
    """What the test server's ``environment`` tool returned: its variables beyond the inherited ones."""
    (end,) = [d for t, d in events if t == "operationEnd" and d["action"]["name"].endswith("environment")]
    return dict(pair.split("=", 1) for pair in str(end["result"]).split())


async def test_the_server_gets_only_the_declared_environment_and_the_variables_bots_may_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker's own environment (its secrets, and variables that would run code) stays out.
    monkeypatch.setenv("AGENTCRON_TEST_WORKER_SECRET", "s3cret")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    monkeypatch.setenv("NODE_OPTIONS", "--require /nonexistent/worker.js")
    settings = declaring(
        envprobe={
            "command": [sys.executable, SERVER, "--with-env"],
            "env": {"DECLARED_SETTING": "from-operator", "TENANT_TOKEN": "operator-default"},
            "tenantEnv": ["TENANT_TOKEN", "TENANT_ID"],
        }
    )
    events = Events()
    ability = {"type": "mcp", "config": {"server": "envprobe", "env": {"TENANT_TOKEN": "from-bot"}}}
    result = await AgentRunner(settings).run(job([ability]), events)
    assert result.outcome == "success", result.summary
    assert [n for n in events.named("operationEnd") if not n.startswith("model:")] == ["add", "shout", "environment"]
    child = environment_of(events)
    # Python sets LC_CTYPE itself when it starts in the C locale (PEP 538): not something the worker passed.
    child.pop("LC_CTYPE", None)
    assert child == {"DECLARED_SETTING": "from-operator", "TENANT_TOKEN": "from-bot"}

    # Without a bot value the declared default stays.
    events = Events()
    result = await AgentRunner(settings).run(job([{"type": "mcp", "config": {"server": "envprobe"}}]), events)
    assert result.outcome == "success", result.summary
    assert environment_of(events)["TENANT_TOKEN"] == "operator-default"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LD_PRELOAD", "/tmp/evil.so"),
        ("BROWSER", "sh -c 'touch /tmp/pwned'"),
        ("PYTHONWARNINGS", "ignore::0:evil:1"),
        ("NODE_OPTIONS", "--require /tmp/evil.js"),
        ("TENANT_ID", "allowed-but-not-for-this-server"),
    ],
)
async def test_a_variable_the_server_does_not_let_bots_set_never_reaches_it(
    tmp_path: Path, name: str, value: str
) -> None:
    """A bot stored before the operator changed the declaration (or written around the API): the run
    refuses it before it starts anything; the server is never started."""
    mark = tmp_path / "started"
    settings = declaring(
        envprobe={"command": [sys.executable, SERVER, "--with-env", "--mark", str(mark)], "tenantEnv": ["TOKEN"]}
    )
    events = Events()
    ability = {"type": "mcp", "config": {"server": "envprobe", "env": {"TOKEN": "t", name: value}}}
    result = await AgentRunner(settings).run(job([ability]), events)
    assert result.outcome == "failure"
    assert result.summary == (
        f"Cannot run the bot: ability mcp: config.env: MCP server 'envprobe' does not let a bot set {name!r}; "
        "the names it may set: TOKEN."
    )
    assert [t for t, _ in events] == ["error"]
    assert not mark.exists()
    # The same bot with only the allowed variable starts the server.
    ok = {"type": "mcp", "config": {"server": "envprobe", "env": {"TOKEN": "t"}}}
    assert (await AgentRunner(settings).run(job([ok]), Events())).outcome == "success"
    assert mark.read_text() == "started\n"


@pytest.mark.parametrize(
    "config",
    [
        {"command": [sys.executable, SERVER, "--mark", "MARK"]},
        {"command": [sys.executable, SERVER, "--mark", "MARK"], "env": {"LD_PRELOAD": "/tmp/evil.so"}},
        {"server": "probe", "cwd": "/tmp"},
    ],
)
async def test_a_bot_that_chooses_a_program_is_refused_at_run_time(tmp_path: Path, config: dict[str, Any]) -> None:
    """Bots written when they could still choose a program (``command``, ``cwd``) no longer run it."""
    mark = tmp_path / "started"
    config = json.loads(json.dumps(config).replace("MARK", str(mark)))
    result = await AgentRunner(DECLARED).run(job([{"type": "mcp", "config": config}]), Events())
    assert result.outcome == "failure"
    key = "command" if "command" in config else "cwd"
    assert result.summary.startswith(
        f"Cannot run the bot: ability mcp: config.{key}: a bot cannot choose the program an MCP server runs"
    )
    assert "(declared: broken, flaky, probe)" in result.summary
    assert not mark.exists()


async def test_a_server_no_longer_declared_fails_the_run_naming_the_declared_ones() -> None:
    ability = {"type": "mcp", "config": {"server": "github"}}
    result = await AgentRunner(DECLARED).run(job([ability]), Events())
    assert result.outcome == "failure"
    assert result.summary == (
        "Cannot run the bot: ability mcp: config.server: no MCP server named 'github' (declared: broken, flaky, probe)."
    )
    result = await AgentRunner(Settings()).run(job([ability]), Events())
    assert result.summary == (
        "Cannot run the bot: ability mcp: config.server: no MCP server named 'github' (none is declared on "
        "this server; the operator declares them in AGENTCRON_MCP_SERVERS)."
    )


# -- AGENTCRON_MCP_SERVERS ------------------------------------------------------------------------------------

GITHUB = {
    "github": {
        "command": ["npx", "-y", "@modelcontextprotocol/server-github"],
        "env": {"GITHUB_API_URL": "https://api.github.com"},
        "tenantEnv": ["GITHUB_PERSONAL_ACCESS_TOKEN"],
        "cwd": "/srv/mcp",
    },
    "local": {"command": ["/opt/mcp/server"], "env": None, "tenantEnv": None},
}


def test_servers_are_read_from_a_json_object_or_a_file(tmp_path: Path) -> None:
    expected = {
        "github": McpServer(
            "github",
            ("npx", "-y", "@modelcontextprotocol/server-github"),
            {"GITHUB_API_URL": "https://api.github.com"},
            frozenset({"GITHUB_PERSONAL_ACCESS_TOKEN"}),
            "/srv/mcp",
        ),
        "local": McpServer("local", ("/opt/mcp/server",)),
    }
    assert dict(parse_servers(json.dumps(GITHUB))) == expected
    assert dict(parse_servers(f"  {json.dumps(GITHUB)}\n")) == expected
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(GITHUB, indent=2))
    assert dict(parse_servers(str(path))) == expected
    assert dict(parse_servers("")) == {} == dict(parse_servers("{}"))
    # Settings carry the text; the process reads it once.
    assert Settings.from_env({"AGENTCRON_MCP_SERVERS": str(path)}).mcp_servers == str(path)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"github": ', "AGENTCRON_MCP_SERVERS is not valid JSON: Expecting value: line 1 column 11"),
        ("[1]", "AGENTCRON_MCP_SERVERS must be a JSON object mapping server names to "),
        ("/nonexistent/mcp.json", "AGENTCRON_MCP_SERVERS: cannot read the file '/nonexistent/mcp.json' (No such file"),
        ('{"a b": {"command": ["x"]}}', "AGENTCRON_MCP_SERVERS: server name 'a b' must be letters, digits, _ and -"),
        ('{"gh": ["npx"]}', "AGENTCRON_MCP_SERVERS: server 'gh': must be an object such as "),
        (
            '{"gh": {"command": ["x"], "args": []}}',
            "server 'gh': unknown key 'args'; accepted: command, env, tenantEnv",
        ),
        ('{"gh": {}}', "server 'gh': command must be a non-empty list of strings: the program, then its arguments"),
        ('{"gh": {"command": []}}', "server 'gh': command must be a non-empty list of strings"),
        ('{"gh": {"command": "npx -y srv"}}', "server 'gh': command must be a non-empty list of strings"),
        ('{"gh": {"command": ["npx", 1]}}', "server 'gh': command must be a non-empty list of strings"),
        ('{"gh": {"command": [""]}}', "server 'gh': command must be a non-empty list of strings"),
        ('{"gh": {"command": ["x"], "env": ["A=b"]}}', "server 'gh': env must be an object whose values are strings"),
        ('{"gh": {"command": ["x"], "env": {"A": 1}}}', "server 'gh': env must be an object whose values are strings"),
        ('{"gh": {"command": ["x"], "env": {"A-B": "1"}}}', "server 'gh': env: 'A-B' is not an environment variable"),
        (
            '{"gh": {"command": ["x"], "tenantEnv": "TOKEN"}}',
            "server 'gh': tenantEnv must be a list of the environment",
        ),
        ('{"gh": {"command": ["x"], "tenantEnv": ["1X"]}}', "tenantEnv: a bot may never set '1X': not an environment"),
        ('{"gh": {"command": ["x"], "cwd": 1}}', "server 'gh': cwd must be a non-empty string"),
    ],
)
def test_an_unusable_declaration_is_a_config_error_naming_the_variable(raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_servers(raw)
    assert message in str(refused.value)
    assert str(refused.value).startswith("AGENTCRON_MCP_SERVERS")


def test_a_file_that_is_not_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text("github: npx")
    with pytest.raises(ConfigError, match=r"AGENTCRON_MCP_SERVERS \(the file '.*mcp.json'\) is not valid JSON"):
        parse_servers(str(path))


DANGEROUS = [
    "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "BROWSER", "EDITOR", "PYTHONWARNINGS",
    "PYTHONPATH", "PYTHONSTARTUP", "NODE_OPTIONS", "NODE_PATH", "PATH", "HOME", "SHELL", "ENV", "BASH_ENV",
    "PERL5OPT", "RUBYOPT", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "GIT_SSH_COMMAND", "GIT_CONFIG_GLOBAL",
    "npm_config_registry", "NPM_CONFIG_USERCONFIG", "UV_INDEX_URL", "PIP_INDEX_URL", "HTTPS_PROXY",
    "http_proxy", "ALL_PROXY", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_TLS_REJECT_UNAUTHORIZED",
    "OPENSSL_CONF", "XDG_CONFIG_HOME", "TMPDIR", "GLIBC_TUNABLES", "LC_ALL", "GOOGLE_APPLICATION_CREDENTIALS",
    "KUBECONFIG", "AWS_CONFIG_FILE", "DOCKER_HOST", "ld_preload",
]  # fmt: skip


@pytest.mark.parametrize("name", DANGEROUS)
def test_tenant_env_never_lists_a_name_that_runs_code_or_redirects_the_program(name: str) -> None:
    raw = json.dumps({"gh": {"command": ["x"], "tenantEnv": ["GITHUB_TOKEN", name]}})
    with pytest.raises(ConfigError) as refused:
        parse_servers(raw)
    assert str(refused.value).startswith(f"AGENTCRON_MCP_SERVERS: server 'gh': tenantEnv: a bot may never set {name!r}")
    assert "list only names that carry data" in str(refused.value)


@pytest.mark.parametrize(
    "name", ["GITHUB_PERSONAL_ACCESS_TOKEN", "GITHUB_TOKEN", "SLACK_BOT_TOKEN", "NOTION_API_KEY", "JIRA_EMAIL"]
)
def test_tenant_env_may_list_names_that_carry_data(name: str) -> None:
    assert env_name_risk(name) is None


# -- streamable HTTP ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server() -> Iterator[int]:
    """tests/mcp_server.py serving streamable HTTP on 127.0.0.1; yields its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen([sys.executable, SERVER, "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as s, contextlib.suppress(OSError):
                s.connect(("127.0.0.1", port))
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the MCP HTTP server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def http_ability(url: str) -> dict[str, Any]:
    return {"type": "mcp", "config": {"url": url, "timeout": 10}}


async def test_an_http_server_on_an_allowed_address_serves_its_tools(http_server: int) -> None:
    events = Events()
    allowed = Settings(http_allow=("127.0.0.1",))
    result = await AgentRunner(allowed).run(job([http_ability(f"http://127.0.0.1:{http_server}/mcp")]), events)
    assert result.outcome == "success", result.summary
    assert result.summary == "Completed task 'Digest' (add: 2; shout: TEST!)"


async def test_an_http_server_on_a_private_address_is_refused(http_server: int) -> None:
    result = await AgentRunner(Settings()).run(job([http_ability(f"http://127.0.0.1:{http_server}/mcp")]), Events())
    assert result.outcome == "failure"
    assert "127.0.0.1, a private, loopback or link-local address" in result.summary


async def test_a_name_that_resolves_elsewhere_after_the_check_is_refused(
    http_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the server's name first resolves to an allowed address, then to a private one.
    Every request goes to an address checked for it, so the second answer is refused instead of
    connected to (an MCP client resolving the name itself would have reached 10.0.0.5)."""
    fake_dns(monkeypatch, "mcp.rebind.test", ["127.0.0.1"], ["10.0.0.5"])  # an attacker's DNS server
    allowed = Settings(http_allow=("127.0.0.1",))
    result = await AgentRunner(allowed).run(job([http_ability(f"http://mcp.rebind.test:{http_server}/mcp")]), Events())
    assert result.outcome == "failure"
    assert "mcp.rebind.test resolves to 10.0.0.5, a private" in result.summary


async def test_a_name_that_keeps_resolving_to_an_allowed_address_is_served(
    http_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pinned requests carry the server's name (Host header), and an address that refuses the
    connection is followed by the next one the name resolves to."""
    fake_dns(monkeypatch, "mcp.pinned.test", ["127.0.0.2", "127.0.0.1"])  # nothing listens on the first
    allowed = Settings(http_allow=("127.0.0.0/8",))
    ability = http_ability(f"http://mcp.pinned.test:{http_server}/mcp")
    result = await AgentRunner(allowed).run(job([ability]), Events())
    assert result.outcome == "success", result.summary
