"""Conformance of the run endpoints with both official SDKs: trigger, cancel, execution list/cancel and
(JS only: PyPI chatbotkit 0.6 has no such method) subscribe.

Executions are awaited by polling the API for a bounded time; nothing waits for a schedule.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Server
from tests.test_sdk_js import run_script

chatbotkit = pytest.importorskip("chatbotkit")
from chatbotkit import APIError, ChatBotKit  # noqa: E402
from chatbotkit import types as t  # noqa: E402

pytestmark = pytest.mark.sdk

UNKNOWN = "cm0000000000000000unknown"


def test_js_trigger_cancel_executions(server: Server) -> None:
    summary = run_script(server, "runs.mjs")
    assert summary["executions"] == 6


def test_js_subscribe(server: Server) -> None:
    summary = run_script(server, "subscribe.mjs")
    assert summary["events"] >= 0


def test_js_stream_shows_each_execution_from_begin_to_end(server: Server) -> None:
    """``.stream()`` on subscribe: executionBegin, operations, executionEnd for a triggered run, and the
    CANCELED operationEnd before the executionEnd of a run cancelled inside its wait tool."""
    summary = run_script(server, "lifecycle.mjs")
    assert summary["events"] >= 6 and summary["cancelled"] >= 5


@pytest.fixture
def secret(server: Server) -> str:
    return server.account("sdk-py-runs")


@pytest.fixture
async def cbk(server: Server, secret: str) -> AsyncIterator[ChatBotKit]:
    async with ChatBotKit(token=secret, base_url=server.url) as client:
        yield client


async def _until(what: str, fn: Any, seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.anyio
async def test_py_run_methods(cbk: ChatBotKit) -> None:
    """trigger/cancel/execution.list (+stream)/execution.cancel parse into the typed responses; this is
    where ISO ``completedAt`` and a string cursor on empty pages matter."""
    quick = (await cbk.bot.create({"name": "quick"})).id
    slow = (await cbk.bot.create({"name": "slow", "abilities": [{"type": "wait", "config": {"seconds": 30}}]})).id
    task_id = (await cbk.task.create({"name": "py run", "botId": quick})).id
    empty = await cbk.task.execution.list(task_id)
    assert isinstance(empty, t.TaskExecutionListResponse)
    assert (empty.items, empty.cursor) == ([], "")

    triggered = await cbk.task.trigger(task_id)
    assert isinstance(triggered, t.TaskTriggerResponse)
    assert triggered.id == task_id

    async def done() -> Any:
        page = await cbk.task.execution.list(task_id)
        return page if page.items and page.items[0].completed_at is not None else None

    page = await _until("the execution to finish", done)
    item = page.items[0]
    assert isinstance(item, t.TaskExecutionListResponseItem)
    assert item.task_id == task_id
    assert item.completed_at is not None and item.completed_at.tzinfo is not None
    assert abs(item.completed_at.timestamp() * 1000 - item.updated_at) < 60_000
    assert item.outcome == t.TentacledOutcome.SUCCESS
    assert page.cursor == item.id

    streamed = [s async for s in cbk.task.execution.list(task_id).stream()]
    assert all(isinstance(s, t.TaskExecutionListStreamItem) for s in streamed)
    assert [s.data.id for s in streamed] == [item.id]
    assert streamed[0].data.completed_at == item.completed_at

    canceled = await cbk.task.cancel(task_id)
    assert isinstance(canceled, t.TaskCancelResponse)
    assert canceled.id == task_id
    x_cancel = await cbk.task.execution.cancel(task_id, item.id)
    assert isinstance(x_cancel, t.TaskExecutionCancelResponse)
    assert (x_cancel.id, x_cancel.task_id) == (item.id, task_id)

    slow_task = (await cbk.task.create({"name": "py slow", "botId": slow})).id
    await cbk.task.trigger(slow_task)

    async def running() -> Any:
        page = await cbk.task.execution.list(slow_task, {"status": "running"})
        return page.items[0] if page.items else None

    run = await _until("the slow execution to run", running)
    assert run.completed_at is None
    result = await cbk.task.execution.cancel(slow_task, run.id)
    assert (result.id, result.task_id) == (run.id, slow_task)
    after = (await cbk.task.execution.list(slow_task)).items[0]
    assert after.status == t.TentacledStatus.CANCELED
    assert after.outcome == t.TentacledOutcome.FAILURE
    assert after.completed_at is not None

    await cbk.task.trigger(slow_task)
    await _until("the second slow execution to run", running)
    assert (await cbk.task.cancel(slow_task)).id == slow_task
    history = await cbk.task.execution.list(slow_task, {"status": "canceled"})
    assert len(history.items) == 2

    for call in (
        cbk.task.trigger(UNKNOWN),
        cbk.task.cancel(UNKNOWN),
        cbk.task.execution.list(UNKNOWN),
        cbk.task.execution.cancel(task_id, UNKNOWN),
        cbk.task.execution.cancel(slow_task, item.id),
    ):
        with pytest.raises(APIError) as info:
            await call
        assert (info.value.status_code, info.value.code) == (404, "NOT_FOUND")


def test_py_has_no_subscribe() -> None:
    """A contract point the SDKs force: PyPI 0.6 cannot subscribe, so subscribe is JS-SDK shaped only."""
    assert not hasattr(chatbotkit.task.TaskClient, "subscribe")
