"""A tiny OpenAI-compatible HTTP server for tests, plus plain web routes for fetch/http abilities.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for httpx and the ``openai`` client:
- ``POST /v1/chat/completions``: answers with the next scripted step (`tool_call`, `text` or `error`; the
  last step repeats once the script is used up), as one JSON completion, or as SSE chunks when the request
  has ``"stream": true``. Every request body and its headers are recorded in ``requests``.
- ``GET <path>`` for paths in ``pages``: that page. ``POST/PUT... /hook``: records the request in
  ``hooks`` and answers ``{"ok": true}``. Anything else: 404.

Runs in the test's event loop: ``async with FakeOpenAI([...]) as fake: fake.base_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    message: dict[str, Any] | None = None  # assistant message
    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def text(content: str) -> Step:
    return Step({"role": "assistant", "content": content})


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> Step:
    return Step(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            ],
        }
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Step:
    return Step(None, status, message, headers or {})


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeOpenAI:
    def __init__(self, script: list[Step] | None = None, pages: dict[str, tuple[str, str]] | None = None) -> None:
        self.script = list(script or [text("ok")])
        self.pages = pages or {}  # path -> (content-type, body)
        self.requests: list[Recorded] = []
        self.hooks: list[Recorded] = []
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def __aenter__(self) -> FakeOpenAI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for t in list(self._conns):
            t.cancel()
        for t in list(self._conns):
            with contextlib.suppress(BaseException):
                await t
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                body: Any = json.loads(raw) if raw and "json" in headers.get("content-type", "") else raw.decode()
                rec = Recorded(method, path, headers, body)
                if path.endswith("/chat/completions") and method == "POST":
                    self.requests.append(rec)
                    await self._completion(rec, writer)
                elif path == "/hook":
                    self.hooks.append(rec)
                    await self._write(writer, 200, "application/json", b'{"ok": true}')
                elif method == "GET" and path in self.pages:
                    ctype, page = self.pages[path]
                    await self._write(writer, 200, ctype, page.encode())
                else:
                    await self._write(writer, 404, "text/plain", b"not found")
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._conns.discard(task)
            writer.close()

    @staticmethod
    async def _write(
        writer: asyncio.StreamWriter, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        head = [f"HTTP/1.1 {status} X", f"content-type: {ctype}", f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()

    async def _completion(self, rec: Recorded, writer: asyncio.StreamWriter) -> None:
        step = self.script[min(len(self.requests) - 1, len(self.script) - 1)]
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.message is None:
            err: dict[str, Any] = {"error": {"message": step.error, "type": "server_error", "code": None}}
            await self._write(writer, step.status, "application/json", json.dumps(err).encode(), step.headers)
            return
        model = rec.body.get("model", "unknown")
        cid = f"chatcmpl-{next(self._ids)}"
        finish = "tool_calls" if step.message.get("tool_calls") else "stop"
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not rec.body.get("stream"):
            payload: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": step.message, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            }
            await self._write(writer, 200, "application/json", json.dumps(payload).encode())
            return
        # Streaming: one chunk per content/tool call, then finish_reason, then usage, then [DONE].
        delta: dict[str, Any] = {"role": "assistant"}
        if step.message.get("content"):
            delta["content"] = step.message["content"]
        if step.message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(step.message["tool_calls"])]
        base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
            {**base, "choices": [], "usage": usage},
        ]
        body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        await self._write(writer, 200, "text/event-stream", body)
