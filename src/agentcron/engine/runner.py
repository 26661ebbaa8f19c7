"""The runner contract: what the worker asks of whatever runs a bot.

A `Runner` turns one claimed execution (`agentcron.domain.Job`) into a `agentcron.domain.RunResult`:

- It is cancellable at every await: a cancel, the run's time limit and a shutdown all arrive as
  `asyncio.CancelledError`, and the run stops there.
- It never writes the execution's outcome: it returns the result, and the worker records it, fenced on
  the lease.
- When a run is interrupted, it raises `agentcron.domain.RunInterrupted` (a `CancelledError`) from the
  cancellation, carrying what the run did so far (conversation, token usage): a run ended by its time
  limit is recorded with it, a cancelled one keeps its conversation. A cancellation that arrives before
  the run did anything (before its task first ran, or while a runner sets up or reports a config error)
  may pass through as a plain `CancelledError`: callers handle both.
- It reports progress through ``emit`` (`Emit`) as it goes.

`agentcron.engine.agent.AgentRunner` is the runner the server uses; `agentcron.engine.basic.BasicRunner`
is a deterministic offline one for tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agentcron.domain import Job, RunResult

#: emit(type, data): publish a workflow event of this execution (``operationBegin``, ``operationEnd``,
#: ``error``) to the task's subscribers; persisted for replay.
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class Runner(Protocol):
    async def run(self, job: Job, emit: Emit) -> RunResult: ...
