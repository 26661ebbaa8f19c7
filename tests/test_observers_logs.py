"""The log (agentcron.observers.logs): its set-up, formats and handler, the lines fed from the lifecycle
signals, and a real server's stderr read back as JSON lines (both backends), secrets never in it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcron.config import ConfigError, Settings
from agentcron.domain import BotConfig, Finished, Job, Outcome, PlannedRun, RunKind, SkipReason, TaskConfig
from agentcron.observers import logs
from agentcron.observers.runbook import RunBook
from agentcron.signals import (
    ExecutionsFinished,
    ExecutionsStarted,
    FinishedRun,
    OperationEnded,
    RunsHandedBack,
    RunsReaped,
    Signals,
    SlotsSkipped,
)
from tests.conftest import start_server, stop_server, wait_until
from tests.http_helpers import API, executions, new_task, wait_bot


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`logs.setup` replaces the root logger's handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def lines_of(text: str) -> list[dict[str, Any]]:
    """Every line of a log, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def job(execution_id: str, kind: RunKind = RunKind.SCHEDULE) -> Job:
    return Job(execution_id, 1, "acct", "conv", TaskConfig("t1", "acct", "t", ""), BotConfig("b"), kind, None)


def test_redact_url_masks_passwords_only() -> None:
    assert logs.redact_url("postgresql://app:s3cret@db:5432/agentcron") == "postgresql://app:***@db:5432/agentcron"
    assert logs.redact_url("postgresql://app@db/agentcron") == "postgresql://app@db/agentcron"
    assert logs.redact_url("sqlite:///./data/agentcron.db") == "sqlite:///./data/agentcron.db"
    masked = logs.redact_url("postgresql://db/x?user=app&password=hunter2&sslmode=require")
    assert "hunter2" not in masked and "password=***" in masked and "sslmode=require" in masked
    assert logs.redact_url("postgresql://a:p%40ss@h/d") == "postgresql://a:***@h/d"


def test_settings_are_checked_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="AGENTCRON_LOG_LEVEL"):
        logs.check(Settings(log_level="LOUD"))
    with pytest.raises(ConfigError, match="AGENTCRON_LOG_FORMAT"):
        logs.check(Settings(log_format="xml"))
    with pytest.raises(ConfigError, match="AGENTCRON_ACCESS_LOG"):
        logs.check(Settings(access_log=2))
    logs.check(Settings(log_level="warning", log_format="JSON", access_log=1))
    # text on a terminal, json otherwise, unless set
    assert logs.log_format(Settings(), io.StringIO()) == "json"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert logs.log_format(Settings(), Tty()) == "text"
    assert logs.log_format(Settings(log_format="json"), Tty()) == "json"


def test_setup_makes_ours_the_only_handler_and_formats_json_lines(restore_logging: None) -> None:
    logging.basicConfig(level=logging.WARNING)  # what ran before (a library, an old set-up) is replaced
    out = io.StringIO()
    logs.setup(Settings(log_level="INFO", log_format="json"), stream=out)
    logging.getLogger("agentcron.test").info("hello %s", "world", extra={"fields": {"event": "x", "n": 1}})
    logging.getLogger("some.library").warning("careful", extra={"detail": "extra kept"})
    logging.getLogger("agentcron.test").debug("not at INFO")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")  # chatty library: off
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("agentcron.test").exception("it failed")
    got = lines_of(out.getvalue())
    assert [g["message"] for g in got] == ["hello world", "careful", "it failed"]
    assert got[0]["level"] == "INFO" and got[0]["logger"] == "agentcron.test" and got[0]["time"].endswith("Z")
    assert got[0]["event"] == "x" and got[0]["n"] == 1
    assert got[1]["detail"] == "extra kept"
    assert "ValueError: boom" in got[2]["exception"]


def test_text_format_writes_one_line_per_run(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup(Settings(log_level="INFO", log_format="text"), stream=out)
    signals = Signals()
    logs.connect(signals)
    signals.emit(
        ExecutionsFinished(
            [FinishedRun(Finished(f"e{i}", 1, "t1", Outcome.SUCCESS, "done\nwell"), 5) for i in range(3)]
        )
    )
    text = out.getvalue().splitlines()
    assert len(text) == 3
    want = "INFO agentcron.runs: execution e0 of task t1 succeeded after 5 ms: done well"
    assert text[0].endswith(f"{want} [trigger unknown, tokens 0 in / 0 out]")


def test_lines_on_a_loop_are_written_together_after_the_step(restore_logging: None) -> None:
    class Counting(io.StringIO):
        writes = 0

        def write(self, s: str) -> int:
            Counting.writes += 1
            return super().write(s)

    out = Counting()
    logs.setup(Settings(log_level="INFO", log_format="json"), stream=out)
    log = logging.getLogger("agentcron.test")

    async def burst() -> int:
        for i in range(50):
            log.info("line %d", i)
        written_during_the_step = Counting.writes
        await asyncio.sleep(0)
        return written_during_the_step

    assert asyncio.run(burst()) == 0
    assert Counting.writes == 1 and len(lines_of(out.getvalue())) == 50
    log.warning("off the loop: at once")
    assert Counting.writes == 2


def test_run_lines_carry_the_run_and_its_trigger(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup(Settings(log_level="INFO", log_format="json"), stream=out)
    signals = Signals()
    book = RunBook()
    logs.connect(signals, book, Settings(openai_base_url="https://user:pw@llm.internal:8443/v1"))
    book.connect(signals)
    signals.emit(ExecutionsStarted([job("e1"), job("e2", RunKind.TRIGGER)]))
    ok = Finished("e1", 1, "t1", Outcome.SUCCESS, "All good.\nSecond line.", input_tokens=12, output_tokens=3)
    bad = Finished("e2", 1, "t1", Outcome.FAILURE, "Model openai:gpt-4o failed: HTTP 500")
    signals.emit(ExecutionsFinished([FinishedRun(ok, 1234), FinishedRun(bad, 50)]))
    task = TaskConfig("t2", "acct", "t", "")
    signals.emit(SlotsSkipped([PlannedRun(task, RunKind.SKIP, 1000, reason=SkipReason.OVERLAP, summary="busy")]))
    signals.emit(RunsReaped(["e3"], ["t3"]))
    signals.emit(RunsHandedBack(["e4"]))
    model = {"id": "e5-1", "action": {"name": "model:openai:gpt-4o"}, "error": "HTTP 401: bad key"}
    signals.emit(OperationEnded(job("e5"), model))
    tool = {"id": "e5-2", "action": {"name": "fetch"}, "error": "GET https://x.test failed"}
    signals.emit(OperationEnded(job("e5"), tool))
    signals.emit(OperationEnded(job("e5"), {"id": "e5-3", "action": {"name": "time"}, "result": "12:00"}))
    got = {(g["event"], g.get("execution")): g for g in lines_of(out.getvalue())}
    success = got[("execution.finished", "e1")]
    assert success["level"] == "INFO" and success["logger"] == "agentcron.runs"
    assert {k: success[k] for k in ("task", "trigger", "outcome", "durationMs", "inputTokens", "outputTokens")} == {
        "task": "t1",
        "trigger": "schedule",
        "outcome": "success",
        "durationMs": 1234,
        "inputTokens": 12,
        "outputTokens": 3,
    }
    assert success["summary"] == "All good. Second line."  # one line
    failure = got[("execution.finished", "e2")]
    assert failure["level"] == "WARNING" and failure["trigger"] == "trigger" and failure["outcome"] == "failure"
    assert "execution e2 of task t1 failed after 50 ms: Model openai:gpt-4o failed: HTTP 500" in failure["message"]
    skipped = got[("slot.skipped", "")]
    assert skipped["task"] == "t2" and skipped["reason"] == "overlap" and skipped["scheduledFor"] == 1000
    assert got[("execution.reaped", "e3")]["level"] == "WARNING"
    assert got[("execution.handed_back", "e4")]["level"] == "INFO"
    failed_model = got[("model.failed", "e5")]
    assert failed_model["level"] == "WARNING" and failed_model["provider"] == "openai"
    assert failed_model["host"] == "llm.internal" and "llm.internal" in failed_model["message"]
    assert got[("tool.failed", "e5")]["tool"] == "fetch"
    assert len(got) == 7  # a tool call that succeeded is no line
    assert "pw" not in out.getvalue()


def test_at_warning_only_failures_are_written(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup(Settings(log_level="WARNING", log_format="json"), stream=out)
    signals = Signals()
    logs.connect(signals)
    ok = Finished("e1", 1, "t1", Outcome.SUCCESS, "fine")
    bad = Finished("e2", 1, "t1", Outcome.FAILURE, "boom")
    signals.emit(ExecutionsFinished([FinishedRun(ok, 1), FinishedRun(bad, 2)]))
    assert [g["execution"] for g in lines_of(out.getvalue())] == ["e2"]


# -- a real server ------------------------------------------------------------------------------------------


def test_a_server_logs_json_lines_and_no_secret(db_url: str) -> None:
    password = "s3cret-db-password"
    if db_url.startswith("postgresql://"):
        # the test server trusts local connections: the password is sent and ignored, and must not be logged
        db_url = db_url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)
    model_key = "sk-test-model-key-never-logged"
    env = {"AGENTCRON_ACCESS_LOG": "1", "AGENTCRON_OPENAI_API_KEY": model_key, "AGENTCRON_LOG_FORMAT": ""}
    server = start_server(db_url, env=env)
    try:
        secret = server.account()
        with server.client(secret) as c:
            task_id = new_task(c, botId=wait_bot(c))
            assert c.post(f"{API}/task/{task_id}/trigger", json={}).status_code == 200
            run = wait_until(lambda: [e for e in executions(c, task_id) if e["outcome"] == "success"])[0]
            assert c.get(f"{API}/task/{task_id}/fetch?secret=in-a-query").status_code == 200
            log = Path(server.log_path)
            wait_until(lambda: f'"execution":"{run["id"]}"' in log.read_text())
    finally:
        stop_server(server)
    text = Path(server.log_path).read_text()
    got = lines_of(text)  # stderr is not a terminal: JSON lines, every one of them
    started = next(g for g in got if g.get("event") == "started")
    assert started["roles"] == "api,scheduler,worker,deliverer" and started["url"] == server.url
    assert "***" in started["database"] if "@" in db_url else started["database"] == db_url
    hint = next(g for g in got if g.get("event") == "hint")
    assert "agentcron account create NAME --database-url" in hint["message"]
    finished = next(g for g in got if g.get("event") == "execution.finished")
    assert finished["execution"] == run["id"] and finished["task"] == task_id
    assert finished["trigger"] == "trigger" and finished["outcome"] == "success" and finished["durationMs"] >= 0
    assert finished["summary"] == run["summary"].split("\n")[0][:300]
    access = [g for g in got if g.get("event") == "http.request"]
    assert {"method": "POST", "path": f"/api/v1/task/{task_id}/trigger", "status": 200} in [
        {k: a[k] for k in ("method", "path", "status")} for a in access
    ]
    for leak in (password, model_key, secret, "in-a-query"):
        assert leak not in text, leak
