"""A deterministic, offline `Runner` for tests and benchmarks (never a production default): it performs
the bot's ``wait`` (a cancellable sleep of ``config.seconds``, default 1) and ``time`` abilities in order,
without a model, then reports success.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agentcron.domain import Job, Outcome, RunInterrupted, RunResult
from agentcron.engine.runner import Emit

NO_BOT = "The task has no bot: set botId to run it."


class BasicRunner:
    """Performs each ``wait`` and ``time`` ability of the bot, emitting an operation per ability (other
    abilities are announced and skipped), then succeeds with a summary of what it did."""

    async def run(self, job: Job, emit: Emit) -> RunResult:
        if job.bot is None:
            await emit("error", {"code": "NO_BOT", "message": NO_BOT})
            return RunResult(Outcome.FAILURE, NO_BOT)
        instruction = job.instruction
        notes: list[str] = []
        try:
            for i, ability in enumerate(job.bot.abilities):
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
        except asyncio.CancelledError as e:
            done = [("user", instruction), *(("activity", n) for n in notes)]
            raise RunInterrupted(RunResult(Outcome.FAILURE, "", done)) from e
        summary = f"Completed task '{job.task.label}'" + (f" ({'; '.join(notes)})" if notes else "")
        return RunResult(Outcome.SUCCESS, summary, [("user", instruction), ("bot", summary)])
