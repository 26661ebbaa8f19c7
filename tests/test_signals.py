"""The lifecycle signal hub (agentcron.signals) and the log observer (agentcron.observers.logs)."""

from __future__ import annotations

import logging

import pytest

from agentcron.domain import Finished, Outcome
from agentcron.observers import logs
from agentcron.signals import (
    ExecutionsFinished,
    FinishedRun,
    RunsReaped,
    ScheduleChanged,
    Signals,
    TaskPaused,
    settled,
)


def test_observers_get_the_signals_of_their_kind_in_order() -> None:
    signals = Signals()
    seen: list[tuple[str, object]] = []
    signals.connect(RunsReaped, lambda s: seen.append(("first", s)))
    signals.connect(RunsReaped, lambda s: seen.append(("second", s)))
    reaped = RunsReaped(["e1"], ["t1"])
    signals.emit(reaped)
    signals.emit(ExecutionsFinished([]))  # nobody listens: nothing happens
    assert seen == [("first", reaped), ("second", reaped)]
    assert signals.observed(RunsReaped) and not signals.observed(ExecutionsFinished)


def test_a_failing_observer_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    signals = Signals()
    seen: list[object] = []

    def broken(_: object) -> None:
        raise RuntimeError("observer bug")

    signals.connect(RunsReaped, broken)
    signals.connect(RunsReaped, seen.append)
    with caplog.at_level(logging.ERROR, "agentcron.signals"):
        signals.emit(RunsReaped(["e1"], ["t1"]))
    assert len(seen) == 1
    assert "an observer of RunsReaped failed" in caplog.text


def test_the_log_observer_names_each_failed_run(caplog: pytest.LogCaptureFixture) -> None:
    signals = Signals()
    logs.connect(signals)
    ok = Finished("e1", 1, "t1", Outcome.SUCCESS, "fine")
    bad = Finished("e2", 1, "t1", Outcome.FAILURE, "Model test failed: boom")
    with caplog.at_level(logging.WARNING, "agentcron.runs"):
        signals.emit(ExecutionsFinished([FinishedRun(ok, 10), FinishedRun(bad, 20)]))
    assert "execution e2 of task t1 failed after 20 ms: Model test failed: boom" in caplog.text
    assert "e1" not in caplog.text


def test_what_settling_outcomes_did_is_announced() -> None:
    signals = Signals()
    seen: list[object] = []
    signals.connect(ScheduleChanged, seen.append)
    signals.connect(TaskPaused, seen.append)
    failed = Finished("e1", 1, "t1", Outcome.FAILURE, "x", retry_at=5_000)
    paused = Finished("e2", 1, "t2", Outcome.FAILURE, "x", paused="Paused after 3 consecutive failures")
    settled(signals, [Finished("e0", 1, "t0", Outcome.SUCCESS, "ok"), failed, paused])
    assert seen == [ScheduleChanged("t1"), TaskPaused("t2", None, "Paused after 3 consecutive failures")]
