"""The HTTP server's own limits, below the application: how long a request may take to arrive, and how many
connections a process holds.

A client that trickles a request (one byte every few seconds, headers or body) would otherwise hold its
connection and a slot of the server for as long as it likes. `deadline_protocol` gives uvicorn a protocol
that requires each request to arrive whole, request line to last body byte, within a time from its first
byte (and a new connection to start one within that time): past it, the client gets a 408 with the JSON
error envelope and the connection is closed. The same protocol caps the connections a process holds (one
beyond the cap gets a 503 and is closed) and answers a request the parser refuses (a bad request line or
header) with a 400 in the JSON envelope instead of uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _closing_response(status: bytes, message: str, code: str) -> bytes:
    """A whole JSON error response that closes the connection (written straight to the transport)."""
    body = json.dumps({"message": message, "code": code}).encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


REQUEST_TIMEOUT_RESPONSE = _closing_response(
    b"408 Request Timeout", "Request timeout: the request did not arrive in time; send it whole", "REQUEST_TIMEOUT"
)
BAD_REQUEST_RESPONSE = _closing_response(
    b"400 Bad Request",
    "Invalid HTTP request: the request line or a header could not be parsed (or is too long)",
    "BAD_REQUEST",
)
OVER_CAPACITY_RESPONSE = _closing_response(
    b"503 Service Unavailable",
    "Service unavailable: this server holds as many connections as it may; retry shortly",
    "SERVICE_UNAVAILABLE",
)


#: bytes per second a request body must keep up, at least, past its first `request_timeout_s`
MIN_BODY_RATE = 64 * 1024


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus the arrival deadline of each request (`request_timeout_s`)."""

    request_timeout_s: float = 30.0  # (0: no deadline)
    #: connections the process holds at most (0: no cap)
    max_connections: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float | None = None) -> None:
        self._disarm()
        if self.request_timeout_s > 0:
            self._deadline = self.loop.call_later(seconds or self.request_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
            if cycle is not None:
                cycle.response_started = cycle.response_complete = True  # the app must not answer too
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_connections and len(self.connections) > self.max_connections:
            transport.write(OVER_CAPACITY_RESPONSE)
            transport.close()
            return
        self._arm()  # a first request must begin (and arrive) in time too

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        self.transport.write(BAD_REQUEST_RESPONSE)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        # Bytes between requests (a kept-alive connection) that start no request, e.g. a bare CRLF, cancel
        # uvicorn's keep-alive timer without `on_message_begin` ever running: they start a deadline too.
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # this request's own deadline, from its first byte

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # A large body gets time by its size on top (at `MIN_BODY_RATE`): a 64 MiB import on an ordinary
        # uplink is not a slow client.
        for name, value in self.headers:
            if name == b"content-length" and value.isdigit() and int(value) > MIN_BODY_RATE:
                self._arm(self.request_timeout_s + int(value) / MIN_BODY_RATE)
                break

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def deadline_protocol(request_timeout_s: float, max_connections: int = 0) -> type[HttpToolsProtocol]:
    """`DeadlineProtocol` with this deadline and connection cap (uvicorn takes a protocol class)."""
    attrs = {"request_timeout_s": request_timeout_s, "max_connections": max_connections}
    return type("DeadlineProtocol", (DeadlineProtocol,), attrs)
