"""Token budgets on SQLite and PostgreSQL with an injected clock: usage counted per local day when runs end,
the run stopped at its next model request, slots skipped with reason ``budget``, triggers refused (429),
periods across DST changes, the account-wide daily cap, and the ``budget.exhausted`` notice (once)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from agentcron.clock import FakeClock
from agentcron.config import Settings
from agentcron.domain import ExecStatus, Finished, Outcome
from agentcron.engine.agent import AgentRunner
from agentcron.errors import ApiError
from agentcron.store.base import Store
from agentcron.store.resources import json_in
from tests.runs_helpers import (
    cancel,
    conversation_messages,
    executions,
    make_bot,
    make_scheduler,
    make_task,
    make_worker,
    ms,
    queue_trigger,
    running_executions,
)

pytestmark = pytest.mark.anyio
TOOLS = [{"type": "time", "name": f"t{i}"} for i in range(3)]


async def _task(store: Store, acc: str, now: int, tz: str | None, budget: dict[str, Any] | None, **cols: Any) -> str:
    bot = await make_bot(store, acc, now, TOOLS)
    return await make_task(
        store, acc, now, cols.pop("schedule", "hourly"), tz, bot_id=bot, token_budget=json_in(budget), **cols
    )


async def _run_queued(store: Store, clock: FakeClock) -> None:
    """Claim what is queued and run it with the agent runner (offline test model) to its recorded end."""
    worker = make_worker(store, clock, runner=AgentRunner(Settings()))
    await worker.claim_once(clock.now_ms())
    await worker.drain()


async def _usage(store: Store, owner: str) -> dict[int, int]:
    async with store.db.tx() as tx:
        rows = await tx.fetch("SELECT day, tokens FROM token_usage WHERE owner_id = $1", owner)
    return {int(r["day"]): int(r["tokens"]) for r in rows}


async def _trigger(store: Store, acc: str, tid: str, now: int) -> ApiError | None:
    try:
        await store.tasks.trigger(acc, tid, now, 0, 0)
    except ApiError as e:
        return e
    return None


def _spent(acc: str, tid: str, tokens: int, execution: str = "e") -> Finished:
    return Finished(execution, 1, tid, Outcome.SUCCESS, "", input_tokens=tokens, account_id=acc)


async def _record(store: Store, runs: list[Finished], now: int) -> list[tuple[str, dict[str, Any]]]:
    async with store.transaction() as tx:
        notices = await store.budgets.record(tx, runs, now)
    return [(n.task_id, n.extra or {}) for n in notices]


async def test_a_day_budget_stops_the_run_skips_slots_and_refuses_triggers_until_the_next_local_day(
    store: Store,
) -> None:
    # Berlin's spring-forward day (23 hours long)
    clock = FakeClock(ms("2026-03-29T11:59:00+02:00"))
    acc = await store.accounts.create_account("a", clock.now_ms())
    tid = await _task(store, acc, clock.now_ms(), "Europe/Berlin", {"limit": 1, "period": "day"})
    await queue_trigger(store, tid, clock.now_ms())
    await _run_queued(store, clock)
    (ex,) = await executions(store, acc, tid)
    used = ex["inputTokens"] + ex["outputTokens"]
    sentence = f"Token budget reached: {used} of 1 tokens this day"
    # the first model request ran (nothing used yet), the second was not made
    assert (ex["outcome"], ex["summary"], ex["modelRequests"]) == ("failure", sentence, 1)
    assert used > 0
    kinds = [k for k, _ in await conversation_messages(store, ex["conversationId"])]
    assert kinds == ["user", "activity", "activity"]  # the instruction, the first tool call and its result
    assert await _usage(store, tid) == {20260329: used}
    assert await _usage(store, acc) == {20260329: used}

    error = await _trigger(store, acc, tid, clock.now_ms())
    assert error is not None and (error.status, error.code, error.message) == (429, "LIMITS_REACHED", sentence)
    clock.value = ms("2026-03-29T12:00:00+02:00")
    await make_scheduler(store, clock).run_until_idle(clock.now_ms())
    skipped = (await executions(store, acc, tid))[-1]
    assert (skipped["status"], skipped["reason"], skipped["summary"]) == ("canceled", "budget", f"Skipped: {sentence}")
    wire = [{"id": tid, "timezone": "Europe/Berlin", "tokenBudget": {"limit": 1, "period": "day"}}]
    await store.budgets.task_usage(wire, clock.now_ms())
    assert (wire[0]["tokensUsed"], wire[0]["budgetResetsAt"]) == (used, ms("2026-03-30T00:00:00+02:00"))

    # local midnight (22:00 UTC): a new day, a new budget
    clock.value = ms("2026-03-30T00:00:00+02:00")
    await make_scheduler(store, clock).run_until_idle(clock.now_ms())
    fired = (await executions(store, acc, tid))[-1]
    assert (fired["trigger"], fired["reason"], fired["outcome"]) == ("catchup", None, "pending")  # (13:00-23:00 missed)
    assert await _trigger(store, acc, tid, clock.now_ms()) is None


async def test_usage_and_week_periods_across_new_york_fall_back(store: Store) -> None:
    now = ms("2026-10-30T12:00:00-04:00")  # Friday
    acc = await store.accounts.create_account("a", now)
    tid = await _task(store, acc, now, "America/New_York", {"limit": 100, "period": "week"}, schedule="never")
    assert await _record(store, [_spent(acc, tid, 40, "e1")], now) == []
    # Sunday 1 November 01:30 EST, the second 01:30 (06:30 UTC): still the week of Monday 26 October
    sunday = ms("2026-11-01T01:30:00-05:00")
    (notice,) = await _record(store, [_spent(acc, tid, 30, "e2"), _spent(acc, tid, 30, "e3")], sunday)
    assert notice == (
        tid,
        {"used": 100, "limit": 100, "period": "week", "resetsAt": ms("2026-11-02T00:00:00-05:00"), "scope": "task"},
    )
    assert await _usage(store, tid) == {20261030: 40, 20261101: 60}
    assert await _usage(store, acc) == {20261030: 40, 20261101: 60}  # (UTC days: 06:30 UTC is 1 November)
    # once: more usage in the same week reports nothing again
    assert await _record(store, [_spent(acc, tid, 5, "e4")], sunday + 1000) == []
    error = await _trigger(store, acc, tid, sunday)
    assert error is not None and error.message == "Token budget reached: 105 of 100 tokens this week"
    # 23:59:59 on Sunday (EST) is still that week; Monday 00:00 EST starts a new one
    assert await _trigger(store, acc, tid, ms("2026-11-01T23:59:59-05:00")) is not None
    assert await _trigger(store, acc, tid, ms("2026-11-02T00:00:00-05:00")) is None


async def test_a_month_budget_counts_every_local_day_of_the_month_in_its_zone(store: Store) -> None:
    now = ms("2026-03-01T00:30:00+01:00")  # 23:30 UTC on 28 February: already March in Berlin
    acc = await store.accounts.create_account("a", now)
    tid = await _task(store, acc, now, "Europe/Berlin", {"limit": 50, "period": "month"}, schedule="never")
    await _record(store, [_spent(acc, tid, 20)], now)
    await _record(store, [_spent(acc, tid, 20)], ms("2026-03-31T23:30:00+02:00"))  # after the change
    assert await _usage(store, tid) == {20260301: 20, 20260331: 20}
    wire = [{"id": tid, "timezone": "Europe/Berlin", "tokenBudget": {"limit": 50, "period": "month"}}]
    await store.budgets.task_usage(wire, ms("2026-03-15T12:00:00+01:00"))
    assert (wire[0]["tokensUsed"], wire[0]["budgetResetsAt"]) == (40, ms("2026-04-01T00:00:00+02:00"))
    await store.budgets.task_usage(wire, ms("2026-04-01T00:00:00+02:00"))
    assert wire[0]["tokensUsed"] == 0
    # a task without a budget: null, and no query needed
    plain = [{"id": "x", "timezone": None, "tokenBudget": None}]
    await store.budgets.task_usage(plain, now)
    assert (plain[0]["tokensUsed"], plain[0]["budgetResetsAt"]) == (None, None)


async def test_the_account_cap_covers_every_task_of_the_account_per_utc_day(store: Store) -> None:
    store.budgets.account_cap = 100
    clock = FakeClock(ms("2026-06-01T22:30:00Z"))
    now = clock.now_ms()
    acc = await store.accounts.create_account("a", now)
    other = await store.accounts.create_account("b", now)
    a = await _task(store, acc, now, "Asia/Tokyo", None, schedule="never")  # (already 2 June in Tokyo)
    b = await _task(store, acc, now, None, None)
    c = await _task(store, other, now, None, None, schedule="never")
    assert await _record(store, [_spent(acc, a, 60)], now) == []
    (crossed,) = await _record(store, [_spent(acc, b, 50)], now)
    assert crossed == (
        b,
        {"used": 110, "limit": 100, "period": "day", "resetsAt": ms("2026-06-02T00:00:00Z"), "scope": "account"},
    )
    assert await _usage(store, a) == {20260602: 60}  # the task's own day is Tokyo's
    assert await _usage(store, acc) == {20260601: 110}
    sentence = "Account token budget reached: 110 of 100 tokens this day (UTC)"
    error = await _trigger(store, acc, a, now)
    assert error is not None and (error.status, error.message) == (429, sentence)
    assert await _trigger(store, other, c, now) is None  # another account is not affected
    clock.value = ms("2026-06-01T23:00:00Z")
    await make_scheduler(store, clock).run_until_idle(clock.now_ms())
    skipped = (await executions(store, acc, b))[-1]
    assert (skipped["reason"], skipped["summary"]) == ("budget", f"Skipped: {sentence}")
    # the next UTC day
    assert await _trigger(store, acc, a, ms("2026-06-02T00:00:00Z")) is None


async def test_the_account_cap_stops_a_run_at_its_next_model_request(store: Store) -> None:
    store.budgets.account_cap = 1
    clock = FakeClock(ms("2026-06-01T10:00:00Z"))
    acc = await store.accounts.create_account("a", clock.now_ms())
    tid = await _task(store, acc, clock.now_ms(), None, None, schedule="never")
    await queue_trigger(store, tid, clock.now_ms())
    await _run_queued(store, clock)
    (ex,) = await executions(store, acc, tid)
    used = ex["inputTokens"] + ex["outputTokens"]
    assert (ex["outcome"], ex["modelRequests"]) == ("failure", 1)
    assert ex["summary"] == f"Account token budget reached: {used} of 1 tokens this day (UTC)"


async def test_a_cancelled_run_counts_the_tokens_it_used(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await _task(store, acc, now, None, {"limit": 1000, "period": "day"}, schedule="never")
    (e,) = await running_executions(store, acc, tid, 1, now)
    await cancel(store, tid, now + 1)
    partial = Finished(e, 1, tid, Outcome.FAILURE, "", ExecStatus.CANCELED, 70, 30, 2, account_id=acc)
    assert await store.runs.keep_canceled(partial, now + 2)
    assert await store.runs.keep_canceled(partial, now + 3) is False  # once
    assert await _usage(store, tid) == {20260601: 100}
    assert await _usage(store, acc) == {20260601: 100}


async def test_pruning_keeps_forty_days_of_token_usage(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await _task(store, acc, now, None, None, schedule="never")
    await _record(store, [_spent(acc, tid, 5)], now)
    await _record(store, [_spent(acc, tid, 7)], ms("2026-07-10T10:00:00Z"))
    await store.housekeeping.prune_usage(ms("2026-07-10T10:00:00Z"))  # (40 days before: 31 May)
    assert await _usage(store, tid) == {20260601: 5, 20260710: 7}
    await store.housekeeping.prune_usage(ms("2026-07-12T10:00:00Z"))
    assert await _usage(store, tid) == {20260710: 7}


async def test_the_crossing_writes_one_budget_exhausted_delivery_in_the_outbox(store: Store) -> None:
    now = ms("2026-06-01T10:00:00Z")
    acc = await store.accounts.create_account("a", now)
    tid = await _task(store, acc, now, "Europe/Berlin", {"limit": 50, "period": "day"}, schedule="never")
    hook, _ = await store.webhooks.create(acc, "https://example.com/h", ["budget.exhausted"], None, "", now)
    await _record(store, [_spent(acc, tid, 30, "e1")], now)
    await _record(store, [_spent(acc, tid, 30, "e2")], now + 1)
    await _record(store, [_spent(acc, tid, 30, "e3")], now + 2)  # (past the limit already: no second one)
    async with store.db.tx() as tx:
        rows = await tx.fetch("SELECT event_type, payload FROM webhook_deliveries WHERE webhook_id = $1", hook)
    (row,) = rows
    assert row["event_type"] == "budget.exhausted"
    ref = next(iter(msgspec.json.decode(row["payload"]).values()))
    assert (ref["taskId"], ref["executionId"]) == (tid, "e2")
    resets = ms("2026-06-02T00:00:00+02:00")
    assert ref["extra"] == {"used": 60, "limit": 50, "period": "day", "resetsAt": resets, "scope": "task"}
