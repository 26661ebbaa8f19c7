"""A fake webhook receiver speaking real HTTP on loopback (a thread): it records every request (headers and
raw body) and answers from a script of statuses (the last repeats), optionally slowly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    url: str
    statuses: list[int]
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            n = len(self.requests)
        return self.statuses[min(n - 1, len(self.statuses) - 1)]


@contextmanager
def receiver(
    statuses: list[int] | None = None, delay: float = 0.0, port: int = 0, headers: dict[str, str] | None = None
) -> Iterator[Receiver]:
    """A receiver at ``http://127.0.0.1:<port>/hook`` (any free port by default) answering ``statuses`` in turn
    (default: 204s), with ``headers`` on every answer."""
    state = Receiver("", statuses or [204], delay)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with state.lock:
                state.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body, time.time()))
            if state.delay:
                time.sleep(state.delay)
            status = state.next_status()
            # (a 204 carries no body: bytes after it would be read as the next answer on the kept-alive connection)
            body = b"" if status == 204 else b"ok"
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
