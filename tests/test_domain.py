"""Domain values: deadlines, a task's instruction and label, results as recorded, interruption, plans."""

from __future__ import annotations

import asyncio

import pytest

from agentcron.domain import (
    MAX_TIME_DEFAULT_MS,
    BotConfig,
    Deadline,
    ExecStatus,
    Finished,
    Job,
    Outcome,
    PlannedRun,
    RunInterrupted,
    RunKind,
    RunResult,
    SkipReason,
    TaskConfig,
)

pytestmark = pytest.mark.anyio

MIN = 60_000


# -- Deadline.of ----------------------------------------------------------------------------------------


def test_max_time_floor_is_fifteen_minutes() -> None:
    assert MAX_TIME_DEFAULT_MS == 15 * MIN
    assert Deadline.of(None, None) == Deadline(900.0, "maxTime (900000 ms)")
    assert Deadline.of(0, None) == Deadline(900.0, "maxTime (900000 ms)")
    assert Deadline.of(60_000, None) == Deadline(900.0, "maxTime (900000 ms)")
    assert Deadline.of(15 * MIN - 1, None) == Deadline(900.0, "maxTime (900000 ms)")
    assert Deadline.of(-5, None) == Deadline(900.0, "maxTime (900000 ms)")


def test_max_time_at_or_above_the_floor_is_used_as_is() -> None:
    assert Deadline.of(15 * MIN, None) == Deadline(900.0, "maxTime (900000 ms)")
    assert Deadline.of(30 * MIN, None) == Deadline(1800.0, "maxTime (1800000 ms)")
    assert Deadline.of(30 * MIN + 500, None) == Deadline(1800.5, "maxTime (1800500 ms)")


def test_shorter_session_duration_wins_and_is_named() -> None:
    assert Deadline.of(30 * MIN, 10 * MIN) == Deadline(600.0, "sessionDuration (600000 ms)")
    assert Deadline.of(None, 100) == Deadline(0.1, "sessionDuration (100 ms)")
    assert Deadline.of(None, 15 * MIN - 1) == Deadline((15 * MIN - 1) / 1000, "sessionDuration (899999 ms)")


def test_session_duration_not_shorter_leaves_max_time() -> None:
    # Equal: maxTime names the limit (strictly shorter wins).
    assert Deadline.of(30 * MIN, 30 * MIN) == Deadline(1800.0, "maxTime (1800000 ms)")
    assert Deadline.of(30 * MIN, 45 * MIN) == Deadline(1800.0, "maxTime (1800000 ms)")
    # Without maxTime, the 15-minute floor is the maxTime a longer session is compared with.
    assert Deadline.of(None, 20 * MIN) == Deadline(900.0, "maxTime (900000 ms)")


def test_zero_or_none_session_duration_is_no_session_limit() -> None:
    assert Deadline.of(30 * MIN, 0) == Deadline(1800.0, "maxTime (1800000 ms)")
    assert Deadline.of(30 * MIN, None) == Deadline(1800.0, "maxTime (1800000 ms)")
    assert Deadline.of(30 * MIN, -1) == Deadline(1800.0, "maxTime (1800000 ms)")
    assert Deadline.of(0, 0) == Deadline(900.0, "maxTime (900000 ms)")


def test_task_and_job_deadlines_come_from_the_task() -> None:
    task = TaskConfig("t1", "a1", "n", "d", max_time=20 * MIN, session_duration=5_000)
    assert task.deadline == Deadline(5.0, "sessionDuration (5000 ms)")
    job = Job("e1", 1, "a1", "c1", task, None)
    assert job.deadline == task.deadline


# -- TaskConfig -----------------------------------------------------------------------------------------


def test_instruction_is_name_then_description() -> None:
    assert TaskConfig("t1", "a1", "Digest", "Summarise the news").instruction == "Digest\n\nSummarise the news"


def test_instruction_with_only_one_part_has_no_blank_lines() -> None:
    assert TaskConfig("t1", "a1", "Digest", "").instruction == "Digest"
    assert TaskConfig("t1", "a1", "", "Summarise the news").instruction == "Summarise the news"
    assert TaskConfig("t1", "a1", " Digest ", "  ").instruction == "Digest"


def test_instruction_of_an_empty_task_says_so() -> None:
    assert TaskConfig("t1", "a1", "", "").instruction == "(the task has no name or description)"
    assert TaskConfig("t1", "a1", "  ", "\n").instruction == "(the task has no name or description)"


def test_label_is_the_name_or_else_the_id() -> None:
    assert TaskConfig("t1", "a1", "Digest", "").label == "Digest"
    assert TaskConfig("t1", "a1", "", "desc").label == "t1"


# -- Finished.of ----------------------------------------------------------------------------------------


def test_finished_of_carries_the_job_and_result() -> None:
    task = TaskConfig("t1", "a1", "n", "d")
    job = Job("e1", 3, "a1", "c1", task, BotConfig("b1"))
    msgs = [("user", "n"), ("bot", "done")]
    result = RunResult(Outcome.SUCCESS, "ok", msgs, input_tokens=10, output_tokens=20, model_requests=2)
    f = Finished.of(job, result)
    assert f == Finished(
        "e1",
        3,
        "t1",
        Outcome.SUCCESS,
        "ok",
        ExecStatus.IDLE,
        10,
        20,
        2,
        [("user", "n"), ("bot", "done")],
        "a1",
        "c1",
    )
    assert f.status is ExecStatus.IDLE


def test_finished_of_a_failure_without_usage() -> None:
    job = Job("e2", 1, "a2", "c2", TaskConfig("t2", "a2", "", ""), None)
    f = Finished.of(job, RunResult(Outcome.FAILURE, "Run failed: boom"))
    assert (f.execution_id, f.attempt, f.task_id, f.account_id, f.conversation_id) == ("e2", 1, "t2", "a2", "c2")
    assert (f.outcome, f.summary, f.input_tokens, f.output_tokens, f.model_requests) == (
        Outcome.FAILURE,
        "Run failed: boom",
        0,
        0,
        0,
    )
    assert list(f.messages) == []


# -- RunInterrupted -------------------------------------------------------------------------------------


def test_run_interrupted_is_a_cancelled_error_with_its_partial() -> None:
    partial = RunResult(Outcome.FAILURE, "so far", [("user", "hi")], input_tokens=5)
    e = RunInterrupted(partial)
    assert isinstance(e, asyncio.CancelledError)
    assert not isinstance(e, Exception)  # an `except Exception` in between does not swallow it
    assert e.partial is partial


async def test_a_task_raising_run_interrupted_ends_cancelled() -> None:
    partial = RunResult(Outcome.FAILURE, "so far", [("user", "hi")], model_requests=1)

    async def body() -> None:
        await asyncio.sleep(0)
        raise RunInterrupted(partial)

    task = asyncio.create_task(body())
    with pytest.raises(asyncio.CancelledError) as caught:
        await task
    assert task.cancelled()
    assert isinstance(caught.value, RunInterrupted) and caught.value.partial is partial


async def test_a_cancelled_runner_reraises_as_run_interrupted_and_its_caller_reads_the_partial() -> None:
    """The runner turns the cancel into RunInterrupted; the worker's `except CancelledError` sees the partial
    and the task still ends cancelled."""
    started = asyncio.Event()
    seen: list[RunResult | None] = []

    async def runner() -> RunResult:
        done = [("user", "task")]
        try:
            started.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RunInterrupted(RunResult(Outcome.FAILURE, "", done, input_tokens=7)) from None
        return RunResult(Outcome.SUCCESS, "never")

    async def worker_side() -> None:
        try:
            await runner()
        except asyncio.CancelledError as e:
            seen.append(e.partial if isinstance(e, RunInterrupted) else None)
            raise

    task = asyncio.create_task(worker_side())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    (partial,) = seen
    assert partial is not None and partial.messages == [("user", "task")] and partial.input_tokens == 7


# -- PlannedRun -----------------------------------------------------------------------------------------


def test_planned_run_is_skipped_only_for_the_skip_kind() -> None:
    task = TaskConfig("t1", "a1", "n", "d")
    for kind in (RunKind.SCHEDULE, RunKind.CATCHUP, RunKind.TRIGGER):
        assert PlannedRun(task, kind, 1000).skipped is False
    skip = PlannedRun(task, RunKind.SKIP, 1000, 2, SkipReason.OVERLAP, "Skipped")
    assert skip.skipped is True
    assert (skip.missed_count, skip.reason, skip.summary, skip.execution_id) == (2, SkipReason.OVERLAP, "Skipped", "")


def test_planned_run_defaults() -> None:
    run = PlannedRun(TaskConfig("t1", "a1", "n", "d"), RunKind.TRIGGER, None)
    assert (run.scheduled_for, run.missed_count, run.reason, run.summary, run.execution_id) == (None, 0, None, None, "")
