"""Fixtures of the outbox tests: the sync tests' real service for the folder (tests use
fresh event ids, so they do not disturb each other) and a `ServiceApi` on it."""

from tests.sync.conftest import shared_api, shared_service  # noqa: F401 (fixtures)
