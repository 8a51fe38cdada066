"""The secondary export lane against a real local receiver: the post itself, retries with
backoff on 408/429/5xx and connection errors, `Retry-After`, no retry on other 4xx, a full
queue dropping with a count, the drain at close, and a lane whose thread cannot start."""

from __future__ import annotations

import email.utils
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from telemetry.shell.config import TelemetryConfig
from telemetry.wire.format import record_to_wire
from tests.shell.helpers import ClientFactory
from tests.support.waiting import eventually
from tests.support.receiver import HANG, Receiver, Reply, Request, closed_port_url


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


def http_date(seconds_from_now: float) -> str:
    """An HTTP-date (whole seconds, so up to a second earlier than asked)."""
    return email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now), usegmt=True)


def throttle_first(retry_after: Callable[[], str]) -> Callable[[Request], Reply]:
    """Replies 429 with `Retry-After: retry_after()` (made when the request arrives) to the
    first request, 200 to the others."""
    seen: list[Request] = []

    def reply(request: Request) -> Reply:
        seen.append(request)
        return Reply(429, {"detail": "slow down"}, {"Retry-After": retry_after()}) if len(seen) == 1 else Reply(200)

    return reply


@pytest.mark.parametrize("retry_after", [lambda: "1", lambda: http_date(2.0)], ids=["delta-seconds", "http-date"])
def test_retry_after_is_honoured_then_the_post_succeeds(retry_after: Callable[[], str], make_client: ClientFactory) -> None:
    with Receiver(throttle_first(retry_after)) as receiver:
        client = make_client(closed_port_url(), export_url=receiver.url)
        client.end_run(client.start_run("agent", "job"))
        first, second = receiver.wait_for(2)
        assert eventually(lambda: client.self_metrics().get("export.delivered")) == 1
    assert first.json() == second.json()
    assert second.received_at - first.received_at >= 0.9  # waited what Retry-After asked
    assert client.self_metrics()["export.retries"] == 1


def test_a_retry_after_date_in_the_past_means_retry_now(make_client: ClientFactory) -> None:
    with Receiver(throttle_first(lambda: http_date(-3600.0))) as receiver:
        client = make_client(closed_port_url(), export_url=receiver.url)
        client.end_run(client.start_run("agent", "job"))
        first, second = receiver.wait_for(2)
    assert second.received_at - first.received_at < 1.0  # the backoff (0.05 s) alone, not an hour


def test_retries_back_off_exponentially_and_each_lane_jitters(make_client: ClientFactory, tmp_path: Path) -> None:
    with Receiver(Reply(503)) as one, Receiver(Reply(503)) as other:
        for number, receiver in enumerate((one, other)):
            client = make_client(
                closed_port_url(), base_dir=tmp_path / str(number), export_url=receiver.url,
                export_backoff_s=0.1, export_max_attempts=5,
            )
            client.end_run(client.start_run("agent", "job"))
        arrivals = [[request.received_at for request in receiver.wait_for(5)] for receiver in (one, other)]
    gaps = [[later - earlier for earlier, later in zip(times, times[1:])] for times in arrivals]
    for lane in gaps:
        assert len(lane) == 4
        # 0.1 s doubling, plus up to 0.1 s of jitter; a busy machine only makes gaps longer.
        assert all(gap >= 0.1 * 2**n - 0.01 for n, gap in enumerate(lane)), lane
        assert lane[3] > lane[0] + 0.4, lane
    # The same schedule in both lanes, yet different gaps: the jitter of each retry
    # (the chance that 4 of them all agree within 5 ms is about 1 in 10^4).
    assert max(abs(mine - theirs) for mine, theirs in zip(*gaps)) > 0.005, gaps


def test_server_errors_and_timeouts_are_retried_with_backoff(make_client: ClientFactory) -> None:
    with Receiver(Reply(200)) as receiver:
        receiver.script(Reply(500), Reply(503), Reply(408))
        client = make_client(closed_port_url(), export_url=receiver.url)
        client.end_run(client.start_run("agent", "job"))
        assert len(receiver.wait_for(4)) == 4
        assert eventually(lambda: client.self_metrics().get("export.delivered")) == 1
    assert client.self_metrics()["export.retries"] == 3


def test_other_client_errors_are_never_retried(make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    with Receiver(Reply(400, {"detail": "bad sheet"})) as receiver, caplog.at_level(logging.DEBUG, logger="telemetry"):
        client = make_client(closed_port_url(), export_url=receiver.url)
        client.end_run(client.start_run("agent", "job"))
        assert eventually(lambda: "Google Sheets API post failed: HTTP 400" in caplog.text)
        assert client.self_metrics()["export.refused"] == 1
        client.close()
        assert len(receiver.requests) == 1
    assert "export.retries" not in client.self_metrics()


def test_connection_errors_are_retried_until_the_attempts_run_out(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(closed_port_url(), export_url=closed_port_url(), export_max_attempts=3)
    with caplog.at_level(logging.DEBUG, logger="telemetry"):
        client.end_run(client.start_run("agent", "job"))
        assert eventually(lambda: "Google Sheets API post failed: ConnectError" in caplog.text)
    assert client.self_metrics()["export.failed"] == 1 and client.self_metrics()["export.retries"] == 2
    [record] = [record for record in caplog.records if "Google Sheets" in record.getMessage()]
    assert record.levelno == logging.DEBUG  # the export is fire-and-forget: debug, as the spec says


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


def _no_thread_to_be_had(self: threading.Thread) -> None:
    raise RuntimeError("can't start new thread")


def test_a_run_queued_when_no_thread_can_start_is_posted_once_one_can(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver(Reply(200, {"ok": True})) as receiver:
        client = make_client(closed_port_url(), export_url=receiver.url)
        with monkeypatch.context() as refused:
            # What CPython raises when the OS refuses a thread (tests/shell/test_client_last_resort.py).
            refused.setattr(threading.Thread, "start", _no_thread_to_be_had)
            first = client.start_run("agent", "job")
            client.end_run(first)
        second = client.start_run("agent", "job")
        client.end_run(second)
        posted = receiver.wait_for(2)
    assert sorted(request.json()["run_id"] for request in posted) == sorted([first, second])
    metrics = client.self_metrics()
    assert metrics["errors.export.thread_start"] == 1 and "export.failed" not in metrics
    assert not [name for name in metrics if name.startswith("errors.PostSheets")]


def test_a_run_queued_when_no_thread_ever_starts_is_counted_dropped_at_close(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver(Reply(200, {"ok": True})) as receiver:
        client = make_client(closed_port_url(), export_url=receiver.url)
        monkeypatch.setattr(threading.Thread, "start", _no_thread_to_be_had)
        client.end_run(client.start_run("agent", "job"))
        client.close(budget_s=0.3)
        monkeypatch.undo()
        assert receiver.requests == []
    metrics = client.self_metrics()
    assert metrics["export.dropped_at_exit"] == 1 and metrics["errors.export.thread_start"] == 2
