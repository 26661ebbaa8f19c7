"""A whole run driven by the official JS SDK: subscribe, trigger, events, execution, conversation."""

from __future__ import annotations

import pytest

from tests.conftest import Server
from tests.test_sdk_js import run_script

pytestmark = pytest.mark.sdk


def test_js_run_end_to_end(server: Server) -> None:
    summary = run_script(server, "e2e.mjs")
    assert summary["events"] >= 8  # >= 3 model requests and 2 tool calls, each a begin/end pair
    assert summary["messages"] >= 4
