"""Webhook notices: the events an account's webhooks may subscribe to, and the one call every change
that reports one makes inside its own transaction (the outbox: a delivery is written, or not at all,
with the change it reports).

``record_notices`` writes one ``webhook_deliveries`` row per matching webhook (same account, the event
type subscribed, the webhook's task or every task). The row holds a reference to what happened (event
type, instant, task, execution, extra data), not the body: the deliverer renders the body from the task
and execution rows when it first claims the delivery, off the path of the change (an execution that
ended is final, so the body shows it as it ended). With no webhook matching it costs one indexed read;
with some, that read and one bulk insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from agentcron import ids
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

#: Key of the reference a delivery's ``payload`` holds until the deliverer renders the body over it.
NOTICE_KEY = "notice"
DELIVERY_COLUMNS = (
    "id",
    "account_id",
    "webhook_id",
    "event_type",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
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


def _subscribed(events: Any) -> frozenset[str]:
    value = msgspec.json.decode(events) if isinstance(events, str | bytes) else events
    return frozenset(value) if isinstance(value, list) else frozenset()


def _reference(n: Notice, now: int) -> str:
    ref = {"type": n.type, "at": now, "taskId": n.task_id, "executionId": n.execution_id, "extra": n.extra}
    return msgspec.json.encode({NOTICE_KEY: ref}).decode()


async def record_notices(tx: Tx, notices: Sequence[Notice], now: int) -> None:
    """Write the deliveries these notices make, in ``tx`` (see the module docstring). Each delivery is due
    at once (``next_attempt_at = now``)."""
    if not notices:
        return
    accounts = tx.sql.list_param(sorted({n.account_id for n in notices}))
    tasks = tx.sql.list_param(sorted({n.task_id for n in notices}))
    # Two index ranges of (account_id, task_id): the webhooks of these tasks, and those of every task. (An
    # account may have a webhook per task: only those of the tasks at hand are read.) Key-share locked, as
    # the deliveries' foreign key would lock them at the insert anyway: a webhook deleted meanwhile is
    # waited for and left out, instead of failing this transaction at the insert.
    hooks = await tx.fetch(
        "SELECT id, account_id, task_id, events FROM webhooks WHERE id IN ("
        f"SELECT id FROM webhooks WHERE {tx.sql.any_of('account_id', 1)} AND {tx.sql.any_of('task_id', 2)} "
        f"UNION ALL SELECT id FROM webhooks WHERE {tx.sql.any_of('account_id', 1)} AND task_id IS NULL)"
        f"{tx.sql.key_share}",
        accounts,
        tasks,
    )
    if not hooks:
        return
    # By (account, task): a task's own webhooks and its account's every-task ones (task None), so each
    # notice looks at the webhooks that may match it only (an account may have one per task: thousands).
    by_owner: dict[tuple[str, str | None], list[tuple[str, frozenset[str]]]] = {}
    for h in hooks:
        by_owner.setdefault((h["account_id"], h["task_id"]), []).append((h["id"], _subscribed(h["events"])))
    none: list[tuple[str, frozenset[str]]] = []
    rows: list[tuple[Any, ...]] = []
    for n in notices:
        matching = [
            hook_id
            for owner in ((n.account_id, n.task_id), (n.account_id, None))
            for hook_id, events in by_owner.get(owner, none)
            if n.type in events
        ]
        if matching:
            payload = _reference(n, now)
            rows += [
                (ids.new_id(now), n.account_id, hook_id, n.type, payload, "pending", 0, now, now, now)
                for hook_id in matching
            ]
    await tx.insert_rows("webhook_deliveries", DELIVERY_COLUMNS, rows)
