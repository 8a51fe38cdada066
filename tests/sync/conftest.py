"""Fixtures of the sync tests: one real service for the whole folder, for the tests that
only look at their own rows (each uses fresh event ids or agent names), and a `ServiceApi`.

`telemetry` is imported inside the fixtures: a conftest is loaded before typeguard installs
its import hook, and a module imported that early would go unchecked for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.delivery import delivery  # noqa: F401 (a fixture of these tests)
from tests.support.service import ServiceProcess

if TYPE_CHECKING:
    from telemetry.shell.service_api import ServiceApi


@pytest.fixture(scope="package")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = ServiceProcess(tmp_path_factory.mktemp("sync-service") / "telemetry.sqlite").start()
    yield service
    service.stop()


@pytest.fixture(scope="package")
def shared_api(shared_service: ServiceProcess) -> Iterator[ServiceApi]:
    from telemetry.shell.service_api import ServiceApi

    api = ServiceApi(shared_service.url, read_timeout=10.0)
    yield api
    api.close()
