"""OpenAPI-driven fuzzing (schemathesis) of the running service: whatever the generated
request, the service never answers 5xx, its answers use documented status codes and
content types, and the process is still healthy afterwards.

The schema is built in-process at collection time (the served /openapi.json is checked to
be the same), because schemathesis' fixture-based lazy loading breaks on pytest 9."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from telemetry.service.app import create_api
from telemetry.service.config import build_config
from telemetry.service.sqlite_store import SqliteStore
from tests.support.service import ServiceFactory, ServiceProcess

_UNOPENED = Path("/nonexistent/never-opened.sqlite")
_OPENAPI = create_api(build_config(db_path=_UNOPENED, env={}), SqliteStore(_UNOPENED)).openapi()
schema = schemathesis.openapi.from_dict(_OPENAPI)


@pytest.fixture(scope="module")
def fuzzed(module_service_factory: ServiceFactory) -> ServiceProcess:
    """A service of its own: the fuzzer sweeps and patches whatever it likes."""
    return module_service_factory()


def test_the_served_schema_is_the_fuzzed_one(fuzzed: ServiceProcess) -> None:
    with fuzzed.client() as client:
        assert client.get("/openapi.json").json() == _OPENAPI


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_is_a_server_error(case: schemathesis.Case[Any], fuzzed: ServiceProcess) -> None:
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    case.call_and_validate(base_url=fuzzed.url, checks=checks)


def test_the_service_survived_the_fuzzing(fuzzed: ServiceProcess) -> None:
    assert fuzzed.is_running()
    with fuzzed.client() as client:
        assert client.get("/health").json()["status"] == "ok"
    assert "Traceback" not in fuzzed.stderr_text()
