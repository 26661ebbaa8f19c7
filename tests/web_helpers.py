"""Console test helpers: a signed-in browser-like client (cookies kept, redirects not followed)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Server

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Console:
    """A signed-in console session: ``web`` carries the cookie, ``api`` the bearer secret."""

    web: httpx.Client
    api: httpx.Client
    csrf: str
    secret: str

    def post(self, path: str, **data: str) -> httpx.Response:
        return self.web.post(path, data={"csrf": self.csrf, **data})

    def close(self) -> None:
        self.web.close()
        self.api.close()


def sign_in(server: Server, secret: str | None = None) -> Console:
    secret = secret or server.account()
    web = httpx.Client(base_url=server.url, timeout=10)
    r = web.post("/app/login", data={"secret": secret})
    assert r.status_code == 303, r.text
    page = web.get("/app/tasks")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return Console(web, server.client(secret), found.group(1), secret)


def texts(html: str, element_id: str) -> list[str]:
    """The text directly inside the elements with this id (no nested markup)."""
    return re.findall(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)<', html)


@pytest.fixture
def console(server: Server) -> Iterator[Callable[[], Console]]:
    """Sign in fresh accounts on `server` (each backend): ``console()`` -> a `Console`, closed after the test."""
    opened: list[Console] = []

    def open_one() -> Console:
        con = sign_in(server)
        opened.append(con)
        return con

    yield open_one
    for con in opened:
        con.close()
