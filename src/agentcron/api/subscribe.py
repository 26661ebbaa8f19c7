"""``POST task/{id}/subscribe``: the task's workflow events as a JSONL stream.

The stream replays up to ``historyLength`` (0-1000) persisted events, then stays open across executions
delivering live ones; ``{"type":"ping"}`` lines keep idle streams alive (never blank lines: the official
SDK's reader throws on them). The task of another account answers 401, as the manual specifies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, post
from litestar.params import FromPath
from litestar.response import Stream

from agentcron.api.auth import account_of
from agentcron.api.context import ctx_of
from agentcron.api.schemas import SubscribeBody
from agentcron.api.wire import JSONL, read_body
from agentcron.errors import ApiError, not_found
from agentcron.events import line_of

TOO_SLOW = {"code": "SUBSCRIBER_TOO_SLOW", "message": "Stream closed: it fell behind"}
REVOKED = {"code": "NOT_AUTHENTICATED", "message": "Stream closed: its API secret was revoked or its account deleted"}


@post("/api/v1/task/{task_id:str}/subscribe", operation_id="taskSubscribe", status_code=200)
async def subscribe(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[Any]:
    ctx = ctx_of(request)
    account_id = await account_of(request, ctx.store)
    body = await read_body(request, SubscribeBody)
    owner = await ctx.store.tasks.owner(task_id)
    if owner is None:
        raise not_found()
    if owner != account_id:
        raise ApiError(401, "Not authorized to subscribe to this task")
    bus = ctx.events
    clock = ctx.clock

    async def still_authorized() -> bool:
        """The secret still names the account (a revoke or an account delete ends the stream within a
        second of the next event or ping: the secret is re-read at most every `AUTH_RECHECK_S`)."""
        try:
            return await account_of(request, ctx.store) == account_id
        except ApiError:
            return False

    async def lines() -> AsyncIterator[bytes]:
        # Subscribe inside the stream, so a client gone before it starts leaves nothing registered, and
        # before reading history, so no event falls between the two (duplicates are cut by seq).
        sub = bus.subscribe(task_id)
        try:
            last = 0
            history = await bus.history(task_id, body.historyLength)
            if history:  # one write for the whole replay, not one per event
                last = history[-1].seq
                yield b"".join(past.line() for past in history)
            while True:
                batch = await sub.take()
                # Everything queued since the last write goes out in one write.
                out = [event.line() for event in batch if event.seq > last]
                if out:
                    last = max(last, batch[-1].seq)
                if sub.dropped:
                    out.append(line_of("error", clock.now_ms(), TOO_SLOW))
                    yield b"".join(out)
                    return
                if (out or sub.ping_due) and not await still_authorized():
                    yield line_of("error", clock.now_ms(), REVOKED)
                    return
                if sub.ping_due:
                    sub.ping_due = False
                    if not out:
                        out.append(line_of("ping", clock.now_ms(), {}))
                if out:
                    yield b"".join(out)
        finally:
            bus.unsubscribe(sub)

    return Stream(lines(), media_type=JSONL, headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
