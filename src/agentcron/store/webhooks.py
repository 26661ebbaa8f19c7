"""Webhooks and their delivery outbox: the endpoints an account registers, and the deliveries the
deliverer claims, sends and records.

A delivery is claimed under a lease: the claim counts the attempt (``attempts + 1``) and pushes
``next_attempt_at`` to the lease's end, so a process that dies mid-delivery lets it become due again.
Completion is fenced on ``(id, attempts, status = 'pending')``: an attempt whose lease lapsed and was
claimed again elsewhere writes nothing. Where writers are concurrent (PostgreSQL), claims skip rows another
claim holds. The body is rendered from the task and execution rows in the transaction of the first claim
and kept (`payload`): every retry sends, and signs, the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from agentcron import ids
from agentcron.errors import not_found
from agentcron.store.budgets import task_usage_in
from agentcron.store.db import Database, Row, Tx
from agentcron.store.notices import NOTICE_KEY
from agentcron.store.resources import EXECUTION, TASK, Field, Resource
from agentcron.store.rows import chunks

WEBHOOK = Resource(
    "webhook",
    "webhooks",
    (
        Field("id", "id"),
        Field("url", "url"),
        Field("events", "events", "json"),
        Field("taskId", "task_id"),
        Field("description", "description", "text"),
        Field("createdAt", "created_at"),
        Field("updatedAt", "updated_at"),
    ),
)

DELIVERY = Resource(
    "delivery",
    "webhook_deliveries",
    (
        Field("id", "id"),
        Field("webhookId", "webhook_id"),
        Field("eventType", "event_type"),
        #: pending | delivered | failed (gave up)
        Field("status", "status"),
        Field("attempts", "attempts"),
        Field("statusCode", "last_status_code"),
        Field("lastError", "last_error"),
        Field("nextAttemptAt", "next_attempt_at"),
        Field("deliveredAt", "delivered_at"),
        Field("createdAt", "created_at"),
        Field("updatedAt", "updated_at"),
    ),
    parent="webhook_id",
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
_DUE = "SELECT 1 AS one FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1"


@dataclass(slots=True)
class Delivery:
    """A claimed delivery: what to send where, and the attempt that fences its completion."""

    id: str
    webhook_id: str
    account_id: str
    event_type: str
    url: str
    secret: str
    body: bytes
    #: this attempt's number (1 for the first)
    attempt: int
    created_at: int


@dataclass(slots=True)
class Attempt:
    """The result of sending a delivery: the new status (pending: retry at ``next_attempt_at``)."""

    delivery: Delivery
    status: str
    status_code: int | None
    error: str | None
    next_attempt_at: int | None
    duration_ms: int = 0


def iso(ms: int) -> str:
    """An instant as ISO 8601 in UTC with milliseconds (``2026-12-04T13:46:48.123Z``)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes."""
    import base64
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookStore:
    """Webhook writes (the API's) and the outbox (the deliverer's), over one `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the API's -------------------------------------------------------------------------------------

    async def _check_task(self, tx: Tx, account_id: str, task_id: str | None) -> None:
        if task_id is None:
            return
        row = (
            None
            if "\x00" in task_id
            else await tx.fetchrow(
                "SELECT 1 AS one FROM tasks WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
                task_id,
                account_id,
            )
        )
        if row is None:
            raise not_found("Task not found")

    async def create(
        self, account_id: str, url: str, events: Sequence[str], task_id: str | None, description: str, now: int
    ) -> tuple[str, str]:
        """Register a webhook; returns ``(id, secret)``. Raises `ApiError` 404 when ``task_id`` is not a task
        of this account."""
        new_id, secret = ids.new_id(now), new_secret()
        async with self.db.tx(write=True) as tx:
            await self._check_task(tx, account_id, task_id)
            await tx.execute(
                "INSERT INTO webhooks (id, account_id, url, events, task_id, description, secret, created_at, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                new_id,
                account_id,
                url,
                msgspec.json.encode(list(events)).decode(),
                task_id,
                description,
                secret,
                now,
            )
        return new_id, secret

    async def get(self, account_id: str, webhook_id: str) -> dict[str, Any] | None:
        """The webhook as wire fields (never its secret), or None when this account has none by that id."""
        if "\x00" in webhook_id:
            return None
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                f"SELECT {WEBHOOK.columns_sql} FROM webhooks WHERE id = $1 AND account_id = $2", webhook_id, account_id
            )
        return None if row is None else WEBHOOK.to_wire(row)

    async def update(self, account_id: str, webhook_id: str, changes: dict[str, Any], now: int) -> bool:
        """Set ``changes`` (wire field -> value: ``url``, ``events``, ``taskId``, ``description``); False
        when this account has no such webhook. Raises `ApiError` 404 for a ``taskId`` not of this account."""
        if "\x00" in webhook_id:
            return False
        columns: dict[str, Any] = {"updated_at": now}
        for wire, value in changes.items():
            column = WEBHOOK.column_for(wire)
            columns[column] = msgspec.json.encode(list(value)).decode() if wire == "events" else value
        async with self.db.tx(write=True) as tx:
            if "taskId" in changes:
                await self._check_task(tx, account_id, changes["taskId"])
            sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=3))
            return (
                await tx.execute(
                    f"UPDATE webhooks SET {sets} WHERE id = $1 AND account_id = $2",
                    webhook_id,
                    account_id,
                    *columns.values(),
                )
                > 0
            )

    async def delete(self, account_id: str, webhook_id: str) -> bool:
        """Delete the webhook with its deliveries (pending ones are never sent); False when there is none."""
        if "\x00" in webhook_id:
            return False
        async with self.db.tx(write=True) as tx:
            await tx.execute(
                "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND account_id = $2", webhook_id, account_id
            )
            deleted = await tx.execute("DELETE FROM webhooks WHERE id = $1 AND account_id = $2", webhook_id, account_id)
            return deleted > 0

    # -- the deliverer's -------------------------------------------------------------------------------

    async def claim(self, now: int, lease_ms: int, limit: int) -> list[Delivery]:
        """Claim up to ``limit`` due deliveries (oldest due first) for ``lease_ms``, rendering the bodies of
        first attempts (see the module docstring)."""
        if limit <= 0:
            return []
        async with self.db.tx() as tx:  # (a read first: most wake-ups find nothing due, and need no write)
            if await tx.fetchrow(_DUE, now) is None:
                return []
        async with self.db.tx(write=True) as tx:
            due = await tx.fetch(
                "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 "
                f"ORDER BY next_attempt_at LIMIT $2{tx.sql.skip_locked}",
                now,
                limit,
            )
            if not due:
                return []
            rows = await tx.fetch(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1, lease_until = $1, "
                f"updated_at = $2 WHERE {tx.sql.any_of('id', 3)} AND status = 'pending' "
                "RETURNING id, webhook_id, account_id, event_type, payload, attempts, created_at",
                now + lease_ms,
                now,
                tx.sql.list_param([r["id"] for r in due]),
            )
            hooks = {
                h["id"]: h
                for h in await tx.fetch(
                    f"SELECT id, url, secret FROM webhooks WHERE {tx.sql.any_of('id', 1)}",
                    tx.sql.list_param(sorted({r["webhook_id"] for r in rows})),
                )
            }
            bodies = await _render(tx, rows, now)
            return [
                Delivery(
                    r["id"],
                    r["webhook_id"],
                    r["account_id"],
                    r["event_type"],
                    hooks[r["webhook_id"]]["url"],
                    hooks[r["webhook_id"]]["secret"],
                    bodies[r["id"]],
                    int(r["attempts"]),
                    int(r["created_at"]),
                )
                for r in rows
                if r["webhook_id"] in hooks
            ]

    async def complete(self, attempts: Sequence[Attempt], now: int) -> list[Attempt]:
        """Record sent attempts (one transaction), fenced on ``(id, attempt, pending)``; returns those
        recorded (an attempt whose lease lapsed and was claimed again is dropped)."""
        recorded: list[Attempt] = []
        if not attempts:
            return recorded
        by_id = {a.delivery.id: a for a in attempts}
        async with self.db.tx(write=True) as tx:
            for chunk in chunks(attempts):
                cte, args = tx.sql.values(
                    "v",
                    [
                        ("id", "text"),
                        ("attempt", "int4"),
                        ("status", "text"),
                        ("code", "int4"),
                        ("err", "text"),
                        ("nxt", "int8"),
                        ("delivered", "int8"),
                    ],
                    [
                        (
                            a.delivery.id,
                            a.delivery.attempt,
                            a.status,
                            a.status_code,
                            None if a.error is None else a.error.replace("\x00", "")[:1000],
                            a.next_attempt_at,
                            now if a.status == DELIVERED else None,
                        )
                        for a in chunk
                    ],
                    first=2,
                )
                rows = await tx.fetch(
                    f"WITH {cte} UPDATE webhook_deliveries SET status = v.status, last_status_code = v.code, "
                    "last_error = v.err, next_attempt_at = v.nxt, delivered_at = v.delivered, lease_until = NULL, "
                    "updated_at = $1 FROM v WHERE webhook_deliveries.id = v.id "
                    "AND webhook_deliveries.attempts = v.attempt AND webhook_deliveries.status = 'pending' "
                    "RETURNING webhook_deliveries.id",
                    now,
                    *args,
                )
                recorded += [by_id[r["id"]] for r in rows]
        return recorded

    async def prune(self, older_than: int, batch: int = 1000) -> int:
        """Delete up to ``batch`` delivered or failed deliveries created before ``older_than``; returns how
        many. (Ids begin with their creation instant: the primary key orders them by age.)"""
        async with self.db.tx(write=True) as tx:
            return await tx.execute(
                "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries "
                "WHERE id < $1 AND status <> 'pending' ORDER BY id LIMIT $2)",
                ids.id_floor(older_than),
                batch,
            )

    async def next_due_at(self) -> int | None:
        """When the earliest pending delivery is due, or None."""
        async with self.db.tx() as tx:
            row = await tx.fetchrow(
                "SELECT next_attempt_at FROM webhook_deliveries WHERE status = 'pending' "
                "ORDER BY next_attempt_at LIMIT 1"
            )
        return None if row is None else int(row["next_attempt_at"])


async def _render(tx: Tx, rows: Sequence[Row], now: int) -> dict[str, bytes]:
    """delivery id -> its body: kept as it is when rendered before, else rendered from the reference it
    holds (task and execution as the API shows them now) and written over it."""
    out: dict[str, bytes] = {}
    refs: dict[str, dict[str, Any]] = {}
    for r in rows:
        payload = r["payload"]
        value = msgspec.json.decode(payload)
        if isinstance(value, dict) and NOTICE_KEY in value:
            refs[r["id"]] = value[NOTICE_KEY]
        else:
            out[r["id"]] = payload.encode() if isinstance(payload, str) else bytes(payload)
    if not refs:
        return out
    task_ids = sorted({ref["taskId"] for ref in refs.values()})
    exec_ids = sorted({ref["executionId"] for ref in refs.values() if ref.get("executionId")})
    tasks = {
        t["id"]: TASK.to_wire(t)
        for t in await tx.fetch(f"SELECT * FROM tasks WHERE {tx.sql.any_of('id', 1)}", tx.sql.list_param(task_ids))
    }
    await task_usage_in(tx, list(tasks.values()), now)  # (the computed fields, as the API shows them)
    executions = (
        {
            e["id"]: EXECUTION.to_wire(e)
            for e in await tx.fetch(
                f"SELECT * FROM task_executions WHERE {tx.sql.any_of('id', 1)}", tx.sql.list_param(exec_ids)
            )
        }
        if exec_ids
        else {}
    )
    rendered: list[tuple[str, str]] = []
    for delivery_id, ref in refs.items():
        exec_id = ref.get("executionId")
        data: dict[str, Any] = {
            # (a task or execution deleted before the first attempt: only its id)
            "task": tasks.get(ref["taskId"]) or {"id": ref["taskId"]},
            "execution": None if not exec_id else executions.get(exec_id) or {"id": exec_id},
        }
        data.update(ref.get("extra") or {})
        body = msgspec.json.encode({"type": ref["type"], "timestamp": iso(int(ref["at"])), "data": data})
        out[delivery_id] = body
        rendered.append((body.decode(), delivery_id))
    await tx.executemany("UPDATE webhook_deliveries SET payload = $1 WHERE id = $2", rendered)
    return out
