"""The delivery modes the client, sync and chaos tests run in: the fixture `delivery` is each
mode in turn (a test that asks for it, or for `make_client`, runs once per mode). It sets
`TELEMETRY_DELIVERY` for clients configured from the environment (agent processes) and the
mode of `fast_config`; a test that builds its own `TelemetryConfig` passes
`delivery=delivery`. Runs in background mode are not in the service when `end_run` returns:
a test that reads the service first calls `client.flush()`. Where what a test checks is one
mode's own mechanism (sync mode's breaker, a caller waiting on a hung service), the test
names that mode itself (`make_client_in(..., delivery="sync")`) and runs once; nothing is
skipped in either mode."""

from __future__ import annotations

import pytest

MODES = ("sync", "background")


@pytest.fixture(params=MODES)
def delivery(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    from tests.shell.helpers import FAST

    mode: str = request.param
    monkeypatch.setenv("TELEMETRY_DELIVERY", mode)
    monkeypatch.setitem(FAST, "delivery", mode)
    return mode
