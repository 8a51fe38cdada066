"""Fixtures of the outbox tests: one real service for the folder (tests use fresh event
ids, so they do not disturb each other) and a `ServiceApi` on it.

`telemetry` is imported inside the fixtures: a conftest is loaded before typeguard installs
its import hook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.service import ServiceProcess

if TYPE_CHECKING:
    from telemetry.shell.service_api import ServiceApi


@pytest.fixture(scope="package")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = ServiceProcess(tmp_path_factory.mktemp("outbox-service") / "telemetry.sqlite").start()
    yield service
    service.stop()


@pytest.fixture(scope="package")
def shared_api(shared_service: ServiceProcess) -> Iterator[ServiceApi]:
    from telemetry.shell.service_api import ServiceApi

    api = ServiceApi(shared_service.url, read_timeout=10.0)
    yield api
    api.close()
