"""The served OpenAPI document, attacked with schemathesis: every operation, a valid secret, seeded and bounded
examples; any server error, undeclared status code, or response that does not match its declared schema fails.
(On SQLite: the document and the handlers are the same on both backends.)

Each operation runs as its own hypothesis test inside one pytest test (schemathesis' pytest plugin does not
run under this pytest), and every operation's failure is reported, not only the first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks

from tests.conftest import Server, new_account, start_server, stop_server

#: examples per operation and mode (seeded: the same cases every run). 20 keeps the whole document's run
#: to about two minutes on a quiet 2-core machine; 50 overran the 600 s limit under load, and a limit
#: hit mid-case reads to hypothesis as a flaky failure
EXAMPLES = 20
#: what must hold for every generated request. (Not the checks that send their own credentials: the secret
#: is a fixed header here, which they cannot tell from one they generated.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    db: Path = tmp_path_factory.mktemp("schemathesis") / "agentcron.db"
    server = start_server(f"sqlite:///{db}", "--role", "api")
    try:
        yield server, new_account(server.db_url, "fuzz")
    finally:
        stop_server(server)


def _fuzz(operation: Any, mode: schemathesis.GenerationMode) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


@pytest.mark.timeout(600)  # (about 40 operations, 100 requests each: minutes on a busy machine)
def test_every_operation_keeps_its_documented_contract(api: tuple[Server, str]) -> None:
    server, secret = api
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    schema.config.update(base_url=server.url, headers={"authorization": f"Bearer {secret}"})
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in schemathesis.GenerationMode:  # schema-valid requests, and requests that break the schema
            try:
                _fuzz(operation, mode)
            except Unsatisfiable:  # nothing of the operation can break its schema (a path of ids only)
                continue
            except (Exception, BaseExceptionGroup) as e:  # (the minimal failing cases, grouped by schemathesis)
                failures.append(f"{operation.label} ({mode.value}): {str(e)[:2000]}")
    assert operations >= 30, operations
    assert not failures, "\n\n".join(failures)
