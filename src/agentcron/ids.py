"""cuid-style identifiers: 25 lowercase base-36 characters starting with ``c``, no prefix.

Ids are unique across processes (random part) and roughly ordered by creation time (timestamp part),
which keeps B-tree inserts local. Ordering in lists never relies on them alone: it is (createdAt, id).
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
#: two base-36 digits per lookup: ids are minted several per fired slot, so this is a hot path
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_counter = itertools.count(secrets.randbelow(36**4))
# Ids need uniqueness, not secrecy (they are not credentials): a PRNG seeded from the OS is enough and
# much cheaper than a urandom call per id.
_rng = random.Random(os.urandom(16))
_fingerprint = ""
#: "c" + time part, per instant: ids are minted for a few instants at a time (a batch's messages use now,
#: now + 1, ...), so one cached instant would be recomputed on nearly every call
_prefixes: dict[int, str] = {}


def _b36(n: int, width: int) -> str:
    """``n`` in base 36, zero-padded to ``width`` (an even number) digits."""
    out = []
    for _ in range(width // 2):
        n, r = divmod(n, 1296)
        out.append(_PAIRS[r])
    return "".join(reversed(out))


def _reseed_after_fork() -> None:
    global _rng, _fingerprint
    _rng = random.Random(os.urandom(16))
    _fingerprint = _b36(int.from_bytes(os.urandom(3), "big") % 36**4, 4)


_reseed_after_fork()
os.register_at_fork(after_in_child=_reseed_after_fork)


def new_id(at_ms: int | None = None) -> str:
    """Return a fresh 25-character id: c + time(8) + counter(4) + fingerprint(4) + random(8, base-32 digits).

    ``at_ms`` is the creation instant the id embeds (default: now). Rows store exactly this instant as
    ``created_at``, so an id alone is a complete pagination cursor (see `id_time`).
    """
    ms = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    prefix = _prefixes.get(ms)
    if prefix is None:
        if len(_prefixes) >= 64:  # bounded: instants go by
            _prefixes.clear()
        prefix = _prefixes[ms] = "c" + _b36(ms, 8)
    # The counter (4 digits) and random (8 digits) parts, two digits per table lookup, unrolled: this is
    # the hot path of firing (several ids per run), where the generic `_b36` loop was a visible share of a
    # no-op run.
    c = next(_counter) % 1679616
    hi, lo = divmod(_rng.getrandbits(41) % 2821109907456, 1679616)
    return "".join(
        (
            prefix,
            _PAIRS[c // 1296],
            _PAIRS[c % 1296],
            _fingerprint,
            _PAIRS[hi // 1296],
            _PAIRS[hi % 1296],
            _PAIRS[lo // 1296],
            _PAIRS[lo % 1296],
        )
    )


def new_secret() -> str:
    """Return a new API secret (bearer token): high-entropy, so a plain SHA-256 is a sufficient hash."""
    return "sk-" + secrets.token_urlsafe(32)


def id_time(value: str) -> int | None:
    """The creation instant (epoch ms) embedded in an id made by `new_id`, or None if it is not one."""
    if len(value) != 25 or value[0] != "c":
        return None
    try:
        return int(value[1:9], 36)
    except ValueError:
        return None


def id_floor(at_ms: int) -> str:
    """The smallest id `new_id` makes at ``at_ms``: every id made earlier sorts below it (ids compare by
    creation instant first)."""
    return "c" + _b36(max(0, at_ms), 8)
