"""Helpers for engine tests: a `Job` to run and an ``emit`` that records events."""

from __future__ import annotations

from typing import Any

from agentcron.config import Settings
from agentcron.domain import BotConfig, Job, RunResult, TaskConfig
from agentcron.engine.agent import AgentRunner

#: Abilities may reach the local test servers.
LOCAL = Settings(http_allow=("127.0.0.1",))


class Events(list[tuple[str, dict[str, Any]]]):
    """An ``emit`` that keeps every event it is given."""

    async def __call__(self, type_: str, data: dict[str, Any]) -> None:
        self.append((type_, data))

    def named(self, kind: str) -> list[str]:
        return [d["action"]["name"] for t, d in self if t == kind]


def task(**fields: Any) -> TaskConfig:
    """Task ``task1`` "Digest" of account ``acc1``, with ``fields`` changed."""
    return TaskConfig(
        **{"id": "task1", "account_id": "acc1", "name": "Digest", "description": "Summarise the day.", **fields}
    )


def job(abilities: list[dict[str, Any]] | None = None, model: str = "test", **task_fields: Any) -> Job:
    """Execution ``exec1`` of `task` (with ``task_fields``), its bot having ``abilities`` and ``model``
    (empty: the server's default)."""
    bot = BotConfig("bot1", model=model, backstory="You are a careful assistant.", abilities=tuple(abilities or ()))
    return Job("exec1", 1, "acc1", "conv1", task(**task_fields), bot)


def no_bot_job() -> Job:
    return Job("e", 1, "a", "c", TaskConfig(id="t", account_id="a", name="x", description=""), None)


async def run(j: Job, settings: Settings = LOCAL) -> tuple[RunResult, Events]:
    """Run ``j`` with the `AgentRunner` to its end."""
    events = Events()
    result = await AgentRunner(settings).run(j, events)
    return result, events
