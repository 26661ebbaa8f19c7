"""`Capacity` (`worker/capacity.py`): how many runs a worker may still take. Pure asyncio, no database."""

from __future__ import annotations

import asyncio

import pytest

from agentcron.worker.capacity import Capacity

pytestmark = pytest.mark.anyio


class Unrecorded:
    """The outcome writer's backlog as the capacity reads it."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        return self.n


def _capacity(limit: int = 4) -> tuple[Capacity, Unrecorded]:
    unrecorded = Unrecorded()
    return Capacity(limit, unrecorded), unrecorded


def test_a_new_capacity_is_all_free() -> None:
    cap, _ = _capacity(4)
    assert (cap.free, cap.room(), cap.active, cap.reserved, cap.stopping) == (4, 4, 0, 0, False)


def test_active_runs_and_reservations_take_room() -> None:
    cap, _ = _capacity(4)
    cap.active = 1
    assert cap.free == 3
    assert cap.reserve(2) == 2
    assert (cap.reserved, cap.free, cap.room()) == (2, 1, 1)
    cap.active = 9  # more active than the limit: never negative
    assert cap.free == 0 and cap.room() == 0


def test_reserve_takes_at_most_the_room_and_unreserve_gives_it_back() -> None:
    cap, _ = _capacity(4)
    cap.active = 1
    assert cap.reserve(10) == 3
    assert cap.reserve(1) == 0  # nothing left
    assert cap.reserve(0) == 0
    assert (cap.reserved, cap.free) == (3, 0)
    cap.unreserve(3)
    assert (cap.reserved, cap.free) == (0, 3)
    cap.unreserve(0)
    assert cap.free == 3


def test_unrecorded_outcomes_hold_no_room_up_to_the_limit() -> None:
    cap, unrecorded = _capacity(4)
    unrecorded.n = 4
    assert cap.free == 4
    unrecorded.n = 5
    assert cap.free == 3
    unrecorded.n = 7
    cap.active = 1
    assert cap.free == 0
    unrecorded.n = 100
    assert cap.free == 0  # floored
    unrecorded.n = 0  # the writes caught up
    assert cap.free == 3


def test_stopping_leaves_free_but_no_room() -> None:
    cap, _ = _capacity(4)
    cap.stopping = True
    assert cap.free == 4
    assert cap.room() == 0
    assert cap.reserve(2) == 0 and cap.reserved == 0


async def test_wait_for_room_returns_at_once_when_there_is_room() -> None:
    cap, _ = _capacity(2)
    cap.active = 1
    assert await cap.wait_for_room(0) is True
    assert await cap.wait_for_room(30) is True


async def test_wait_for_room_without_room_times_out() -> None:
    cap, _ = _capacity(2)
    cap.active = 2
    assert await cap.wait_for_room(0) is False
    assert await cap.wait_for_room(-1) is False
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await cap.wait_for_room(0.05) is False
    assert loop.time() - start >= 0.04


async def _waiting(cap: Capacity, seconds: float = 30) -> asyncio.Task[bool]:
    waiter = asyncio.create_task(cap.wait_for_room(seconds))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiter.done()
    return waiter


async def test_wait_for_room_is_woken_by_grew_once_a_run_ended() -> None:
    cap, _ = _capacity(2)
    cap.active = 2
    loop = asyncio.get_running_loop()
    start = loop.time()
    waiter = await _waiting(cap)
    cap.active -= 1
    cap.grew()
    assert await asyncio.wait_for(waiter, 5) is True
    assert loop.time() - start < 5  # woken, not timed out (30 s)


async def test_wait_for_room_is_woken_by_unreserve() -> None:
    cap, _ = _capacity(2)
    assert cap.reserve(2) == 2
    waiter = await _waiting(cap)
    cap.unreserve(1)
    assert await asyncio.wait_for(waiter, 5) is True


async def test_wait_for_room_is_woken_when_outcome_writes_catch_up() -> None:
    cap, unrecorded = _capacity(2)
    unrecorded.n = 4
    waiter = await _waiting(cap)
    unrecorded.n = 3
    cap.grew()
    assert await asyncio.wait_for(waiter, 5) is True


async def test_wait_for_room_keeps_waiting_after_a_wake_without_room() -> None:
    cap, _ = _capacity(1)
    cap.active = 1
    waiter = await _waiting(cap)
    cap.grew()  # nothing actually freed
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiter.done()
    cap.active = 0
    cap.grew()
    assert await asyncio.wait_for(waiter, 5) is True


async def test_wait_for_room_while_stopping_times_out_even_when_woken() -> None:
    cap, _ = _capacity(1)
    cap.stopping = True
    waiter = await _waiting(cap, 0.05)
    cap.grew()
    assert await asyncio.wait_for(waiter, 5) is False
