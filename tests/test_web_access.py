"""Console sign-in, sessions and CSRF over real HTTP (both backends): the cookie's flags, a revoked secret
ending the session, a cross-site post refused with 403 and nothing done, sign-out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from agentcron.config import Settings
from agentcron.store.base import open_store
from agentcron.web.session import MAX_AGE_S, Sealer
from tests.conftest import Server, wait_until
from tests.http_helpers import API, new_task
from tests.web_helpers import Console, texts
from tests.web_helpers import console as console  # the fixture


def test_sealer_round_trip_expiry_and_key() -> None:
    a = Sealer.from_settings(Settings(session_key="one"))
    value, data = a.new("secret-1", 1_000)
    assert a.open(value, 2_000) == data
    assert a.open(value, 1_000 + MAX_AGE_S * 1000 + 1) is None  # expired
    assert Sealer.from_settings(Settings(session_key="two")).open(value, 2_000) is None
    assert a.open(value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1], 2_000) is None  # tampered
    assert a.open("not base64 at all!", 2_000) is None
    assert a.open(value, 0) is None  # from the future


def test_sign_in_page_and_bad_secret(server: Server) -> None:
    with httpx.Client(base_url=server.url) as web:
        page = web.get("/app/login")
        assert page.status_code == 200
        assert '<label for="secret">API secret</label>' in page.text and "Sign in</button>" in page.text
        r = web.post("/app/login", data={"secret": "nope"})
        assert r.status_code == 401
        assert "That API secret is not valid" in texts(r.text, "page-error")[0]
        assert "set-cookie" not in r.headers
        assert web.get("/app/tasks").status_code == 303


def test_cookie_flags_and_redirects(server: Server) -> None:
    secret = server.account()
    with httpx.Client(base_url=server.url) as web:
        r = web.get("/app/tasks?q=x")
        assert r.status_code == 303 and r.headers["location"] == "/app/login?next=/app/tasks"
        r = web.get("/app/tasks", headers={"hx-request": "true"})
        assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/app/login")
        r = web.post("/app/login", data={"secret": secret, "next": "https://evil.example/"})
        assert r.status_code == 303 and r.headers["location"] == "/app/tasks"  # never another site
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/app" in cookie
        assert "Secure" not in cookie  # plain HTTP
        assert web.get("/app/tasks").status_code == 200
        assert web.get("/app/").status_code in (301, 303, 307, 308)
    # Behind a TLS proxy on loopback (which uvicorn trusts by default): Secure.
    with httpx.Client(base_url=server.url) as web:
        r = web.post("/app/login", data={"secret": secret}, headers={"x-forwarded-proto": "https"})
        assert "Secure" in r.headers["set-cookie"]


def test_revoked_secret_ends_the_session(server: Server, console: Callable[[], Console]) -> None:
    con = console()

    async def revoke() -> None:
        store = await open_store(server.db_url, run_migrations=False)
        try:
            assert await store.accounts.revoke_token(con.secret)
        finally:
            await store.close()

    asyncio.run(revoke())
    r = wait_until(lambda: (resp := con.web.get("/app/tasks")).status_code == 303 and resp, timeout=5)
    assert r.headers["location"] == "/app/login?next=/app/tasks&ended=1"
    assert "agentcron_session=" in r.headers["set-cookie"] and "Max-Age=0" in r.headers["set-cookie"]
    page = httpx.get(server.url + r.headers["location"])
    assert "Your session ended" in texts(page.text, "page-error")[0]


def test_csrf_refused_without_token_and_from_another_origin(server: Server, console: Callable[[], Console]) -> None:
    con = console()
    bot = con.api.post(f"{API}/bot/create", json={"name": "b", "model": "test"}).json()["id"]
    task = new_task(con.api, botId=bot)
    # A cross-site form post carries the cookie (as a browser would without SameSite) but not the token.
    for data, headers in (
        ({}, {}),
        ({"csrf": "forged"}, {}),
        ({"csrf": con.csrf}, {"origin": "https://evil.example"}),
        ({"csrf": con.csrf}, {"origin": "null"}),
    ):
        r = con.web.post(f"/app/tasks/{task}/trigger", data=data, headers=headers)
        assert r.status_code == 403, (data, headers)
        assert "CSRF token" in r.text
    time.sleep(0.3)
    assert con.api.get(f"{API}/task/{task}/execution/list").json()["items"] == []  # nothing was done
    # The header form (htmx) and the same origin pass.
    r = con.web.post(f"/app/tasks/{task}/trigger", headers={"x-csrf-token": con.csrf, "origin": server.url})
    assert r.status_code == 303


def test_sign_out(console: Callable[[], Console]) -> None:
    con = console()
    assert con.web.post("/app/logout").status_code == 403  # sign-out needs the token too
    r = con.post("/app/logout")
    assert r.status_code == 303 and r.headers["location"] == "/app/login"
    assert "Max-Age=0" in r.headers["set-cookie"]
    assert con.web.get("/app/tasks").status_code == 303


@pytest.mark.parametrize("path", ["/", "/app/login"])
def test_landing_links_to_the_console(server: Server, path: str) -> None:
    r = httpx.get(server.url + path)
    assert r.status_code == 200
    if path == "/":
        assert 'href="/app/"' in r.text
    assert 'src="http' not in r.text and 'href="http' not in r.text.replace('href="/', "")


@pytest.mark.parametrize("path", ["/app/nope", "/app/tasks/x/nope", "/app/static/nope.css"])
def test_a_path_under_app_that_names_no_page_gets_the_console_404_page(server: Server, path: str) -> None:
    r = httpx.get(server.url + path)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), r.text[:200]
    assert "Not found" in r.text
    # the pages and assets next to it are untouched
    assert httpx.get(server.url + "/app/static/app.css").status_code == 200
    assert httpx.get(server.url + "/app/").status_code in (200, 303)
