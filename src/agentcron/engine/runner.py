"""The runner contract and the built-in basic runner.

A `Runner` turns a claimed execution into a `RunResult`. It must be cancellable at any await point
(cancel and time limits arrive as `asyncio.CancelledError`), and must not write the execution's outcome
itself: the worker records it, fenced on the lease. As a cancellation passes through it, a runner should
leave what the run did so far in ``job.partial`` (messages, tokens): a run ended by its time limit is
recorded with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import msgspec

from agentcron.store.runs import Claimed


@dataclass(slots=True)
class RunResult:
    outcome: str  # success | failure
    summary: str
    messages: list[tuple[str, str]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    model_requests: int = 0


#: emit(type, data): publish a workflow event of this execution (``operationBegin``, ``operationEnd``,
#: ``error``) to the task's subscribers; persisted for replay.
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class Runner(Protocol):
    async def run(self, job: Claimed, emit: Emit) -> RunResult: ...


def instruction_of(task: dict[str, Any]) -> str:
    """The task's instruction to its bot: its name, then its description."""
    name, description = task.get("name") or "", task.get("description") or ""
    return f"{name}\n\n{description}".strip() or "(the task has no name or description)"


def abilities_of(bot: dict[str, Any] | None) -> list[dict[str, Any]]:
    raw = None if bot is None else bot.get("abilities")
    if raw is None:
        return []
    value = msgspec.json.decode(raw) if isinstance(raw, str | bytes) else raw
    return list(value) if isinstance(value, list) else []


class BasicRunner:
    """Deterministic, offline runner: performs each ``wait`` ability (cancellable sleep) and ``time``
    ability of the bot, then reports success. Stands in until a model-backed runtime is configured."""

    async def run(self, job: Claimed, emit: Emit) -> RunResult:
        if job.bot is None:
            await emit("error", {"code": "NO_BOT", "message": "The task has no bot: set botId to run it."})
            return RunResult("failure", "The task has no bot: set botId to run it.")
        instruction = instruction_of(job.task)
        notes: list[str] = []
        try:
            for i, ability in enumerate(abilities_of(job.bot)):
                config = ability.get("config") or {}
                kind = str(ability.get("type"))
                op = {
                    "id": f"{job.execution_id}-{i}",
                    "action": {
                        "id": f"ability-{i}",
                        "kind": "function",
                        "name": ability.get("name") or kind,
                        "input": config,
                    },
                }
                await emit("operationBegin", op)
                if kind == "wait":
                    seconds = float(config.get("seconds", 1))
                    await asyncio.sleep(max(0.0, seconds))
                    notes.append(f"waited {seconds:g} s")
                elif kind == "time":
                    tz = ZoneInfo(str(config.get("timezone") or "UTC"))
                    notes.append(f"time is {datetime.now(UTC).astimezone(tz).isoformat(timespec='seconds')}")
                await emit("operationEnd", {**op, "result": notes[-1] if notes else None})
        except asyncio.CancelledError:  # cancelled, or its time limit: leave what it did so far
            job.partial = RunResult("failure", "", [("user", instruction), *(("activity", n) for n in notes)])
            raise
        summary = f"Completed task '{job.task.get('name') or job.task['id']}'" + (
            f" ({'; '.join(notes)})" if notes else ""
        )
        return RunResult("success", summary, [("user", instruction), ("bot", summary)])
