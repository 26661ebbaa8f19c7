"""Housekeeping that keeps the system honest: reap runs whose worker died, prune old executions,
delete expired tasks. Each step is one bounded batch; `Janitor.run` repeats them."""

from __future__ import annotations

import asyncio
import logging

from agentcron.clock import Clock
from agentcron.config import Settings
from agentcron.signals import RunsReaped, Signals, settled
from agentcron.store.housekeeping import HousekeepingStore

log = logging.getLogger("agentcron.janitor")
DAY_MS = 86_400_000
#: rows one prune step removes at most
PRUNE_BATCH = 1000


class Janitor:
    def __init__(self, housekeeping: HousekeepingStore, settings: Settings, clock: Clock, signals: Signals) -> None:
        self.store = housekeeping
        self.settings = settings
        self.clock = clock
        self.signals = signals
        self.stopping = False

    async def reap_once(self, now: int) -> list[str]:
        """Reap runs whose lease lapsed; returns their execution ids."""
        reaped = await self.store.reap(now)
        ids = [r.execution_id for r in reaped]
        if reaped:
            self.signals.emit(RunsReaped(ids, [r.task_id for r in reaped]))
            settled(self.signals, reaped)
        return ids

    async def prune_once(self, now: int) -> int:
        """One batch of retention pruning plus expired-task deletion; returns rows removed."""
        removed = await self.store.prune(now - self.settings.retention_days * DAY_MS, PRUNE_BATCH)
        removed += await self.store.expire_tasks(now, PRUNE_BATCH)
        await self.store.prune_usage(now)
        return removed

    async def run(self) -> None:
        # Reap often enough that a lost run ends within 2x its lease: lease expiry + one interval.
        reap_every = max(0.2, self.settings.lease_ms / 6000)
        ticks_per_prune = max(1, int(60 / reap_every))
        tick = 0
        while not self.stopping:
            try:
                now = self.clock.now_ms()
                await self.reap_once(now)
                if tick % ticks_per_prune == 0:
                    # Bounded batches, yielding between them so pruning never stalls firing.
                    for _ in range(100):
                        if await self.prune_once(now) < PRUNE_BATCH or self.stopping:
                            break
                        await asyncio.sleep(0)
            except Exception:
                log.exception("janitor step failed")
            tick += 1
            await asyncio.sleep(reap_every)
