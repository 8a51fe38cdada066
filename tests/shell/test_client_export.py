"""The secondary export lane against a real local receiver: the post itself, retries with
backoff on 408/429/5xx and connection errors, `Retry-After`, no retry on other 4xx, a full
queue dropping with a count, and the drain at close."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.shell.config import TelemetryConfig
from telemetry.shell.wire import record_to_wire
from tests.shell.helpers import ClientFactory
from tests.support.waiting import eventually
from tests.support.receiver import HANG, Receiver, Reply, closed_port_url


def test_an_ended_run_is_posted_with_the_bearer_token(make_client: ClientFactory, tmp_path: Path) -> None:
    with Receiver(Reply(200, {"ok": True})) as receiver:
        client = make_client(closed_port_url(), export_url=receiver.url + "/sheets", export_token="sheet-token")
        run_id = client.start_run("agent", "job", items_discovered=3)
        client.end_run(run_id, items_succeeded=3)
        [request] = receiver.wait_for(1)
    assert (request.method, request.path) == ("POST", "/sheets")
    assert request.headers["authorization"] == "Bearer sheet-token"
    body = request.json()
    assert body["run_id"] == run_id and body["status"] == "success" and body["items_succeeded"] == 3
    assert set(body) == set(record_to_wire_keys())
    assert eventually(lambda: client.self_metrics().get("export.delivered")) == 1


@pytest.mark.parametrize(
    ("environ", "authorization"),
    [({}, None), ({"METRICS_API_TOKEN": "sheet-token"}, "Bearer sheet-token")],
    ids=["service-token-only", "own-token"],
)
def test_the_export_carries_only_its_own_token_never_the_services(
    environ: dict[str, str], authorization: str | None, make_client: ClientFactory
) -> None:
    with Receiver(Reply(200)) as receiver:
        config = TelemetryConfig.from_env(
            {"TELEMETRY_API_TOKEN": "service-token", "METRICS_API_URL": receiver.url, "METRICS_API_ENABLED": "1", **environ}
        )
        client = make_client(
            closed_port_url(), api_token=config.api_token, export_url=config.export_url, export_token=config.export_token
        )
        client.end_run(client.start_run("agent", "job"))
        [request] = receiver.wait_for(1)
    assert request.headers.get("authorization") == authorization


def record_to_wire_keys() -> list[str]:
    from telemetry.effects.records import RunRecord

    return list(record_to_wire(RunRecord("e", "r", "a", "j", "2024-01-01T00:00:00+00:00")))


def test_no_export_without_a_url_or_when_disabled(make_client: ClientFactory) -> None:
    with Receiver() as receiver:
        disabled = make_client(closed_port_url(), export_url=receiver.url, export_enabled=False)
        disabled.end_run(disabled.start_run("agent", "job"))
        disabled.close()
        assert receiver.requests == []
    assert not TelemetryConfig(export_url=None).export_active


def test_retry_after_is_honoured_then_the_post_succeeds(make_client: ClientFactory) -> None:
    with Receiver(Reply(200)) as receiver:
        receiver.script(Reply(429, {"detail": "slow down"}, {"Retry-After": "1"}))
        client = make_client(closed_port_url(), export_url=receiver.url)
        client.end_run(client.start_run("agent", "job"))
        first, second = receiver.wait_for(2)
        assert eventually(lambda: client.self_metrics().get("export.delivered")) == 1
    assert first.json() == second.json()
    assert second.received_at - first.received_at >= 0.9  # waited what Retry-After asked
    assert client.self_metrics()["export.retries"] == 1


def test_server_errors_and_timeouts_are_retried_with_backoff(make_client: ClientFactory) -> None:
    with Receiver(Reply(200)) as receiver:
        receiver.script(Reply(500), Reply(503), Reply(408))
        client = make_client(closed_port_url(), export_url=receiver.url)
        client.end_run(client.start_run("agent", "job"))
        assert len(receiver.wait_for(4)) == 4
        assert eventually(lambda: client.self_metrics().get("export.delivered")) == 1
    assert client.self_metrics()["export.retries"] == 3


def test_other_client_errors_are_never_retried(make_client: ClientFactory) -> None:
    with Receiver(Reply(400, {"detail": "bad sheet"})) as receiver:
        client = make_client(closed_port_url(), export_url=receiver.url)
        client.end_run(client.start_run("agent", "job"))
        assert eventually(lambda: client.self_metrics().get("export.refused")) == 1
        client.close()
        assert len(receiver.requests) == 1
    assert "export.retries" not in client.self_metrics()


def test_connection_errors_are_retried_until_the_attempts_run_out(make_client: ClientFactory) -> None:
    client = make_client(closed_port_url(), export_url=closed_port_url(), export_max_attempts=3)
    client.end_run(client.start_run("agent", "job"))
    assert eventually(lambda: client.self_metrics().get("export.failed")) == 1
    assert client.self_metrics()["export.retries"] == 2


def test_a_full_lane_drops_with_a_count_and_close_counts_what_is_left(make_client: ClientFactory) -> None:
    with Receiver(HANG) as receiver:
        client = make_client(closed_port_url(), export_url=receiver.url, export_queue_size=2, export_timeout_s=5.0)
        client.end_run(client.start_run("agent", "job"))
        receiver.wait_for(1)
        for _ in range(5):
            client.end_run(client.start_run("agent", "job"))
        client.close(budget_s=0.3)
        metrics = client.self_metrics()
    # One in flight (hung), two queued, three dropped at once; the three left at close.
    assert metrics["export.dropped_queue_full"] == 3
    assert metrics["export.dropped_at_exit"] == 3
