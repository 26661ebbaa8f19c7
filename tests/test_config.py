"""`Settings.from_env`: conversion of ``AGENTCRON_*`` variables, role validation, overrides, and the defaults
that depend on the database."""

from __future__ import annotations

import dataclasses

import pytest

from agentcron.config import DEFAULT_DATABASE_URL, ConfigError, Settings

ROLE_MESSAGE = "AGENTCRON_ROLE must be 'all' or a comma list of api, scheduler, worker, deliverer, not {!r}"


def test_an_empty_environment_gives_the_defaults() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert (s.database_url, s.port, s.role, s.http_allow) == (DEFAULT_DATABASE_URL, 8000, "all", ())


def test_integers_are_converted() -> None:
    s = Settings.from_env(
        {"AGENTCRON_PORT": "9000", "AGENTCRON_LEASE_MS": " 5000 ", "AGENTCRON_CLOCK_OFFSET_MS": "-250"}
    )
    assert (s.port, s.lease_ms, s.clock_offset_ms) == (9000, 5000, -250)
    assert type(s.port) is int


def test_tuples_are_comma_lists_without_blanks() -> None:
    s = Settings.from_env({"AGENTCRON_HTTP_ALLOW": " 10.0.0.0/8, intranet.example ,,"})
    assert s.http_allow == ("10.0.0.0/8", "intranet.example")
    assert Settings.from_env({"AGENTCRON_HTTP_ALLOW": " , "}).http_allow == ()


def test_strings_are_taken_as_is_and_empty_values_are_unset() -> None:
    s = Settings.from_env(
        {
            "AGENTCRON_DATABASE_URL": "postgresql://u@h/db",
            "AGENTCRON_DEFAULT_MODEL": "openai:gpt-4o",
            "AGENTCRON_PORT": "",
            "AGENTCRON_HOST": "",
        }
    )
    assert (s.database_url, s.default_model, s.port, s.host) == (
        "postgresql://u@h/db",
        "openai:gpt-4o",
        8000,
        "127.0.0.1",
    )


def test_only_agentcron_variables_count() -> None:
    s = Settings.from_env({"PORT": "1", "agentcron_port": "2", "AGENTCRON_port": "3", "AGENTCRON_NOT_A_FIELD": "x"})
    assert s.port == 8000


def test_every_field_is_read_from_its_variable() -> None:
    for f in dataclasses.fields(Settings):
        default = getattr(Settings(), f.name)
        if isinstance(default, bool):
            continue
        if isinstance(default, int):
            raw, want = "7", 7
        elif isinstance(default, tuple):
            raw, want = "a,b", ("a", "b")
        elif f.name == "role":
            raw, want = "worker", "worker"
        else:
            raw, want = "x", "x"
        assert getattr(Settings.from_env({"AGENTCRON_" + f.name.upper(): raw}), f.name) == want, f.name


def test_the_process_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCRON_WORKER_CONCURRENCY", "3")
    assert Settings.from_env().worker_concurrency == 3
    assert Settings.from_env({}).worker_concurrency == 64  # an injected mapping replaces it


@pytest.mark.parametrize("raw", ["abc", "1.5", "10ms", "0x10"])
def test_a_bad_integer_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"AGENTCRON_WORKER_CONCURRENCY": raw})
    assert str(caught.value) == f"AGENTCRON_WORKER_CONCURRENCY must be an integer, not {raw!r}"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("role", "roles"),
    [
        ("all", {"api", "scheduler", "worker", "deliverer"}),
        ("api", {"api"}),
        ("api,worker", {"api", "worker"}),
        (" scheduler , worker ,", {"scheduler", "worker"}),
        ("worker,all", {"api", "scheduler", "worker", "deliverer"}),
        ("deliverer", {"deliverer"}),
    ],
)
def test_roles(role: str, roles: set[str]) -> None:
    s = Settings.from_env({"AGENTCRON_ROLE": role})
    assert s.role == role and s.roles == frozenset(roles)


@pytest.mark.parametrize("role", ["bogus", "api,bogus", "API", " , ", "api;worker"])
def test_a_bad_role_is_refused_with_its_message(role: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"AGENTCRON_ROLE": role})
    assert str(caught.value) == ROLE_MESSAGE.format(role)


@pytest.mark.parametrize("raw", ["npx", "*", " python3 "])
def test_the_removed_mcp_stdio_allow_is_refused_saying_what_replaces_it(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"AGENTCRON_MCP_STDIO_ALLOW": raw, "AGENTCRON_MCP_SERVERS": '{"a": {"command": ["a"]}}'})
    message = str(caught.value)
    assert message.startswith(
        "AGENTCRON_MCP_STDIO_ALLOW is no longer supported: bots no longer choose the programs the worker starts. "
        "Declare each stdio MCP server by name in AGENTCRON_MCP_SERVERS"
    )
    assert '{"type": "mcp", "config": {"server": "github"}}' in message
    assert not hasattr(Settings(), "mcp_stdio_allow")
    # empty is unset, as for every variable
    assert Settings.from_env({"AGENTCRON_MCP_STDIO_ALLOW": ""}).mcp_servers == ""


def test_a_bad_role_override_is_refused_too() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({}, role="web")
    assert str(caught.value) == ROLE_MESSAGE.format("web")


def test_overrides_win_over_the_environment_unless_none() -> None:
    env = {"AGENTCRON_PORT": "9000", "AGENTCRON_HOST": "0.0.0.0", "AGENTCRON_ROLE": "api"}
    s = Settings.from_env(env, port=9100, host=None, role="worker", database_url=None)
    assert (s.port, s.host, s.role, s.database_url) == (9100, "0.0.0.0", "worker", DEFAULT_DATABASE_URL)
    assert Settings.from_env(env, port=0).port == 0  # a falsy override still applies


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]


# -- defaults that depend on the database ---------------------------------------------------------------


def test_concurrent_ticks_default_by_concurrent_writes() -> None:
    s = Settings()
    assert s.scheduler_concurrent_ticks == 0
    assert s.concurrent_ticks(True) == 2
    assert s.concurrent_ticks(False) == 1


def test_outcome_writer_count_default_by_concurrent_writes() -> None:
    s = Settings()
    assert s.outcome_writers == 0
    assert s.outcome_writer_count(True) == 2
    assert s.outcome_writer_count(False) == 1


def test_explicit_counts_override_the_defaults() -> None:
    s = Settings.from_env({"AGENTCRON_SCHEDULER_CONCURRENT_TICKS": "4", "AGENTCRON_OUTCOME_WRITERS": "3"})
    assert (s.concurrent_ticks(True), s.concurrent_ticks(False)) == (4, 4)
    assert (s.outcome_writer_count(True), s.outcome_writer_count(False)) == (3, 3)
    one = Settings(scheduler_concurrent_ticks=1, outcome_writers=1)
    assert (one.concurrent_ticks(True), one.outcome_writer_count(True)) == (1, 1)
