"""Webhook notices: the events an account's webhooks may subscribe to, and the one call every change
that reports one makes inside its own transaction (the outbox: a delivery is written, or not at all,
with the change it reports).

``record_notices`` writes one ``webhook_deliveries`` row per matching webhook (same account, the event
type subscribed, the webhook's task or every task), with the body rendered now from the same wire
objects the API returns. With no webhook matching it costs one indexed read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentcron.store.db import Tx

EXECUTION_SUCCEEDED = "execution.succeeded"
#: once per slot, after its last attempt
EXECUTION_FAILED = "execution.failed"
EXECUTION_CANCELED = "execution.canceled"
SLOT_SKIPPED = "slot.skipped"
TASK_PAUSED = "task.paused"
TASK_RESUMED = "task.resumed"
BUDGET_EXHAUSTED = "budget.exhausted"

EVENT_TYPES = (
    EXECUTION_SUCCEEDED,
    EXECUTION_FAILED,
    EXECUTION_CANCELED,
    SLOT_SKIPPED,
    TASK_PAUSED,
    TASK_RESUMED,
    BUDGET_EXHAUSTED,
)


@dataclass(slots=True)
class Notice:
    """One event to report: its type, whose it is, and the execution it concerns (if any). ``extra``
    is merged into the body's ``data`` (``{"reason": ...}`` for a skipped slot or a pause)."""

    type: str
    account_id: str
    task_id: str
    execution_id: str | None = None
    extra: dict[str, Any] | None = None


async def record_notices(tx: Tx, notices: Sequence[Notice], now: int) -> None:
    """Write the deliveries these notices make, in ``tx`` (see the module docstring)."""
    # The webhook store (agentcron.store.webhooks) provides the outbox; until then nothing subscribes.
    return None
