"""The runs this process's worker started and has not seen end, by execution id: what the ending signals
do not carry (the trigger, the slot) for the observers that report them.

`connect` it after the observers that read it: its own handlers of the ending signals forget the runs,
and handlers run in the order they were connected. A run can also end without a signal here (its lease
was lost, and another process reaped or cancelled it): the book keeps at most `limit` runs and forgets
the oldest beyond that, so such runs cannot make it grow without bound.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentcron.domain import Job
from agentcron.signals import (
    ExecutionsCanceled,
    ExecutionsFinished,
    ExecutionsStarted,
    RunsHandedBack,
    RunsReaped,
    Signals,
)

UNKNOWN = "unknown"


class RunBook:
    __slots__ = ("runs", "limit")

    def __init__(self, limit: int = 100_000) -> None:
        self.runs: dict[str, Job] = {}
        self.limit = limit

    def trigger(self, execution_id: str) -> str:
        """The run's trigger (``schedule``, ``trigger``, ``catchup``, ``backfill``), or ``unknown`` for a run
        this process did not start."""
        job = self.runs.get(execution_id)
        return UNKNOWN if job is None else str(job.kind)

    def started(self, sig: ExecutionsStarted) -> None:
        runs = self.runs
        for job in sig.jobs:
            runs[job.execution_id] = job
        excess = len(runs) - self.limit
        if excess > 0:
            for execution_id in list(runs)[:excess]:  # dicts keep insertion order: the oldest first
                del runs[execution_id]

    def forget(self, execution_ids: Iterable[str]) -> None:
        pop = self.runs.pop
        for execution_id in execution_ids:
            pop(execution_id, None)

    def _finished(self, sig: ExecutionsFinished) -> None:
        pop = self.runs.pop
        for run in sig.runs:
            pop(run.result.execution_id, None)

    def connect(self, signals: Signals) -> None:
        signals.connect(ExecutionsStarted, self.started)
        signals.connect(ExecutionsFinished, self._finished)
        signals.connect(ExecutionsCanceled, lambda sig: self.forget(sig.execution_ids))
        signals.connect(RunsReaped, lambda sig: self.forget(sig.execution_ids))
        signals.connect(RunsHandedBack, lambda sig: self.forget(sig.execution_ids))
