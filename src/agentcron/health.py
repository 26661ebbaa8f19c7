"""Liveness, readiness and metrics of a process: `Probes` answers them (the API's ``/readyz`` and
``/metrics`` ask it too), and `serve_health` serves ``/healthz``, ``/readyz`` and ``/metrics`` on a port of
their own (``AGENTCRON_HEALTH_PORT``): how a process without the API role is health-checked and scraped.

- ``/healthz``: the process answers (liveness; touches nothing).
- ``/readyz``: 200 when the database answers a trivial query within `DB_TIMEOUT_S` and every role of the
  process is running (scheduler and janitor loops, the worker's claim, heartbeat and outcome loops); 503
  with the reason otherwise, also while the process starts or shuts down (a load balancer drains it).
- ``/metrics``: the Prometheus text format.

The health server is a few lines of asyncio, not a second web framework: one request per connection, GET
(or HEAD) only, the request line and headers within `REQUEST_TIMEOUT_S`, answered and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from agentcron import __version__
from agentcron.clock import Clock, SystemClock
from agentcron.observers.metrics import CONTENT_TYPE, Metrics
from agentcron.store.base import Store

log = logging.getLogger("agentcron.health")

DB_TIMEOUT_S = 2.0
#: how long ``/metrics`` waits for the queue count before it shows the last one read
QUEUE_TIMEOUT_S = 1.0
REQUEST_TIMEOUT_S = 5.0
_MAX_HEADER_LINES = 100


class Probes:
    """``not_ready()`` says why the process's roles are not running (None: they are). A task counts as
    overdue once its next slot is ``overdue_ms`` past (the misfire grace) without having fired."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics | None,
        not_ready: Callable[[], str | None],
        clock: Clock | None = None,
        overdue_ms: int = 60_000,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.not_ready = not_ready
        self.clock = clock or SystemClock()
        self.overdue_ms = overdue_ms

    async def ready(self) -> str | None:
        """None when ready, else the reason."""
        reason = self.not_ready()
        if reason is not None:
            return reason
        try:
            await asyncio.wait_for(self.store.housekeeping.ping(), DB_TIMEOUT_S)
        except TimeoutError:
            return f"the database did not answer within {DB_TIMEOUT_S:g} s"
        except Exception as e:
            return f"the database is unreachable ({type(e).__name__})"
        return None

    async def render_metrics(self) -> bytes | None:
        """The metrics text (None when this process keeps none), with the queue and the overdue tasks
        counted now (each on an index: cheap)."""
        if self.metrics is None:
            return None
        try:
            due = self.clock.now_ms() - self.overdue_ms
            queued, overdue = await asyncio.wait_for(self.store.housekeeping.backlog(due), QUEUE_TIMEOUT_S)
            self.metrics.set_counts(queued=queued, overdue=overdue)
        except Exception:  # (a database away shows in /readyz; here the last counts stay)
            log.debug("counting queued executions and overdue tasks failed", exc_info=True)
        return self.metrics.render()


def ready_body(reason: str | None) -> tuple[int, bytes]:
    """The ``/readyz`` answer: status and JSON body."""
    if reason is None:
        return 200, b'{"ok":true}'
    return 503, json.dumps({"ok": False, "reason": reason}).encode()


def _response(status: int, body: bytes, content_type: str = "application/json", head: bool = False) -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request"}.get(
        status, "Service Unavailable"
    )
    headers = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode()
    return headers if head else headers + body


async def _answer(probes: Probes, method: str, path: str) -> bytes:
    head = method == "HEAD"
    if method not in ("GET", "HEAD"):
        return _response(405, b'{"message":"Method not allowed: GET only","code":"METHOD_NOT_ALLOWED"}')
    if path == "/healthz":
        return _response(200, json.dumps({"ok": True, "version": __version__}).encode(), head=head)
    if path == "/readyz":
        status, body = ready_body(await probes.ready())
        return _response(status, body, head=head)
    if path == "/metrics":
        text = await probes.render_metrics()
        if text is not None:
            return _response(200, text, CONTENT_TYPE, head=head)
    return _response(404, b'{"message":"Not found: /healthz, /readyz or /metrics","code":"NOT_FOUND"}', head=head)


def handler(probes: Probes) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """The health server's connection handler (`asyncio.start_server`)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                line = await reader.readline()
                for _ in range(_MAX_HEADER_LINES):
                    if (await reader.readline()) in (b"\r\n", b"\n", b""):
                        break
            parts = line.decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                writer.write(_response(400, b'{"message":"Bad request","code":"BAD_REQUEST"}'))
            else:
                writer.write(await _answer(probes, parts[0], parts[1].split("?", 1)[0]))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        except Exception:
            log.exception("the health server failed to answer")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return handle
