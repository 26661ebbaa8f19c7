"""The offline basic runner (tests and benchmarks): its events, summary and conversation, and what it
hands back when interrupted."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentcron.domain import Outcome, RunInterrupted
from agentcron.engine.basic import BasicRunner
from tests.engine_helpers import Events, job, no_bot_job

pytestmark = pytest.mark.anyio


async def test_performs_wait_and_time_abilities_in_order() -> None:
    events = Events()
    abilities = [
        {"type": "time", "config": {"timezone": "Europe/Berlin"}},
        {"type": "wait", "config": {"seconds": 0.01}},
    ]
    result = await BasicRunner().run(job(abilities), events)
    assert result.outcome == Outcome.SUCCESS
    assert result.summary.startswith("Completed task 'Digest' (time is ")
    assert result.summary.endswith("; waited 0.01 s)")
    assert result.messages == [("user", "Digest\n\nSummarise the day."), ("bot", result.summary)]
    assert [(t, d["id"], d["action"]["name"]) for t, d in events] == [
        ("operationBegin", "exec1-0", "time"),
        ("operationEnd", "exec1-0", "time"),
        ("operationBegin", "exec1-1", "wait"),
        ("operationEnd", "exec1-1", "wait"),
    ]
    assert events[1][1]["result"].startswith("time is ") and events[3][1]["result"] == "waited 0.01 s"
    assert events[2][1]["action"] == {"id": "ability-1", "kind": "function", "name": "wait", "input": {"seconds": 0.01}}


async def test_no_abilities_and_a_task_without_a_name() -> None:
    result = await BasicRunner().run(job([], name=""), Events())
    assert (result.outcome, result.summary) == (Outcome.SUCCESS, "Completed task 'task1'")
    assert result.messages == [("user", "Summarise the day."), ("bot", "Completed task 'task1'")]


async def test_no_bot_fails_saying_so() -> None:
    events = Events()
    result = await BasicRunner().run(no_bot_job(), events)
    assert (result.outcome, result.summary) == (Outcome.FAILURE, "The task has no bot: set botId to run it.")
    assert events == [("error", {"code": "NO_BOT", "message": result.summary})]


async def test_interrupted_inside_a_wait_raises_with_what_it_did() -> None:
    events = Events()
    interrupted: list[RunInterrupted] = []

    async def body() -> None:
        try:
            await BasicRunner().run(job([{"type": "time"}, {"type": "wait", "config": {"seconds": 60}}]), events)
        except RunInterrupted as e:
            interrupted.append(e)
            raise

    task = asyncio.create_task(body())
    deadline = time.monotonic() + 5
    while len(events) < 3:  # the wait has begun
        assert time.monotonic() < deadline, events
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (e,) = interrupted
    assert isinstance(e.__cause__, asyncio.CancelledError)
    assert (e.partial.outcome, e.partial.summary) == (Outcome.FAILURE, "")
    (user, activity) = e.partial.messages
    assert user == ("user", "Digest\n\nSummarise the day.") and activity[1].startswith("time is ")
