"""The service's own pages in real Chromium: the landing page and the offline API reference load with no
request to another origin and no JS error (the browser fixtures check both)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_fixtures import shot

pytestmark = pytest.mark.browser


def test_landing_page(page: Any) -> None:
    page.goto("/")
    assert page.title()
    shot(page, "landing")


def test_api_reference_offline(page: Any) -> None:
    page.goto("/api/v1/docs")
    page.wait_for_load_state("networkidle")
    assert "task" in page.content().lower()
    shot(page, "api-docs")
