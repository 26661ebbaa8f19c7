"""The worker (agentcron.worker) driving the agent runner on a real SQLite store: cancel and time limits, and what is
recorded. The engine's own tests are in test_engine_agent.py, test_engine_basic.py, test_engine_abilities.py,
test_engine_models.py and test_engine_net.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.engine.agent import AgentRunner
from agentcron.store.base import Store, open_store
from tests.runs_helpers import (
    cancel,
    conversation_messages,
    execution_usage,
    executions,
    make_bot,
    make_scheduler,
    make_task,
    make_worker,
    ms,
)

pytestmark = pytest.mark.anyio


async def _until_in_tool(store: Store, task_id: str) -> None:
    """Wait until the run has begun its second operation (the model request, then the tool call): a
    condition, not a fixed sleep, so a loaded machine does not cancel it before it reaches the tool."""
    async with asyncio.timeout(15):
        while True:
            rows = await store.events.history(task_id, 50)
            if sum(1 for r in rows if r["type"] == "operationBegin") >= 2:
                return
            await asyncio.sleep(0.02)


async def test_worker_cancel_and_time_limit_with_the_agent_runner(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        now = ms("2026-06-01T10:00:30Z")
        acc = await store.accounts.create_account("a", now)
        bot = await make_bot(store, acc, now, [{"type": "wait", "config": {"seconds": 60}}])
        tid = await make_task(store, acc, now, "quarterhourly", bot_id=bot)
        clock = FakeClock(ms("2026-06-01T10:15:00Z"))
        await make_scheduler(store, clock, Settings()).run_until_idle(clock.now_ms())
        worker = make_worker(store, clock, Settings(), "w1", AgentRunner(Settings()))
        assert await worker.claim_once(clock.now_ms()) == 1
        (running,) = list(worker.running.values())
        await _until_in_tool(store, tid)
        assert not running.task.done()
        canceled = await cancel(store, tid, clock.now_ms())
        started = time.monotonic()
        worker.cancel_local(canceled)
        with pytest.raises(asyncio.CancelledError):
            await running.task
        assert time.monotonic() - started < 1.0
        (ex,) = await executions(store, acc, tid)
        assert (ex["status"], ex["outcome"]) == ("canceled", "failure")
        # what it did until the cancel is kept: its conversation so far and the tokens it used
        await worker.drain()
        said = await conversation_messages(store, ex["conversationId"])
        assert said[0][0] == "user" and any(t == "activity" and x.startswith("called wait") for t, x in said)
        input_tokens, output_tokens, requests = await execution_usage(store, ex["id"])
        assert input_tokens > 0 and output_tokens > 0 and requests == 1
        (ex,) = await executions(store, acc, tid)
        assert (ex["status"], ex["outcome"], ex["summary"]) == ("canceled", "failure", "Task execution canceled")

        # sessionDuration ends a run stuck in a tool, and the worker records it with the agent's conversation
        tid2 = await make_task(store, acc, now, "quarterhourly", bot_id=bot, session_duration=300)
        await make_scheduler(store, clock, Settings()).run_until_idle(clock.now_ms())
        await worker.claim_once(clock.now_ms())
        t0 = time.monotonic()
        await worker.drain()
        assert time.monotonic() - t0 < 2.0
        (ex2,) = await executions(store, acc, tid2)
        assert ex2["outcome"] == "failure" and "sessionDuration (300 ms)" in ex2["summary"]
        said = await conversation_messages(store, ex2["conversationId"])
        assert said[0][0] == "user" and any(t == "activity" and x.startswith("called wait") for t, x in said)
        input_tokens, output_tokens, requests = await execution_usage(store, ex2["id"])
        assert input_tokens > 0 and output_tokens > 0 and requests == 1  # the model call before the tool

        # a finishing run stores its outcome, summary and token counts
        quick = await make_bot(store, acc, now, [{"type": "time"}])
        tid3 = await make_task(store, acc, now, "quarterhourly", bot_id=quick, name="Quick")
        await make_scheduler(store, clock, Settings()).run_until_idle(clock.now_ms())
        await worker.claim_once(clock.now_ms())
        await worker.drain()
        (ex3,) = await executions(store, acc, tid3)
        assert ex3["outcome"] == "success" and ex3["summary"].startswith("Completed task 'Quick' (time: ")
    finally:
        await store.close()
