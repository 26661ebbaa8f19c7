"""Conformance: the official npm SDK (@chatbotkit/sdk 1.36.x) against a real agentcron, on both stores.

Each test runs one script from tests/sdk/ with ``node``; the script drives the SDK against BASE_URL with a
fresh account's SECRET, asserts with node:assert and prints a JSON summary as its last stdout line.
Node and ``npm ci`` in tests/sdk are prerequisites: absent, the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Server, missing

pytestmark = pytest.mark.sdk

SDK_DIR = ROOT / "tests" / "sdk"
SDK_PACKAGE = SDK_DIR / "node_modules" / "@chatbotkit" / "sdk" / "package.json"


def run_script(
    server: Server, script: str, extra_env: dict[str, str] | None = None, timeout: float = 60
) -> dict[str, Any]:
    """Run ``tests/sdk/<script>`` against ``server``; fail with its output unless it exits 0.

    Returns the JSON summary the script printed last.
    """
    node = shutil.which("node")
    if node is None:
        missing("node is not installed (Node 20+ runs the JS SDK conformance scripts)")
    if not SDK_PACKAGE.exists():
        missing("tests/sdk/node_modules is missing: run `cd tests/sdk && npm ci`")
    version = json.loads(SDK_PACKAGE.read_text())["version"]
    assert version.startswith("1.36."), f"@chatbotkit/sdk {version} installed, the suite targets 1.36.x"
    env = {**os.environ, "BASE_URL": server.url, "SECRET": server.account("sdk-js"), **(extra_env or {})}
    proc = subprocess.run(
        [str(node), str(Path(SDK_DIR, script))],
        cwd=SDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr}\n{proc.stdout}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"{script} printed no summary"
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def test_tasks(server: Server) -> None:
    """task.create/list (take, order, cursor, botId, contactId, status, meta)/list().stream()/fetch/
    update (partial, meta replace + $update)/delete/export (JSON, JSONL, CSV via client headers) and
    contact.task.list."""
    summary = run_script(server, "tasks.mjs")
    assert summary["tasks"] == 109
    assert "meta" in summary["csvColumns"]


def test_bots_and_contacts(server: Server) -> None:
    """bot.* and contact.* create/list/list().stream()/fetch/update/delete, and what deleting does to tasks."""
    summary = run_script(server, "resources.mjs")
    assert summary["bots"] >= 3
    assert summary["contacts"] >= 3


def test_fetch_errors(server: Server) -> None:
    """FetchError codes and messages: 404 NOT_FOUND, 401 NOT_AUTHENTICATED, 400 BAD_REQUEST; never 5xx."""
    summary = run_script(server, "errors.mjs")
    assert summary["checked"] >= 20


def test_accounts_are_isolated(server: Server) -> None:
    """Another account's tasks, bots and contacts are 404 and absent from lists and exports."""
    summary = run_script(server, "isolation.mjs", {"SECRET_B": server.account("sdk-js-b")})
    assert summary["foreignChecked"] >= 10
