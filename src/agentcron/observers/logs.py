"""Log lines for what an operator must hear about: runs that failed, slots skipped, runs reaped or
handed back. Per batch, one line per run (a failure storm is as loud as it is large: that is the point)."""

from __future__ import annotations

import logging

from agentcron.domain import Outcome
from agentcron.signals import ExecutionsFinished, RunsHandedBack, RunsReaped, Signals, SlotsSkipped

log = logging.getLogger("agentcron.runs")


def _finished(sig: ExecutionsFinished) -> None:
    for run in sig.runs:
        r = run.result
        if r.outcome == Outcome.FAILURE:
            log.warning(
                "execution %s of task %s failed after %d ms: %s", r.execution_id, r.task_id, run.duration_ms, r.summary
            )


def _skipped(sig: SlotsSkipped) -> None:
    for run in sig.runs:
        log.info("task %s: slot %s skipped (%s): %s", run.task.id, run.scheduled_for, run.reason, run.summary)


def _reaped(sig: RunsReaped) -> None:
    log.warning("%d execution(s) ended as failures: their worker was lost", len(sig.execution_ids))


def _handed_back(sig: RunsHandedBack) -> None:
    log.info("%d running execution(s) handed back to the queue at shutdown", len(sig.execution_ids))


def connect(signals: Signals) -> None:
    signals.connect(ExecutionsFinished, _finished)
    signals.connect(SlotsSkipped, _skipped)
    signals.connect(RunsReaped, _reaped)
    signals.connect(RunsHandedBack, _handed_back)
