"""The HTTP client of the client commands (``tasks``, ``runs``, ``bots``, ``export``, ``import``): the server
at ``--url`` / ``AGENTCRON_URL`` with the secret ``--secret`` / ``AGENTCRON_SECRET``, the options every such
command takes, and the translation of every failure into a `CliError` (the server's ``message``, exit 1; a
server that cannot be reached names the URL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import httpx
import typer
from dateutil import parser as dateparser

from agentcron import __version__
from agentcron.cli.output import REFUSED, USAGE, CliError

API = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8000"
JSONL = "application/jsonl"

UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="AGENTCRON_URL", help="Address of the agentcron server.", show_default=True),
]
SecretOpt = Annotated[
    str | None,
    typer.Option(
        "--secret",
        envvar="AGENTCRON_SECRET",
        help="API secret (agentcron account create prints one).",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON: one document, or JSON lines for a stream.", show_default=False)
]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")]


def parse_when(value: str, option: str) -> int:
    """``now``, epoch milliseconds, or an ISO 8601 date or date-time (without an offset: local time) as
    epoch ms. Raises `typer.BadParameter` (exit 2)."""
    text = value.strip()
    if text.lower() == "now":
        return int(datetime.now().timestamp() * 1000)
    if text.isdecimal():
        return int(text)
    try:
        at = dateparser.isoparse(text)
    except (ValueError, OverflowError):
        raise typer.BadParameter(
            f"{value!r} is not a time: use ISO 8601 (2026-03-29T02:30, 2026-03-29T02:30:00Z), epoch ms or now",
            param_hint=option,
        ) from None
    if at.tzinfo is None:
        at = at.astimezone()  # (naive: the local time of this machine)
    return int(at.timestamp() * 1000)


def parse_meta(pairs: list[str] | None) -> dict[str, Any]:
    """``K=V`` options as a dict; ``V`` is read as JSON when it is JSON (``3``, ``true``, ``null``,
    ``{"a": 1}``), else as text. Raises `typer.BadParameter` for a pair without ``=``."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip()] = value
    return out


class Api:
    """A connection to one server. Every method raises `CliError` instead of httpx's errors."""

    def __init__(self, url: str, secret: str | None) -> None:
        if not secret or not secret.strip():
            raise CliError("no API secret: pass --secret or set AGENTCRON_SECRET", USAGE)
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise CliError(f"--url must start with http:// or https://, not {url!r}", USAGE)
        self.client = httpx.Client(
            base_url=self.url + API,
            headers={"authorization": f"Bearer {secret.strip()}", "user-agent": f"agentcron-cli/{__version__}"},
            timeout=httpx.Timeout(60.0, connect=10.0),
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def unreachable(self, e: httpx.HTTPError) -> CliError:
        reason = str(e) or type(e).__name__
        if isinstance(e, httpx.ConnectError):
            return CliError(f"cannot reach the server at {self.url} ({reason}); is it running? (--url, AGENTCRON_URL)")
        if isinstance(e, httpx.TimeoutException):
            return CliError(f"the server at {self.url} did not answer in time ({type(e).__name__})")
        return CliError(f"request to {self.url} failed: {reason}")

    @staticmethod
    def refused(r: httpx.Response) -> CliError:
        """The server's ``message`` (and the bad rows of an import) for an answer of 400 or more."""
        try:
            body = json.loads(r.read())
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message = f"{body['message']} ({r.status_code} {body.get('code') or ''})".replace(" )", ")")
            return CliError(message, REFUSED, body=body)
        text = r.text.strip()[:200] or r.reason_phrase
        return CliError(f"the server answered {r.status_code}: {text}", REFUSED)

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self.client.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise self.unreachable(e) from None
        if r.status_code >= 400:
            raise self.refused(r)
        return r

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("POST", path, json=body or {}).json()

    @contextmanager
    def stream(self, method: str, path: str, read_s: float | None = 60.0, **kw: Any) -> Iterator[httpx.Response]:
        """A streamed answer (status checked), read with a timeout of ``read_s`` between chunks."""
        timeout = httpx.Timeout(60.0, connect=10.0, read=read_s)
        try:
            with self.client.stream(method, path, timeout=timeout, **kw) as r:
                if r.status_code >= 400:
                    raise self.refused(r)
                yield r
        except httpx.HTTPError as e:
            raise self.unreachable(e) from None

    def lines(self, r: httpx.Response) -> Iterator[dict[str, Any]]:
        """The JSON objects of a JSONL answer (transport failures as `CliError`)."""
        try:
            for line in r.iter_lines():
                if line.strip():
                    value = json.loads(line)
                    if isinstance(value, dict):
                        yield value
        except httpx.HTTPError as e:
            raise self.unreachable(e) from None

    def items(self, path: str, limit: int | None, **params: Any) -> list[dict[str, Any]]:
        """Up to ``limit`` items of a list endpoint (all with None), newest first, in one streamed request."""
        query = {k: v for k, v in params.items() if v is not None}
        if limit is not None:
            query["take"] = limit
        out: list[dict[str, Any]] = []
        with self.stream("GET", path, params=query, headers={"accept": JSONL}) as r:
            for event in self.lines(r):
                if event.get("type") == "item":
                    out.append(event["data"])
                elif event.get("type") == "error":
                    data = event.get("data") or {}
                    raise CliError(f"the server stopped the list part way: {data.get('message')}")
        return out
