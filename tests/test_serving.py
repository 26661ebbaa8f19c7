"""The HTTP server's own limits on a real server process: a request must arrive whole within
``AGENTCRON_REQUEST_TIMEOUT_MS`` of its first byte (else 408 with the JSON envelope, and the connection
closes), an idle new connection is closed after that long, and ``AGENTCRON_MAX_CONNECTIONS`` caps the
connections a process holds (503 beyond). Backend-independent: run on SQLite."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, new_account, start_server, stop_server

TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db: Path = tmp_path_factory.mktemp("serving") / "agentcron.db"
    env = {"AGENTCRON_REQUEST_TIMEOUT_MS": str(int(TIMEOUT_S * 1000)), "AGENTCRON_MAX_CONNECTIONS": "8"}
    server = start_server(f"sqlite:///{db}", "--role", "api", env=env)
    yield server
    stop_server(server)


def _connect(srv: Server) -> socket.socket:
    host, port = srv.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def _response(sock: socket.socket) -> bytes:
    """One whole response (head and a content-length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _timed_out(response: bytes) -> None:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), response
    assert json.loads(body) == {
        "message": "Request timeout: the request did not arrive in time; send it whole",
        "code": "REQUEST_TIMEOUT",
    }


def test_a_body_trickled_byte_by_byte_gets_408_and_the_connection_closes(srv: Server) -> None:
    secret = new_account(srv.db_url, "slow")
    start = time.monotonic()  # (before connecting: the server's deadline starts when it accepts)
    with _connect(srv) as sock:
        sock.sendall(
            b"POST /api/v1/task/create HTTP/1.1\r\nhost: x\r\nauthorization: Bearer " + secret.encode() + b"\r\n"
            b"content-type: application/json\r\ncontent-length: 100\r\n\r\n{"
        )
        sock.settimeout(0.4)
        response = b""
        while time.monotonic() - start < 10:  # one byte every 0.4 s: it never completes by itself
            try:
                response += sock.recv(65536)
                if not response or response.endswith(b"}"):
                    break
            except TimeoutError:
                sock.sendall(b" ")
        elapsed = time.monotonic() - start
    _timed_out(response)
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 2, elapsed


def test_slow_headers_get_408_too(srv: Server) -> None:
    start = time.monotonic()  # (before connecting: the server's deadline starts when it accepts)
    with _connect(srv) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")  # the headers never end
        response = _read_all(sock)
        elapsed = time.monotonic() - start
    _timed_out(response)
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 2, elapsed


def test_a_connection_that_sends_nothing_is_closed(srv: Server) -> None:
    with _connect(srv) as sock:
        start = time.monotonic()
        response = _read_all(sock)
        elapsed = time.monotonic() - start
    _timed_out(response)
    assert elapsed < TIMEOUT_S + 2, elapsed


@pytest.mark.parametrize(
    "request_",
    [
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n",
        b"NOT A REQUEST\r\n\r\n",
        b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n",
    ],
    ids=["bad-header", "bad-request-line", "overlong-url"],
)
def test_requests_the_parser_refuses_get_the_json_envelope(srv: Server, request_: bytes) -> None:
    with _connect(srv) as sock:
        sock.sendall(request_)
        response = _read_all(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), response[:200]
    assert json.loads(body)["code"] == "BAD_REQUEST"


def test_prompt_requests_on_a_kept_alive_connection_are_unaffected(srv: Server) -> None:
    with _connect(srv) as sock:
        for _ in range(3):  # each well within the deadline, the whole exchange longer than it
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            response = _response(sock)
            assert response.startswith(b"HTTP/1.1 200 ") and response.endswith(b"}"), response
            time.sleep(TIMEOUT_S / 2)


def test_a_kept_alive_connection_that_trickles_bytes_between_requests_is_closed(srv: Server) -> None:
    """A bare CRLF after a response starts no request (and cancels uvicorn's keep-alive timer): the
    deadline covers it, so the connection cannot be held open for free."""
    with _connect(srv) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        assert _response(sock).startswith(b"HTTP/1.1 200 ")
        start = time.monotonic()
        sock.sendall(b"\r\n")
        rest = _read_all(sock)
        elapsed = time.monotonic() - start
    assert rest == b"" and elapsed < TIMEOUT_S + 2, (rest, elapsed)


def test_connections_beyond_the_cap_get_503(srv: Server) -> None:
    idle = [_connect(srv) for _ in range(8)]
    try:
        time.sleep(0.2)
        with _connect(srv) as sock:
            response = _read_all(sock)  # answered and closed as soon as it connects
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), response
        assert json.loads(body)["code"] == "SERVICE_UNAVAILABLE"
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    with _connect(srv) as sock:  # room again once they are gone
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
