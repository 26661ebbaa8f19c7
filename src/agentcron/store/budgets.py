"""Token budgets: the tokens (input + output) tasks and accounts used per day, what is left of their
budgets, and the ``budget.exhausted`` notice when a run's tokens reach one.

- Usage is counted in ``token_usage`` per owner and local date (``YYYYMMDD``): a task's in its timezone,
  an account's in UTC. It is added when a run's outcome is recorded (`record`, in that transaction), and
  for a cancelled run when what it did is kept.
- A task's ``tokenBudget`` (``{"limit", "period"}``) covers the day, ISO week or month holding now in its
  timezone (`agentcron.budget_periods`); the account-wide cap (``account_cap`` tokens per UTC day, 0: off)
  covers every task of the account.
- `allowances` turns both into `Allowance` values a run carries (read when it is claimed or dispatched, and
  when a slot fires or a trigger comes): a budget whose usage reached its limit skips slots, refuses
  triggers, and stops a run at its next model request. Runs in flight at once each see the usage as of
  their start, so together they may overshoot a budget by what they use before one of them finishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from agentcron.budget_periods import PERIODS, Period, bounds, day_key, local_date, period_days
from agentcron.domain import Allowance, Finished, TaskConfig, TokenBudget
from agentcron.store.db import Database, Tx
from agentcron.store.notices import BUDGET_EXHAUSTED, Notice, record_notices

TASK_SCOPE = "task"
ACCOUNT_SCOPE = "account"
_UPSERT = " ON CONFLICT (owner_id, day) DO UPDATE SET tokens = token_usage.tokens + excluded.tokens"
_COLUMNS = [("owner_id", "text"), ("day", "int4"), ("tokens", "int8")]


def parse_budget(raw: Any) -> TokenBudget | None:
    """A ``token_budget`` column (JSON text, or decoded by the driver) as a `TokenBudget`; anything that is
    not a valid budget (written by hand, or by a newer version) reads as none."""
    if raw is None:
        return None
    try:
        value = msgspec.json.decode(raw) if isinstance(raw, str | bytes) else raw
    except msgspec.DecodeError:
        return None
    if not isinstance(value, dict):
        return None
    limit, period = value.get("limit"), value.get("period")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 and period in PERIODS:
        return TokenBudget(limit, period)
    return None


@dataclass(slots=True)
class _Span:
    """One budget's period: whose usage, which dates (inclusive ``YYYYMMDD``), when it resets."""

    owner: str
    first: int
    last: int
    resets_at: int


def _task_span(task_id: str, tz: str | None, budget: TokenBudget, now: int) -> _Span:
    period: Period = budget.period  # type: ignore[assignment]  # (checked by parse_budget)
    first, last = period_days(now, tz, period)
    return _Span(task_id, first, last, bounds(now, tz, period)[1])


def _account_span(account_id: str, now: int) -> _Span:
    first, last = period_days(now, None, "day")
    return _Span(account_id, first, last, bounds(now, None, "day")[1])


async def _used(tx: Tx, spans: Sequence[_Span]) -> list[int]:
    """The tokens each span's owner used in its dates: one statement for all."""
    if not spans:
        return []
    rows = await tx.fetch(
        f"SELECT owner_id, day, tokens FROM token_usage WHERE {tx.sql.any_of('owner_id', 1)} "
        "AND day >= $2 AND day <= $3",
        tx.sql.list_param(sorted({s.owner for s in spans})),
        min(s.first for s in spans),
        max(s.last for s in spans),
    )
    by_owner: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        by_owner.setdefault(r["owner_id"], []).append((int(r["day"]), int(r["tokens"])))
    return [sum(n for d, n in by_owner.get(s.owner, ()) if s.first <= d <= s.last) for s in spans]


class TokenBudgets:
    """Token usage and budgets over one `Database`; ``account_cap``: tokens per account per UTC day (0: no
    cap), set by the composition root from ``AGENTCRON_ACCOUNT_TOKENS_PER_DAY``."""

    def __init__(self, db: Database, account_cap: int = 0) -> None:
        self.db = db
        self.account_cap = account_cap

    async def allowances(self, tx: Tx, tasks: Iterable[TaskConfig], now: int) -> dict[str, tuple[Allowance, ...]]:
        """task id -> the budgets its runs count against as of ``now`` (its own, the account's), with the
        usage so far; tasks without any are left out. No statement when no task has a budget and the
        account cap is off."""
        cap = self.account_cap
        owned = [t for t in tasks if t.token_budget is not None or cap > 0]
        if not owned:
            return {}
        spans: list[_Span] = []
        keys: list[tuple[str, str, TokenBudget | None]] = []  # (task id, scope, budget) per span
        accounts: set[str] = set()
        for t in owned:
            if t.token_budget is not None:
                spans.append(_task_span(t.id, t.timezone, t.token_budget, now))
                keys.append((t.id, TASK_SCOPE, t.token_budget))
            if cap > 0 and t.account_id not in accounts:
                accounts.add(t.account_id)
                spans.append(_account_span(t.account_id, now))
                keys.append((t.account_id, ACCOUNT_SCOPE, None))
        used = await _used(tx, spans)
        task_allowance: dict[str, Allowance] = {}
        account_allowance: dict[str, Allowance] = {}
        for (owner, scope, budget), span, n in zip(keys, spans, used, strict=True):
            if budget is not None:
                task_allowance[owner] = Allowance(scope, budget.limit, budget.period, n, span.resets_at)
            else:
                account_allowance[owner] = Allowance(scope, cap, "day", n, span.resets_at)
        out: dict[str, tuple[Allowance, ...]] = {}
        for t in owned:
            mine = [a for a in (task_allowance.get(t.id), account_allowance.get(t.account_id)) if a is not None]
            out[t.id] = tuple(mine)
        return out

    async def record(self, tx: Tx, finished: Sequence[Finished], now: int) -> list[Notice]:
        """Add the tokens of runs that ended at ``now`` to their tasks' and accounts' usage (in the caller's
        transaction, which records the runs), and record a ``budget.exhausted`` notice for each budget
        these runs made reach its limit (once: only the run that crosses it reports it); returns those."""
        spent = [f for f in finished if f.input_tokens + f.output_tokens > 0]
        if not spent:
            return []
        task_ids = sorted({f.task_id for f in spent})
        tasks = {
            r["id"]: r
            for r in await tx.fetch(
                f"SELECT id, timezone, token_budget FROM tasks WHERE {tx.sql.any_of('id', 1)}",
                tx.sql.list_param(task_ids),
            )
        }
        adds: dict[tuple[str, int], int] = {}
        utc_day = day_key(local_date(now, None))
        for f in spent:
            tokens = f.input_tokens + f.output_tokens
            row = tasks.get(f.task_id)
            if row is not None:
                key = (f.task_id, day_key(local_date(now, row["timezone"])))
                adds[key] = adds.get(key, 0) + tokens
            adds[(f.account_id, utc_day)] = adds.get((f.account_id, utc_day), 0) + tokens
        # (in key order: concurrent batches lock the same rows in the same order)
        await tx.insert_many("token_usage", _COLUMNS, [(o, d, n) for (o, d), n in sorted(adds.items())], _UPSERT)
        notices = await self._crossed(tx, spent, tasks, now)
        if notices:
            await record_notices(tx, notices, now)
        return notices

    async def _crossed(self, tx: Tx, spent: Sequence[Finished], tasks: dict[str, Any], now: int) -> list[Notice]:
        """Notices for the budgets whose usage went from below their limit to at least it with ``spent``."""
        last: dict[str, Finished] = {}  # the run that reports a crossing: the task's (or account's) last
        added: dict[str, int] = {}
        for f in spent:
            for owner in (f.task_id, f.account_id):
                added[owner] = added.get(owner, 0) + f.input_tokens + f.output_tokens
                last[owner] = f
        spans: list[_Span] = []
        meta: list[tuple[str, int, str]] = []  # (scope, limit, period)
        for task_id, row in tasks.items():
            budget = parse_budget(row["token_budget"])
            if budget is not None:
                spans.append(_task_span(task_id, row["timezone"], budget, now))
                meta.append((TASK_SCOPE, budget.limit, budget.period))
        if self.account_cap > 0:
            for account_id in sorted({f.account_id for f in spent}):
                spans.append(_account_span(account_id, now))
                meta.append((ACCOUNT_SCOPE, self.account_cap, "day"))
        notices: list[Notice] = []
        for span, (scope, limit, period), after in zip(spans, meta, await _used(tx, spans), strict=True):
            if after - added[span.owner] < limit <= after:
                f = last[span.owner]
                extra = {"used": after, "limit": limit, "period": period, "resetsAt": span.resets_at, "scope": scope}
                notices.append(Notice(BUDGET_EXHAUSTED, f.account_id, f.task_id, f.execution_id, extra))
        return notices

    async def task_usage(self, tasks: Sequence[dict[str, Any]], now: int) -> None:
        """Set ``tokensUsed`` (this period) and ``budgetResetsAt`` on wire tasks (``id``, ``timezone``,
        ``tokenBudget``): null for a task without a budget. One statement per call (a page), none when no
        task of it has a budget."""
        if any(parse_budget(t.get("tokenBudget")) is not None for t in tasks):
            async with self.db.tx() as tx:
                await task_usage_in(tx, tasks, now)
        else:
            for t in tasks:
                t["tokensUsed"] = t["budgetResetsAt"] = None


async def task_usage_in(tx: Tx, tasks: Sequence[dict[str, Any]], now: int) -> None:
    """`TokenBudgets.task_usage` in the caller's transaction."""
    spans: list[_Span] = []
    with_budget: list[dict[str, Any]] = []
    for t in tasks:
        budget = parse_budget(t.get("tokenBudget"))
        t["tokensUsed"] = t["budgetResetsAt"] = None
        if budget is not None:
            spans.append(_task_span(t["id"], t.get("timezone"), budget, now))
            with_budget.append(t)
    if not spans:
        return
    used = await _used(tx, spans)
    for t, span, n in zip(with_budget, spans, used, strict=True):
        t["tokensUsed"], t["budgetResetsAt"] = n, span.resets_at
