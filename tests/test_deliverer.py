"""The webhook deliverer (agentcron.deliverer) against a fake receiver over real HTTP on loopback, on both
backends with an injected clock: signatures that verify with the standardwebhooks library, retries on the
doubling schedule, timeouts, giving up, and refused private addresses."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import msgspec
import pytest
from standardwebhooks import Webhook

from agentcron.clock import FakeClock, SystemClock
from agentcron.config import Settings
from agentcron.deliverer import Deliverer, retry_at
from agentcron.deliverer.sender import parse_retry_after
from agentcron.signals import Signals, WebhooksAttempted
from agentcron.store.base import Store
from agentcron.store.notices import TASK_PAUSED
from tests.runs_helpers import make_task
from tests.webhook_receiver import receiver

pytestmark = pytest.mark.anyio
SECOND, MINUTE, HOUR = 1000, 60_000, 3_600_000
LOCAL = Settings(http_allow=("127.0.0.1",), webhook_timeout_ms=2000)


class Fixed:
    """A jitter source drawing ``value`` every time (the wait is scaled by 0.5 + 0.5 * value)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


#: no jitter: each wait is the full doubling one
FULL = Fixed(1.0)


def test_the_retry_schedule_doubles_from_5_s_caps_each_wait_at_10_min_and_gives_up_after_24_h() -> None:
    s = Settings()
    waits = []
    at = created = 1_000_000
    for attempt in range(1, 200):
        nxt = retry_at(created, attempt, at, s.webhook_retry_ms, s.webhook_retry_max_ms, s.webhook_give_up_ms)
        if nxt is None:
            break
        waits.append(nxt - at)
        at = nxt
    assert waits[:8] == [5 * SECOND * 2**i for i in range(7)] + [600 * SECOND]
    assert max(waits) == 10 * MINUTE and waits[-1] <= 10 * MINUTE
    assert at <= created + 24 * HOUR < at + 10 * MINUTE  # retried until the 24 hours run out
    assert len(waits) == 8 + (24 * HOUR - sum(waits[:8])) // (10 * MINUTE)


async def _setup(store: Store, url: str, now: int) -> tuple[str, str, str]:
    acc = await store.accounts.create_account("a", now)
    tid = await make_task(store, acc, now, "hourly")
    webhook_id, secret = await store.webhooks.create(acc, url, [TASK_PAUSED], None, "", now)
    await store.tasks.pause(acc, tid, now, "lunch", None)
    return tid, webhook_id, secret


async def _delivery(store: Store) -> dict[str, Any]:
    async with store.db.tx() as tx:
        row = await tx.fetchrow("SELECT * FROM webhook_deliveries")
    assert row is not None
    return row


async def test_a_receiver_failing_twice_gets_the_third_attempt_signed_and_verifiable(store: Store) -> None:
    now = time.time_ns() // 1_000_000  # (the library checks the signature's timestamp against its own clock)
    clock = FakeClock(now)
    signals = Signals()
    seen: list[WebhooksAttempted] = []
    signals.connect(WebhooksAttempted, seen.append)
    with receiver([500, 500, 200]) as rx:
        tid, _, secret = await _setup(store, rx.url, now)
        d = Deliverer(store.webhooks, LOCAL, clock, signals, rng=FULL)
        try:
            assert await d.deliver_once(clock.now_ms()) == 1
            row = await _delivery(store)
            assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, 500)
            assert row["last_error"] == "HTTP 500" and row["next_attempt_at"] == clock.now_ms() + 5 * SECOND
            assert await d.deliver_once(clock.now_ms() + 4999) == 0  # not due yet
            clock.advance(5 * SECOND)
            assert await d.deliver_once(clock.now_ms()) == 1
            assert (await _delivery(store))["next_attempt_at"] == clock.now_ms() + 10 * SECOND
            clock.advance(10 * SECOND)
            assert await d.deliver_once(clock.now_ms()) == 1
        finally:
            await d.stop()
    row = await _delivery(store)
    assert (row["status"], row["attempts"], row["last_status_code"], row["last_error"]) == ("delivered", 3, 200, None)
    assert len(rx.requests) == 3
    assert len({r.headers["webhook-id"] for r in rx.requests}) == 1  # one message, retried
    assert len({r.body for r in rx.requests}) == 1  # the same bytes each time
    last = rx.requests[-1]
    body = Webhook(secret).verify(last.body, last.headers)
    assert body["type"] == TASK_PAUSED and body["data"]["task"]["id"] == tid and body["data"]["reason"] == "lunch"
    assert last.headers["content-type"] == "application/json"
    assert [a.status for sig in seen for a in sig.attempts] == ["pending", "pending", "delivered"]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(last.body, last.headers)


async def test_a_slow_receiver_times_out_and_is_retried(store: Store) -> None:
    now = 1_700_000_000_000
    clock = FakeClock(now)
    with receiver([200], delay=1.5) as rx:
        await _setup(store, rx.url, now)
        d = Deliverer(store.webhooks, replace(LOCAL, webhook_timeout_ms=300), clock, Signals(), rng=FULL)
        try:
            started = time.monotonic()
            assert await d.deliver_once(now) == 1
            assert time.monotonic() - started < 1.4  # the attempt ended at its timeout, not the answer
        finally:
            await d.stop()
    row = await _delivery(store)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, None)
    assert row["last_error"] == "timed out after 0.3 s" and row["next_attempt_at"] == now + 5 * SECOND


async def test_a_delivery_failing_past_the_retry_period_is_given_up(store: Store) -> None:
    now = 1_700_000_000_000
    clock = FakeClock(now)
    with receiver([503]) as rx:
        await _setup(store, rx.url, now)
        d = Deliverer(store.webhooks, replace(LOCAL, webhook_give_up_ms=16 * SECOND), clock, Signals(), rng=FULL)
        try:
            for wait in (0, 5 * SECOND, 10 * SECOND):  # then 15 s + 20 s would pass the 16 s
                clock.advance(wait)
                assert await d.deliver_once(clock.now_ms()) == 1
        finally:
            await d.stop()
    row = await _delivery(store)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 3, 503)
    assert row["next_attempt_at"] is None and len(rx.requests) == 3


async def test_private_addresses_are_refused_at_delivery_unless_allow_listed(store: Store) -> None:
    now = 1_700_000_000_000
    with receiver([204]) as rx:
        await _setup(store, rx.url, now)  # (the store takes any URL: the API checks it at create)
        d = Deliverer(store.webhooks, Settings(), FakeClock(now), Signals())
        try:
            assert await d.deliver_once(now) == 1
        finally:
            await d.stop()
        assert rx.requests == []
    row = await _delivery(store)
    assert row["status"] == "pending" and row["last_status_code"] is None
    assert row["last_error"].startswith("refused: 127.0.0.1 resolves to 127.0.0.1, a private, loopback")


async def _paused_tasks(store: Store, url: str, now: int, n: int) -> None:
    """An account with a ``task.paused`` webhook to ``url`` and ``n`` of its tasks paused: ``n`` deliveries
    pending."""
    acc = await store.accounts.create_account("a", now)
    await store.webhooks.create(acc, url, [TASK_PAUSED], None, "", now)
    for _ in range(n):
        tid = await make_task(store, acc, now, "hourly")
        await store.tasks.pause(acc, tid, now, None, None)


async def _run_until_delivered(d: Deliverer, store: Store, poll_s: float) -> int:
    """Run ``d``'s loop until no delivery is left undelivered (checked every ``poll_s``, at most 400 times),
    then stop it; the most deliveries it had in flight at a check."""
    loop = asyncio.create_task(d.run())
    seen = 0
    try:
        for _ in range(400):
            seen = max(seen, d.in_flight)
            async with store.db.tx() as tx:
                left = await tx.fetchrow("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status <> 'delivered'")
            if left is not None and left["n"] == 0:
                break
            await asyncio.sleep(poll_s)
    finally:
        d.stopping = True
        d.wake.set()
        await loop
        await d.stop()
    return seen


async def test_the_loop_delivers_on_a_wake_up_with_at_most_n_in_flight(store: Store) -> None:
    now = time.time_ns() // 1_000_000
    with receiver([204], delay=0.2) as rx:
        await _paused_tasks(store, rx.url, now, 6)
        # (the real clock: a failed attempt would be retried in 100 ms and fail the attempts check below, not
        # wait on a clock that never moves; a 10 s timeout: a loaded machine is no reason for a second attempt)
        settings = replace(LOCAL, webhook_concurrency=2, webhook_retry_ms=100, webhook_timeout_ms=10_000)
        await _run_until_delivered(Deliverer(store.webhooks, settings, SystemClock(), Signals()), store, 0.05)
        async with store.db.tx() as tx:
            rows = await tx.fetch("SELECT status, attempts, last_status_code, last_error FROM webhook_deliveries")
    # each delivered at its first attempt, on kept-alive connections (a sender that fails a reused
    # connection would show here as second attempts)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 6, [dict(r) for r in rows]
    assert len(rx.requests) == 6 and len({r.headers["webhook-id"] for r in rx.requests}) == 6
    # never more than 2 at once: each request arrived at least ~0.2 s after the one two before it
    starts = sorted(r.at for r in rx.requests)
    assert all(b - a >= 0.15 for a, b in zip(starts, starts[2:], strict=False))
    bodies = [msgspec.json.decode(r.body)["type"] for r in rx.requests]
    assert bodies == [TASK_PAUSED] * 6


async def test_while_the_process_catches_up_it_sends_an_eighth_as_many_at_once_and_still_sends(store: Store) -> None:
    now = time.time_ns() // 1_000_000
    with receiver([204], delay=0.2) as rx:
        await _paused_tasks(store, rx.url, now, 4)
        settings = replace(LOCAL, webhook_concurrency=16, webhook_retry_ms=100, webhook_timeout_ms=10_000)
        d = Deliverer(store.webhooks, settings, SystemClock(), Signals(), busy=lambda: True)
        assert d.busy_concurrency == 2
        seen = await _run_until_delivered(d, store, 0.02)
    assert len({r.headers["webhook-id"] for r in rx.requests}) == 4  # held back, never held up
    assert seen <= 2


def test_it_holds_back_while_busy_for_ten_seconds_at_most() -> None:
    busy = [True]
    d = Deliverer(None, Settings(), FakeClock(0), Signals(), busy=lambda: busy[0])  # type: ignore[arg-type]
    assert (d.holding_back(100.0), d.holding_back(109.9), d.holding_back(110.0)) == (True, True, False)
    busy[0] = False
    assert d.holding_back(111.0) is False
    busy[0] = True  # a new busy stretch starts its own ten seconds
    assert (d.holding_back(112.0), d.holding_back(121.9), d.holding_back(122.0)) == (True, True, False)
    assert Deliverer(None, Settings(), FakeClock(0), Signals()).holding_back(0.0) is False  # type: ignore[arg-type]


def test_retry_waits_are_jittered_and_a_receivers_retry_after_wins_when_longer() -> None:
    s = Settings()
    first, most, give_up = s.webhook_retry_ms, s.webhook_retry_max_ms, s.webhook_give_up_ms
    assert retry_at(0, 1, 0, first, most, give_up, jitter=0.5) == 2_500  # half of the 5 s at the least
    assert retry_at(0, 3, 0, first, most, give_up, jitter=0.75) == 15_000
    assert retry_at(0, 1, 0, first, most, give_up, jitter=0.5, retry_after_ms=120_000) == 120_000
    assert retry_at(0, 3, 0, first, most, give_up, retry_after_ms=1_000) == 20_000  # shorter: ours
    assert retry_at(0, 1, 0, first, most, give_up, retry_after_ms=86_400_000) == most  # at most 10 min
    assert retry_at(0, 1, give_up - 1_000, first, most, give_up, retry_after_ms=60_000) is None  # past 24 h


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = 1_700_000_000_000
    assert parse_retry_after("120", now) == 120_000
    assert parse_retry_after(" 0 ", now) == 0
    assert parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT", now) == 120_000  # now is 22:13:20 GMT
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0  # in the past: at once (our wait applies)
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) is None


@pytest.mark.parametrize(("header", "wait"), [("120", 120 * SECOND), ("86400", 600 * SECOND), ("later", 5 * SECOND)])
async def test_a_receiver_answering_429_with_retry_after_is_tried_again_when_it_says(
    store: Store, header: str, wait: int
) -> None:
    now = 1_700_000_000_000
    with receiver([429], headers={"Retry-After": header}) as rx:
        await _setup(store, rx.url, now)
        d = Deliverer(store.webhooks, LOCAL, FakeClock(now), Signals(), rng=FULL)
        try:
            assert await d.deliver_once(now) == 1
        finally:
            await d.stop()
    row = await _delivery(store)
    assert (row["status"], row["last_status_code"], row["next_attempt_at"]) == ("pending", 429, now + wait)
