"""Ids: 25 lowercase base-36 characters starting with ``c``, embedding their instant, unique, time-ordered."""

from __future__ import annotations

import re

from agentcron import ids


def test_ids_for_interleaved_instants_embed_each_instant_and_are_unique() -> None:
    t0 = 1_780_000_000_000
    # A batch mints message ids for now, now + 1, ... in turn, and far more instants than the prefix cache holds.
    minted = [(t0 + k % 3 + 1000 * (k // 300), ids.new_id(t0 + k % 3 + 1000 * (k // 300))) for k in range(30_000)]
    assert all(ids.id_time(i) == at for at, i in minted)
    assert all(re.fullmatch(r"c[0-9a-z]{24}", i) for _, i in minted)
    assert len({i for _, i in minted}) == len(minted)
    by_time = sorted(minted)
    assert [i[:9] for _, i in by_time] == sorted(i[:9] for _, i in minted)  # the time part sorts as the instant


def test_an_id_without_instant_uses_the_clock() -> None:
    import time

    before = time.time_ns() // 1_000_000
    made = ids.id_time(ids.new_id())
    assert made is not None and before <= made <= time.time_ns() // 1_000_000
    assert ids.id_time("not-an-id") is None
