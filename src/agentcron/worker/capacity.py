"""How many runs a worker may still take: its concurrency, minus runs whose bot is still running, minus
room reserved by a claim or a direct dispatch in flight, minus unrecorded outcomes beyond the limit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class Capacity:
    def __init__(self, limit: int, unrecorded: Callable[[], int]) -> None:
        self.limit = limit
        self._unrecorded = unrecorded
        self.active = 0  # runs whose bot is still running (their task has not ended)
        self.reserved = 0
        self.stopping = False
        self._room = asyncio.Event()  # set whenever capacity may have grown (see `wait_for_room`)

    @property
    def free(self) -> int:
        """Runs the worker may still take.

        A finished run whose outcome is not written yet holds no capacity (its bot is done), so new runs
        need not wait for that write: recording one batch and firing the next proceed in parallel where
        the database takes concurrent writers. At most ``limit`` such runs are held; beyond that the worker
        takes nothing until its writes catch up (the database being away cannot grow them without bound)."""
        return max(0, self.limit - self.active - max(0, self._unrecorded() - self.limit) - self.reserved)

    def room(self) -> int:
        """How many runs may be handed over now (0 while stopping)."""
        return 0 if self.stopping else self.free

    def reserve(self, limit: int) -> int:
        """Hold up to ``limit`` of the free room for runs being prepared; returns how much. Every call must be
        matched by `unreserve` with the same number (runs adopted meanwhile count as active)."""
        room = min(limit, self.room())
        self.reserved += room
        return room

    def unreserve(self, room: int) -> None:
        self.reserved -= room
        self.grew()

    def grew(self) -> None:
        """Capacity may have grown (a run ended, an outcome was written): wake `wait_for_room`."""
        self._room.set()

    async def wait_for_room(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for free room; True when there is some."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.room() == 0:
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), left)
        return True
