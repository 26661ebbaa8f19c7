"""Reading ``task/{id}/subscribe`` streams over HTTP in tests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import msgspec

API = "/api/v1"
JSONL_HEADERS = {"accept": "application/jsonl"}


class Lines:
    """Reads a JSONL response into raw lines (blank lines kept, so the test can reject them)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks = response.iter_raw()
        self.buf = b""
        self.raw: list[bytes] = []

    def next(self) -> bytes:
        while b"\n" not in self.buf:
            self.buf += next(self.chunks)  # the client's read timeout is the deadline
        line, _, self.buf = self.buf.partition(b"\n")
        self.raw.append(line)
        return line

    def events(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            line = self.next()
            assert line.strip(), f"blank line in the stream after {self.raw[:-1]!r}"
            event = msgspec.json.decode(line)
            assert isinstance(event, dict)
            out.append(event)
        return out

    def until(self, done: Callable[[dict[str, Any]], bool], limit: int = 500) -> list[dict[str, Any]]:
        """Events (pings left out) up to and including the first for which ``done`` is true."""
        out: list[dict[str, Any]] = []
        for _ in range(limit):
            (event,) = self.events(1)
            if event["type"] == "ping":
                continue
            out.append(event)
            if done(event):
                return out
        raise AssertionError(f"no matching event among {out}")


def subscribe(
    client: httpx.Client, task_id: str, body: dict[str, Any] | None = None, read_s: float = 20
) -> AbstractContextManager[httpx.Response]:
    timeout = httpx.Timeout(10.0, read=read_s)
    return client.stream(
        "POST", f"{API}/task/{task_id}/subscribe", json=body or {}, headers=JSONL_HEADERS, timeout=timeout
    )
