"""The deliverer's loop: claim due deliveries (at most ``webhook_concurrency`` in flight per process), send
each, record the results in batches, retry on a doubling schedule, prune old deliveries.

It shares nothing with firing or runs but the database: a slow or dead receiver holds one of its own slots
for at most ``webhook_timeout_ms``, never a scheduler tick or a worker. It wakes when this process reports
an event (`Deliverer.wake`) and otherwise polls every ``poll_ms`` (events written by other processes,
retries coming due). A delivery whose process died mid-attempt is claimed again when its lease lapses:
delivery is at least once.

In a process that also fires and runs tasks (``--role all``), firing comes first: while ``busy`` says the
process is catching up with a burst of due slots, the deliverer keeps at most an eighth of its slots in
flight and pauses between claims (`BUSY_PAUSE_S`): deliveries go on, slower, and take the full rate again
once the burst is fired, or after `BUSY_HOLD_MAX_S` of holding back (a process behind for longer, in a long
catch-up or overloaded, must not let its deliveries pile up). Sending is CPU work in this process (signing,
HTTP), which on a small machine would otherwise slow the burst it reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.deliverer.sender import Sender
from agentcron.engine.net import AllowList
from agentcron.retries import Rng
from agentcron.signals import Signals, WebhookAttempt, WebhooksAttempted
from agentcron.store.webhooks import DELIVERED, FAILED, PENDING, Attempt, Delivery, WebhookStore

log = logging.getLogger("agentcron.deliverer")
DAY_MS = 86_400_000
PRUNE_EVERY_MS = 60_000
PRUNE_BATCH = 1000
#: pause between claims while the process is busy firing (at most ``concurrency // 8`` each)
BUSY_PAUSE_S = 0.05
#: the longest stretch the deliverer holds back for
BUSY_HOLD_MAX_S = 10.0


def retry_at(
    created_at: int,
    attempt: int,
    now: int,
    first_ms: int,
    max_ms: int,
    give_up_ms: int,
    jitter: float = 1.0,
    retry_after_ms: int | None = None,
) -> int | None:
    """When to try again after failed attempt number ``attempt`` (1, 2, ...) ended at ``now``: ``first_ms``
    later, doubling per attempt, each wait at most ``max_ms``, scaled by ``jitter`` (the caller draws it in
    [0.5, 1]: receivers failing together are not retried together); the receiver's ``retry_after_ms`` when
    longer, still at most ``max_ms``. None (give up) when that would be later than ``give_up_ms`` after the
    event (``created_at``)."""
    wait = int(min(first_ms * (1 << min(max(attempt - 1, 0), 40)), max_ms) * jitter)
    if retry_after_ms is not None:
        wait = max(wait, min(retry_after_ms, max_ms))
    at = now + wait
    return at if at <= created_at + give_up_ms else None


class Deliverer:
    def __init__(
        self,
        store: WebhookStore,
        settings: Settings,
        clock: Clock,
        signals: Signals,
        sender: Sender | None = None,
        busy: Callable[[], bool] | None = None,
        rng: Rng | None = None,
    ) -> None:
        """``sender``: by default one sending to public addresses and those ``settings.http_allow`` lists.
        ``busy``: whether this process is catching up with due slots now (the deliverer then holds back).
        ``rng``: draws the jitter of retry waits (tests inject a fixed one)."""
        self.store = store
        self.settings = settings
        self.clock = clock
        self.signals = signals
        self.concurrency = n = max(1, settings.webhook_concurrency)
        #: in flight at most while ``busy``
        self.busy_concurrency = max(1, n // 8)
        self.busy = busy
        self._busy_since: float | None = None
        self.rng: Rng = rng or random.Random()
        self.sender = sender or Sender(AllowList.parse(settings.http_allow), settings.webhook_timeout_ms, n)
        #: an attempt holds its delivery this long: its timeout, and as long again plus 5 s to record it
        self.lease_ms = 2 * settings.webhook_timeout_ms + 5_000
        self.wake = asyncio.Event()
        self.stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._done: list[Attempt] = []
        self._recorded = asyncio.Event()
        self._prune_at = 0

    def holding_back(self, now_s: float) -> bool:
        """Whether to hold back now (``now_s``: a monotonic clock): the process is busy (`busy`), for less
        than `BUSY_HOLD_MAX_S` in a row so far."""
        if self.busy is None or not self.busy():
            self._busy_since = None
            return False
        if self._busy_since is None:
            self._busy_since = now_s
        return now_s - self._busy_since < BUSY_HOLD_MAX_S

    @property
    def in_flight(self) -> int:
        """Deliveries being sent now."""
        return len(self._inflight)

    async def attempt(self, delivery: Delivery) -> Attempt:
        """Send one delivery and decide what follows (delivered, retry at, or given up)."""
        started = time.perf_counter()
        sent = await self.sender.send(delivery, self.clock.now_ms())
        duration = int((time.perf_counter() - started) * 1000)
        if sent.ok:
            return Attempt(delivery, DELIVERED, sent.status_code, None, None, duration)
        s = self.settings
        nxt = retry_at(
            delivery.created_at,
            delivery.attempt,
            self.clock.now_ms(),
            s.webhook_retry_ms,
            s.webhook_retry_max_ms,
            s.webhook_give_up_ms,
            jitter=0.5 + 0.5 * self.rng.random(),
            retry_after_ms=sent.retry_after_ms,
        )
        return Attempt(delivery, PENDING if nxt is not None else FAILED, sent.status_code, sent.error, nxt, duration)

    async def record(self, attempts: list[Attempt]) -> None:
        """Record attempts (fenced) and report those recorded (`WebhooksAttempted`)."""
        recorded = await self.store.complete(attempts, self.clock.now_ms())
        if recorded and self.signals.observed(WebhooksAttempted):
            self.signals.emit(
                WebhooksAttempted(
                    [
                        WebhookAttempt(
                            a.delivery.id,
                            a.delivery.webhook_id,
                            a.delivery.account_id,
                            a.delivery.event_type,
                            a.delivery.attempt,
                            a.status,
                            a.status_code,
                            a.error,
                            a.duration_ms,
                        )
                        for a in recorded
                    ]
                )
            )

    async def deliver_once(self, now: int) -> int:
        """Claim one batch of due deliveries, send them all and record the results; returns how many were
        claimed. (The loop below overlaps these steps; tests drive this one on an injected clock.)"""
        claimed = await self.store.claim(now, self.lease_ms, self.concurrency)
        if claimed:
            await self.record(list(await asyncio.gather(*(self.attempt(d) for d in claimed))))
        return len(claimed)

    async def prune_once(self, now: int) -> int:
        return await self.store.prune(now - self.settings.webhook_retention_days * DAY_MS, PRUNE_BATCH)

    async def run(self) -> None:
        recorder = asyncio.create_task(self._recorder())
        try:
            while not self.stopping:
                self.wake.clear()  # (before the claim: a wake-up during it is not lost)
                claimed = 0
                busy = self.holding_back(time.monotonic())
                cap = self.busy_concurrency if busy else self.concurrency
                try:
                    now = self.clock.now_ms()
                    room = cap - len(self._inflight)
                    # Claims in batches: a slot freed alone waits for half of them (or for none in flight).
                    if room > 0 and (room * 2 >= cap or not self._inflight):
                        for delivery in await self.store.claim(now, self.lease_ms, room):
                            self._start(delivery)
                            claimed += 1
                    if now >= self._prune_at:
                        self._prune_at = now + PRUNE_EVERY_MS
                        await self.prune_once(now)
                except Exception:
                    log.exception("webhook delivery step failed")
                if busy:  # (a wake-up does not hurry it: the process has due slots to fire first)
                    await asyncio.sleep(BUSY_PAUSE_S)
                elif claimed == 0 or len(self._inflight) * 2 > self.concurrency:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), self.settings.poll_ms / 1000)
        finally:
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._send(delivery))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _send(self, delivery: Delivery) -> None:
        try:
            attempt = await self.attempt(delivery)
            # (appended after the await: the recorder swaps the list while attempts are sent)
            self._done.append(attempt)
        except Exception:  # (its lease lapses and it is tried again)
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
        self._recorded.set()
        self.wake.set()  # room for one more

    async def _recorder(self) -> None:
        """Record finished attempts in batches: whatever finished while the previous batch was written."""
        while True:
            await self._recorded.wait()
            self._recorded.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._done = self._done, []
        if batch:
            try:
                await self.record(batch)
            except Exception:  # (unrecorded: the leases lapse and the deliveries are sent again)
                log.exception("recording %d webhook delivery attempts failed", len(batch))

    async def stop(self) -> None:
        """Stop claiming; let attempts in flight end (each within its timeout), record them, close."""
        self.stopping = True
        self.wake.set()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=self.settings.webhook_timeout_ms / 1000 + 1)
        await self._flush()
        await self.sender.close()
