"""cuid-style identifiers: 25 lowercase base-36 characters starting with ``c``, no prefix.

Ids are unique across processes (random part) and roughly ordered by creation time (timestamp part),
which keeps B-tree inserts local. Ordering in lists never relies on them alone: it is (createdAt, id).
"""

from __future__ import annotations

import itertools
import os
import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_counter = itertools.count(secrets.randbelow(36**4))
_fingerprint = int.from_bytes(os.urandom(4), "big") % 36**4


def _b36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def new_id(at_ms: int | None = None) -> str:
    """Return a fresh 25-character id: c + time(8) + counter(4) + fingerprint(4) + random(8).

    ``at_ms`` is the creation instant the id embeds (default: now). Rows store exactly this instant as
    ``created_at``, so an id alone is a complete pagination cursor (see `id_time`).
    """
    ms = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    return (
        "c"
        + _b36(ms, 8)
        + _b36(next(_counter) % 36**4, 4)
        + _b36(_fingerprint, 4)
        + _b36(secrets.randbits(41) % 36**8, 8)
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
