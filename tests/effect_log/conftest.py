"""Fixtures of the effect-log tests: one real service shared by a module's tests (each
test adds rows under its own run ids only)."""

from __future__ import annotations

import pytest

from tests.support.service import ServiceFactory, ServiceProcess


@pytest.fixture(scope="module")
def shared_service(module_service_factory: ServiceFactory) -> ServiceProcess:
    return module_service_factory()
