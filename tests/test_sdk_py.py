"""Conformance: the official PyPI SDK (``chatbotkit`` 0.6.x) against a real agentcron, on both stores.

Every task configuration method the package has, awaited (parsed into its typed responses, which assert
types: numeric timestamps, string cursors, enum values) and streamed where it offers ``.stream()``.
The run methods (trigger, cancel, execution.cancel) are in test_sdk_runs.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Server

chatbotkit = pytest.importorskip("chatbotkit")
from chatbotkit import APIError, ChatBotKit  # noqa: E402
from chatbotkit import types as t  # noqa: E402

pytestmark = [pytest.mark.sdk, pytest.mark.anyio]

UNKNOWN = "cm0000000000000000unknown"


def test_installed_version() -> None:
    assert chatbotkit.__version__.startswith("0.6."), chatbotkit.__version__


@pytest.fixture
def secret(server: Server) -> str:
    """A fresh account's secret (made outside the event loop: `Server.account` runs its own loop)."""
    return server.account("sdk-py")


@pytest.fixture
async def cbk(server: Server, secret: str) -> AsyncIterator[ChatBotKit]:
    client = ChatBotKit(token=secret, base_url=server.url)
    async with client:
        yield client


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in stream]


async def api_error(awaitable: Any) -> APIError:
    with pytest.raises(APIError) as info:
        await awaitable
    return info.value


async def test_task_create_fetch_update_delete(cbk: ChatBotKit) -> None:
    started = time.time() * 1000
    bot = await cbk.bot.create({"name": "py bot"})
    contact = await cbk.contact.create({"name": "py contact"})
    created = await cbk.task.create(
        {
            "name": "Daily",
            "description": "d",
            "botId": bot.id,
            "contactId": contact.id,
            "schedule": "daily",
            "timezone": "Europe/Berlin",
            "sessionDuration": 60000,
            "maxIterations": 10,
            "maxTime": 300000,
            "meta": {"a": "b", "n": 1, "_hidden": True},
        }
    )
    assert isinstance(created, t.TaskCreateResponse)
    task = await cbk.task.fetch(created.id)
    assert isinstance(task, t.TaskFetchResponse)
    assert task.id == created.id
    assert (task.name, task.description, task.schedule, task.timezone) == (
        "Daily",
        "d",
        "daily",
        "Europe/Berlin",
    )
    assert (task.bot_id, task.contact_id) == (bot.id, contact.id)
    assert (task.session_duration, task.max_iterations, task.max_time) == (60000, 10, 300000)
    assert task.meta == {"a": "b", "n": 1}
    assert task.status == t.TaskFetchResponseStatus.IDLE
    assert task.outcome == t.TaskFetchResponseOutcome.PENDING
    assert task.last_run_at is None
    assert task.next_run_at is not None and task.next_run_at > started
    assert task.created_at <= task.updated_at

    # The generated request classes serialise too (every constructor argument is required).
    typed = t.TaskCreateRequest(
        blueprint_id=None,
        bot_id=None,
        contact_id=None,
        description=None,
        expires_at=None,
        max_calls=100,
        max_iterations=None,
        max_time=None,
        meta={"typed": True},
        name="typed",
        schedule="hourly",
        session_duration=None,
        timezone=None,
    )
    typed_id = (await cbk.task.create(typed)).id
    typed_task = await cbk.task.fetch(typed_id)
    assert (typed_task.name, typed_task.schedule, typed_task.meta) == ("typed", "hourly", {"typed": True})

    updated = await cbk.task.update(created.id, {"name": "Renamed", "meta": {"$update": {"c": "d"}}})
    assert isinstance(updated, t.TaskUpdateResponse)
    assert updated.id == created.id
    task = await cbk.task.fetch(created.id)
    assert task.name == "Renamed"
    assert task.meta == {"a": "b", "n": 1, "c": "d"}
    assert task.schedule == "daily"
    await cbk.task.update(created.id, {"meta": {"z": 1}, "schedule": None})
    task = await cbk.task.fetch(created.id)
    assert task.meta == {"z": 1}
    assert task.schedule is None and task.next_run_at is None

    deleted = await cbk.task.delete(created.id)
    assert isinstance(deleted, t.TaskDeleteResponse)
    assert deleted.id == created.id
    error = await api_error(cbk.task.fetch(created.id))
    assert (error.status_code, error.code, error.message) == (404, "NOT_FOUND", "Not found")


async def test_task_list_and_stream(cbk: ChatBotKit) -> None:
    empty = await cbk.task.list()
    assert isinstance(empty, t.TaskListResponse)
    assert empty.items == []
    assert empty.cursor == "", "an empty page must carry a string cursor for this SDK"

    bot = await cbk.bot.create({"name": "b"})
    ids = []
    for i in range(5):
        body: dict[str, Any] = {"name": f"t{i}", "meta": {"i": str(i), "even": i % 2 == 0}}
        if i == 0:
            body["botId"] = bot.id
        ids.append((await cbk.task.create(body)).id)

    page = await cbk.task.list()
    assert isinstance(page, t.TaskListResponse)
    assert {item.id for item in page.items} == set(ids)
    assert all(isinstance(item, t.TaskListResponseItem) for item in page.items)
    assert page.cursor == page.items[-1].id
    desc = [item.id for item in page.items]

    first = await cbk.task.list({"take": 2, "order": "asc"})
    assert [i.id for i in first.items] == desc[::-1][:2]
    rest = await cbk.task.list({"order": "asc", "cursor": first.cursor})
    assert [i.id for i in rest.items] == desc[::-1][2:]
    after_last = await cbk.task.list({"cursor": page.cursor})
    assert after_last.items == [] and after_last.cursor == page.cursor

    typed = t.TaskListParams(
        blueprint_id=None,
        bot_id=bot.id,
        contact_id=None,
        cursor=None,
        meta=None,
        order=t.TaskListParamsOrder.DESC,
        status=t.TaskListParamsStatus.IDLE,
        take=10,
    )
    assert [i.id for i in (await cbk.task.list(typed)).items] == [ids[0]]
    assert [i.id for i in (await cbk.task.list({"meta": {"i": "3"}})).items] == [ids[3]]
    even = await cbk.task.list({"meta": {"even": True}})
    assert {i.id for i in even.items} == {ids[0], ids[2], ids[4]}
    assert (await cbk.task.list({"status": "running"})).items == []

    streamed = await collect(cbk.task.list().stream())
    assert all(isinstance(s, t.TaskListStreamItem) for s in streamed)
    assert all(s.type == t.TaskListStreamItemType.ITEM for s in streamed)
    assert [s.data.id for s in streamed] == desc
    streamed = await collect(cbk.task.list({"take": 3, "order": "asc"}).stream())
    assert [s.data.id for s in streamed] == desc[::-1][:3]
    assert await collect(cbk.task.list({"status": "canceled"}).stream()) == []


async def test_task_export(cbk: ChatBotKit) -> None:
    empty = await cbk.task.export()
    assert isinstance(empty, t.TasksExportResponse)
    assert (empty.items, empty.cursor) == ([], "")
    a = (await cbk.task.create({"name": "a", "schedule": "weekly", "meta": {"k": "v"}})).id
    b = (await cbk.task.create({"name": "b"})).id

    exported = await cbk.task.export()
    assert {i.id for i in exported.items} == {a, b}
    item = next(i for i in exported.items if i.id == a)
    assert isinstance(item, t.TasksExportResponseItem)
    assert (item.name, item.schedule, item.meta) == ("a", "weekly", {"k": "v"})
    assert [i.id for i in (await cbk.task.export({"meta": {"k": "v"}})).items] == [a]
    page = await cbk.task.export({"take": 1, "order": "asc"})
    assert [i.id for i in page.items] == [a]
    assert [i.id for i in (await cbk.task.export({"order": "asc", "cursor": page.cursor})).items] == [b]

    streamed = await collect(cbk.task.export({"order": "asc"}).stream())
    assert all(isinstance(s, t.TasksExportStreamItem) for s in streamed)
    assert [s.data.id for s in streamed] == [a, b]
    for s in streamed:
        assert "status" not in s.to_dict()["data"]


async def test_execution_list_of_a_new_task(cbk: ChatBotKit) -> None:
    task_id = (await cbk.task.create({"name": "never run"})).id
    page = await cbk.task.execution.list(task_id)
    assert isinstance(page, t.TaskExecutionListResponse)
    assert (page.items, page.cursor) == ([], "")
    assert await collect(cbk.task.execution.list(task_id, {"status": "running"}).stream()) == []
    error = await api_error(cbk.task.execution.list(UNKNOWN))
    assert (error.status_code, error.code) == (404, "NOT_FOUND")


async def test_api_errors(cbk: ChatBotKit, server: Server) -> None:
    for call in (
        cbk.task.fetch(UNKNOWN),
        cbk.task.update(UNKNOWN, {"name": "x"}),
        cbk.task.delete(UNKNOWN),
    ):
        error = await api_error(call)
        assert (error.status_code, error.code, error.message) == (404, "NOT_FOUND", "Not found")
    error = await api_error(cbk.task.create({"botId": UNKNOWN}))
    assert (error.status_code, error.code, error.message) == (404, "NOT_FOUND", "Bot not found")

    error = await api_error(cbk.task.create({"name": "x", "schedule": "every full moon"}))
    assert (error.status_code, error.code) == (400, "BAD_REQUEST")
    assert error.message.startswith("Invalid schedule")
    error = await api_error(cbk.task.create({"sessionDuration": 7_200_000}))
    assert (error.status_code, error.code) == (400, "BAD_REQUEST")
    assert "sessionDuration" in error.message

    async with ChatBotKit(token="sk-wrong", base_url=server.url) as bad:
        error = await api_error(bad.task.list())
        assert (error.status_code, error.code) == (401, "NOT_AUTHENTICATED")
        assert error.message
        error = await api_error(bad.task.create({"name": "x"}))
        assert (error.status_code, error.code) == (401, "NOT_AUTHENTICATED")


async def test_base_url_path_is_kept(server: Server, secret: str) -> None:
    """The PyPI SDK keeps a path in base_url (the JS SDK drops it): /prefix/api/v1/... is not ours."""
    async with ChatBotKit(token=secret, base_url=server.url + "/prefix") as prefixed:
        error = await api_error(prefixed.task.list())
        assert (error.status_code, error.code) == (404, "NOT_FOUND")


async def test_fetched_values_round_trip(cbk: ChatBotKit) -> None:
    """The typed responses turn every number into a float (``from_float``); writing them back must work,
    as it does on the reference server (Joi accepts 10.0 as an integer)."""
    task_id = (await cbk.task.create({"maxIterations": 10, "sessionDuration": 60000, "maxTime": 900000})).id
    task = await cbk.task.fetch(task_id)
    assert isinstance(task.max_iterations, float)
    copy_id = (
        await cbk.task.create(
            {
                "maxIterations": task.max_iterations,
                "sessionDuration": task.session_duration,
                "maxTime": task.max_time,
            }
        )
    ).id
    copy = await cbk.task.fetch(copy_id)
    assert (copy.max_iterations, copy.session_duration, copy.max_time) == (10, 60000, 900000)
