"""Metrics (agentcron.observers.metrics): counted from the lifecycle signals and the HTTP wrapper, scraped
with prometheus_client's own parser, in-process and from a real server on both backends."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.params import FromPath
from prometheus_client.parser import text_string_to_metric_families

from agentcron.clock import FakeClock
from agentcron.domain import (
    BotConfig,
    ExecStatus,
    Finished,
    Job,
    Outcome,
    PlannedRun,
    RunKind,
    SkipReason,
    TaskConfig,
)
from agentcron.engine.ability_config import ABILITY_TYPES
from agentcron.observers.metrics import HttpMetrics, Metrics
from agentcron.observers.runbook import RunBook
from agentcron.signals import (
    ExecutionsCanceled,
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

NOW = 1_800_000_000_000

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) -> value (parsed by prometheus_client)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(scrape: Samples, name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


def job(execution_id: str, kind: RunKind = RunKind.SCHEDULE, scheduled_for: int | None = None, **bot: Any) -> Job:
    task = TaskConfig(f"task-of-{execution_id}", "acct", "t", "")
    return Job(execution_id, 1, "acct", "conv", task, BotConfig("bot", **bot), kind, scheduled_for)


def finished(execution_id: str, outcome: Outcome, ms: int, status: ExecStatus = ExecStatus.IDLE) -> FinishedRun:
    return FinishedRun(Finished(execution_id, 1, f"task-of-{execution_id}", outcome, "s", status=status), ms)


def observed() -> tuple[Signals, Metrics, RunBook]:
    signals = Signals()
    book = RunBook()
    metrics = Metrics(FakeClock(NOW), ABILITY_TYPES)
    metrics.connect(signals, book)
    book.connect(signals)
    return signals, metrics, book


def test_runs_are_counted_by_trigger_and_outcome_without_ids() -> None:
    signals, metrics, book = observed()
    signals.emit(
        ExecutionsStarted(
            [
                job("e1", RunKind.SCHEDULE, NOW - 1500),
                job("e2", RunKind.TRIGGER),
                job("e3", RunKind.BACKFILL, NOW - 86_400_000),  # a backfill is not late: no lateness
                job("e4", RunKind.SCHEDULE, NOW - 20),
            ]
        )
    )
    signals.emit(ExecutionsFinished([finished("e1", Outcome.SUCCESS, 2500), finished("e2", Outcome.FAILURE, 40)]))
    signals.emit(ExecutionsCanceled(["e3", "queued-elsewhere"]))
    signals.emit(RunsReaped(["e4"], ["task-of-e4"]))
    signals.emit(RunsHandedBack(["x1", "x2"]))
    signals.emit(
        SlotsSkipped(
            [
                PlannedRun(TaskConfig("t9", "acct", "t", ""), RunKind.SKIP, NOW, reason=SkipReason.OVERLAP),
                PlannedRun(TaskConfig("t9", "acct", "t", ""), RunKind.SKIP, NOW, reason=SkipReason.MISFIRE),
                PlannedRun(TaskConfig("t9", "acct", "t", ""), RunKind.SKIP, NOW, reason=SkipReason.OVERLAP),
            ]
        )
    )
    metrics.track_running(lambda: 3)
    metrics.set_counts(queued=7, overdue=2)
    text = metrics.render().decode()
    m = samples(text)

    assert value(m, "agentcron_executions_started_total", trigger="schedule") == 2
    assert value(m, "agentcron_executions_started_total", trigger="trigger") == 1
    assert value(m, "agentcron_executions_started_total", trigger="backfill") == 1
    assert value(m, "agentcron_executions_finished_total", trigger="schedule", outcome="success") == 1
    assert value(m, "agentcron_executions_finished_total", trigger="trigger", outcome="failure") == 1
    assert value(m, "agentcron_executions_finished_total", trigger="backfill", outcome="canceled") == 1
    # an execution this process never ran: its trigger is unknown here
    assert value(m, "agentcron_executions_finished_total", trigger="unknown", outcome="canceled") == 1
    assert value(m, "agentcron_executions_finished_total", trigger="schedule", outcome="failure") == 1  # reaped
    assert value(m, "agentcron_runs_reaped_total") == 1
    assert value(m, "agentcron_runs_handed_back_total") == 2
    assert value(m, "agentcron_slots_skipped_total", reason="overlap") == 2
    assert value(m, "agentcron_slots_skipped_total", reason="misfire") == 1
    assert value(m, "agentcron_slots_skipped_total", reason="limits") == 0  # shown from the start
    assert value(m, "agentcron_execution_duration_seconds_count", outcome="success") == 1
    assert value(m, "agentcron_execution_duration_seconds_sum", outcome="success") == 2.5
    assert value(m, "agentcron_execution_duration_seconds_bucket", outcome="success", le="2.5") == 1
    assert value(m, "agentcron_execution_duration_seconds_bucket", outcome="success", le="1.0") == 0
    assert value(m, "agentcron_execution_duration_seconds_bucket", outcome="failure", le="0.05") == 1
    # the lateness of the two scheduled first attempts: 1.5 s and 20 ms
    assert value(m, "agentcron_fire_lateness_seconds_count") == 2
    assert value(m, "agentcron_fire_lateness_seconds_sum") == pytest.approx(1.52)
    assert value(m, "agentcron_fire_lateness_seconds_bucket", le="0.025") == 1
    assert value(m, "agentcron_fire_lateness_seconds_bucket", le="+Inf") == 2
    assert value(m, "agentcron_executions_running") == 3
    assert value(m, "agentcron_executions_queued") == 7
    assert value(m, "agentcron_tasks_overdue") == 2
    assert value(m, "process_cpu_seconds_total") > 0  # the process collector is there too
    for ident in ("e1", "e2", "e3", "e4", "task-of", "t9", "acct", "queued-elsewhere"):
        assert f'"{ident}' not in text, ident  # no id in any label
    assert book.runs == {}  # every run it was told of has ended


def test_model_requests_tokens_and_tool_calls_are_counted_from_operations() -> None:
    signals, metrics, _ = observed()
    bot = {"abilities": ({"type": "time"}, {"type": "fetch", "name": "docs"}, {"type": "fetch", "name": "docs"})}
    j = job("e1", **bot)
    ops: list[dict[str, Any]] = [
        {"action": {"name": "model:openai:gpt-4o"}, "result": {"inputTokens": 100, "outputTokens": 7}},
        {"action": {"name": "model:openai:gpt-4o"}, "error": "HTTP 429: slow down"},
        {"action": {"name": "model:test"}, "result": {"inputTokens": 5, "outputTokens": 1}},
        {"action": {"name": "model:someone:else"}, "result": {}},
        {"action": {"name": "time"}, "result": "12:00"},
        {"action": {"name": "docs"}, "result": "..."},
        {"action": {"name": "docs_2"}, "error": "GET failed"},
        {"action": {"name": "report_failure"}, "result": "ok"},
        {"action": {"name": "github_search"}, "result": "?"},  # no ability names it
    ]
    for data in ops:
        signals.emit(OperationEnded(j, data))
    m = samples(metrics.render().decode())
    assert value(m, "agentcron_model_requests_total", provider="openai", result="success") == 1
    assert value(m, "agentcron_model_requests_total", provider="openai", result="failure") == 1
    assert value(m, "agentcron_model_requests_total", provider="test", result="success") == 1
    assert value(m, "agentcron_model_requests_total", provider="other", result="success") == 1
    assert value(m, "agentcron_model_tokens_total", direction="input") == 105
    assert value(m, "agentcron_model_tokens_total", direction="output") == 8
    assert value(m, "agentcron_tool_calls_total", ability="time", result="success") == 1
    assert value(m, "agentcron_tool_calls_total", ability="fetch", result="success") == 1
    assert value(m, "agentcron_tool_calls_total", ability="fetch", result="failure") == 1
    assert value(m, "agentcron_tool_calls_total", ability="report_failure", result="success") == 1
    assert value(m, "agentcron_tool_calls_total", ability="other", result="success") == 1
    mcp = job("e2", abilities=({"type": "mcp", "config": {"server": "github"}},))
    signals.emit(OperationEnded(mcp, {"action": {"name": "search_issues"}, "result": "[]"}))
    m = samples(metrics.render().decode())
    assert value(m, "agentcron_tool_calls_total", ability="mcp", result="success") == 1


def test_the_run_book_forgets_the_oldest_runs_beyond_its_limit() -> None:
    book = RunBook(limit=3)
    book.started(ExecutionsStarted([job(f"e{i}", RunKind.TRIGGER) for i in range(5)]))
    assert list(book.runs) == ["e2", "e3", "e4"]
    assert book.trigger("e4") == "trigger" and book.trigger("e0") == "unknown"


@get("/api/v1/thing/{thing_id:str}/fetch")
async def fetch_thing(thing_id: FromPath[str]) -> dict[str, str]:
    return {"id": thing_id}


@pytest.mark.anyio
async def test_http_requests_are_counted_by_route_template_never_by_path() -> None:
    metrics = Metrics(FakeClock(NOW))
    app = HttpMetrics(Litestar([fetch_thing], debug=False), metrics)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for thing in ("a1", "b2", "c3"):
            assert (await client.get(f"/api/v1/thing/{thing}/fetch")).status_code == 200
        assert (await client.post("/api/v1/thing/a1/fetch")).status_code == 405
        assert (await client.get("/nowhere/d4")).status_code == 404
    text = metrics.render().decode()
    m = samples(text)
    route = "/api/v1/thing/{thing_id}/fetch"
    assert value(m, "agentcron_http_requests_total", method="GET", route=route, status="200") == 3
    assert value(m, "agentcron_http_request_duration_seconds_count", route=route) >= 3
    assert value(m, "agentcron_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert sum(v for (name, _), v in m.items() if name == "agentcron_http_requests_total") == 5
    for ident in ("a1", "b2", "c3", "d4"):
        assert ident not in text


# -- a real server ------------------------------------------------------------------------------------------


def scrape(url: str) -> Samples:
    r = httpx.get(url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def one_shot(seconds_from_now: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds_from_now, UTC).isoformat(timespec="milliseconds")


def test_a_run_and_a_skipped_slot_show_in_the_metrics_of_a_server(db_url: str) -> None:
    server = start_server(db_url)
    try:
        with server.client(server.account()) as c:
            before = scrape(server.url)
            # a scheduled run (a one-shot slot 2 s away) of a bot that needs no model key
            quick = new_task(c, botId=wait_bot(c), schedule=one_shot(2))
            # a slot that comes while its task still runs a manual trigger: skipped (overlap)
            busy = new_task(c, botId=wait_bot(c, 30), schedule=one_shot(2), overlapPolicy="skip")
            assert c.post(f"{API}/task/{busy}/trigger", json={}).status_code == 200

            def done() -> bool:
                ran = executions(c, quick)
                skipped = [e for e in executions(c, busy) if e["status"] == "canceled"]
                return bool(ran and ran[0]["outcome"] == "success" and skipped)

            wait_until(done, timeout=30)
            assert c.post(f"{API}/task/{busy}/cancel", json={}).status_code == 200  # the 30 s run
            c.get(f"{API}/task/{quick}/fetch")

            def canceled() -> Samples | None:
                s = scrape(server.url)
                return (
                    s
                    if value(s, "agentcron_executions_finished_total", trigger="trigger", outcome="canceled")
                    else None
                )

            after = wait_until(canceled)

        def delta(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert delta("agentcron_executions_started_total", trigger="schedule") == 1
        assert delta("agentcron_executions_started_total", trigger="trigger") == 1
        assert delta("agentcron_executions_finished_total", trigger="schedule", outcome="success") == 1
        assert delta("agentcron_executions_finished_total", trigger="trigger", outcome="canceled") == 1
        assert delta("agentcron_slots_skipped_total", reason="overlap") == 1
        assert delta("agentcron_execution_duration_seconds_count", outcome="success") == 1
        assert delta("agentcron_fire_lateness_seconds_count") == 1
        assert value(after, "agentcron_fire_lateness_seconds_sum") < 5  # fired on time, within a tick or so
        assert delta("agentcron_model_requests_total", provider="test", result="success") >= 1
        assert value(after, "agentcron_executions_running") == 0
        assert value(after, "agentcron_executions_queued") == 0
        assert value(after, "agentcron_tasks_overdue") == 0
        route = "/api/v1/task/{item_id}/fetch"  # (the template, as the API declares it)
        assert delta("agentcron_http_requests_total", method="GET", route=route, status="200") >= 1
        text = httpx.get(server.url + "/metrics").text
        for ident in (quick, busy):
            assert ident not in text
    finally:
        stop_server(server)
