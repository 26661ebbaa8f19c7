"""Browser-test fixtures (a pytest plugin loaded by conftest): real headless Chromium driven by sync Playwright
against the real service on loopback.

- `chromium`: one browser for the session, Debian's ``/usr/bin/chromium`` (``CHROMIUM`` overrides), headless.
  Missing browser or Playwright: the test skips with the reason on a laptop and FAILS under CI=true.
- `console_server`: ``agentcron serve`` (all roles) on a temp SQLite file (conftest's `sqlite_server`);
  `console_secret`: an account's API secret on it (tests that need isolation create their own account).
- `guard` + `page`: a fresh browser context per test, every request it makes recorded; after the test it
  fails if any request went to an origin other than the server's (or one the test allowed with
  `Guard.allow`) or if the page logged a JS console error or threw (`Guard.expect_error` for the ones a
  test provokes on purpose).
- `shot(page, name)`: a full-page screenshot saved as a test artifact in ``$AGENTCRON_ARTIFACTS`` (default
  ``tests/artifacts/``, ignored by git).

Browser tests carry the ``browser`` marker; conftest runs them after every other test: once the session's
Playwright has started, its event loop counts as running on the main thread (it is parked in a greenlet), so
``asyncio.run`` and the anyio tests could no longer run there. For the same reason a browser test calls
async helpers on another thread (`account_secret`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT, Server, missing, new_account

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("AGENTCRON_ARTIFACTS") or ROOT / "tests" / "artifacts")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The session's headless Chromium (a ``playwright.sync_api.Browser``)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        missing(f"Python Playwright is not installed ({e}); run make install-test")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"no Chromium at {CHROMIUM} (make install-test installs Debian's chromium when run as root)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def console_server(sqlite_server: Server) -> Server:
    """The real service, every role, on a temp SQLite file and a loopback port: the session's `sqlite_server`
    (tests isolate by account)."""
    return sqlite_server


def account_secret(server: Server, name: str = "console") -> str:
    """A new account's API secret. Made on another thread: sync Playwright keeps its event loop running on
    this one (parked in a greenlet), where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(new_account, server.db_url, name).result()


@pytest.fixture(scope="session")
def console_secret(console_server: Server) -> str:
    return account_secret(console_server)


@dataclass
class Guard:
    """What the page of a test did: every request URL, console errors and uncaught exceptions."""

    home: str
    allowed: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: "status url" of every response >= 400 (to say which resource a "Failed to load resource" error was)
    failed: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def console(self, kind: str, text: str, url: str) -> None:
        # The browser's own /favicon.ico probe (a page without an icon link) is not the page's error.
        if kind == "error" and not urlsplit(url).path == "/favicon.ico":
            self.errors.append(f"console: {text} ({url})")

    def allow(self, url: str) -> None:
        """Let the page talk to ``url``'s origin too (a second origin a test serves on purpose)."""
        self.allowed.add(origin(url))

    def expect_error(self, pattern: str) -> None:
        """A console error matching ``pattern`` (a regex) is provoked on purpose: do not fail on it."""
        self.expected.append(re.compile(pattern))

    def foreign(self) -> list[str]:
        ok = {self.home, *self.allowed}
        web = ("http", "https", "ws", "wss")  # (data:, blob: and about: stay in the page)
        return [u for u in self.requests if urlsplit(u).scheme in web and origin(u) not in ok]

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


@pytest.fixture
def guard(console_server: Server) -> Guard:
    return Guard(origin(console_server.url))


@pytest.fixture
def page(chromium: Any, console_server: Server, guard: Guard) -> Iterator[Any]:
    """A page in a fresh context (no cookies), its base URL the console server; checked after the test."""
    # The viewer's zone differs from UTC and from the tasks' zones, so pages show both where they should.
    context = chromium.new_context(
        base_url=console_server.url, viewport={"width": 1280, "height": 800}, timezone_id="America/New_York"
    )
    context.set_default_timeout(10_000)
    pg = context.new_page()
    pg.on("request", lambda r: guard.requests.append(r.url))
    pg.on("response", lambda r: guard.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    pg.on("console", lambda m: guard.console(m.type, m.text, m.location.get("url", "")))
    pg.on("pageerror", lambda e: guard.errors.append(f"pageerror: {e}"))
    try:
        yield pg
    finally:
        context.close()
    foreign = guard.foreign()
    errors = guard.unexpected_errors()
    if foreign or errors:
        pytest.fail(
            f"requests to other origins: {foreign}; JS errors: {errors}; responses >= 400: {guard.failed}",
            pytrace=False,
        )


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as ``<artifacts>/<name>.png``; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
