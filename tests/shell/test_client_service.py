"""The public client against the real service: every method of the spec, its messages,
return shapes and invariants, with what the service stored checked over HTTP."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest

from telemetry import RunContext, RunIDMetrics, TelemetryClient, TelemetryConfig
from tests.shell.helpers import ClientFactory, buffer_entries, ndjson_lines, on_disk, stored_runs
from tests.support.waiting import eventually
from tests.support.service import ServiceFactory, ServiceProcess


def only_row(service: ServiceProcess, run_id: str) -> dict[str, object]:
    rows = stored_runs(service.url, run_id)
    assert len(rows) == 1, rows
    return rows[0]


def test_public_names_import_from_the_package() -> None:
    import telemetry

    assert {"TelemetryClient", "TelemetryConfig", "RunContext", "RunIDMetrics"} <= set(telemetry.__all__)
    assert TelemetryClient.__module__ == "telemetry.shell.client"


def test_start_and_end_are_stored_with_their_fields(shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(shared_service.url)
    run_id = client.start_run("hugo-translator", "translate", trigger_type="scheduler", product="words", items_discovered=4, batch="b7")
    client.log_event(run_id, "checkpoint", {"step": 1})
    client.end_run(run_id, status="failed", items_succeeded=3, items_failed=1, error_summary="one page", pages=9)
    assert client.flush(10.0)  # background mode: delivered by now

    row = only_row(shared_service, run_id)
    assert row["agent_name"] == "hugo-translator" and row["trigger_type"] == "scheduler"
    assert row["status"] == "failure" and row["product"] == "words"
    assert (row["items_discovered"], row["items_succeeded"], row["items_failed"]) == (4, 3, 1)
    assert row["context_json"] == {"batch": "b7"} and row["metrics_json"] == {"pages": 9}
    assert row["end_time"] is not None and isinstance(row["duration_ms"], int)
    assert buffer_entries(tmp_path / "base" / "buffer") == []
    client.flush()
    kinds = [(line["kind"], line["run_id"]) for line in ndjson_lines(tmp_path / "base" / "ndjson")]
    assert kinds == [("run_start", run_id), ("event", run_id), ("run_end", run_id)]


def test_generated_run_id_has_the_spec_format(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    run_id = make_client(shared_service.url).start_run("my-agent", "job")
    stamp, agent, suffix = run_id[:16], run_id[17:25], run_id[26:]
    assert stamp[8] == "T" and stamp.endswith("Z") and agent == "my-agent" and len(suffix) == 8


GENERATED_RUN_ID = re.compile(r"\d{8}T\d{6}Z-id-rules-agent-[0-9a-f]{8}")


def test_custom_run_ids_follow_the_spec_rules(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url)
    customs = ("test-run-with-hyphens", "test_run_with_underscores", "test.run.with.dots")
    for custom in customs:
        assert client.start_run("id-rules-agent", "test", run_id=custom) == custom
    fallbacks = [client.start_run("id-rules-agent", "test", run_id=refused) for refused in ("a" * 300, "../etc/passwd", "  ")]
    assert all(GENERATED_RUN_ID.fullmatch(run_id) for run_id in fallbacks), fallbacks
    duplicate = client.start_run("id-rules-agent", "test", run_id="test.run.with.dots")
    assert duplicate.startswith("test.run.with.dots-duplicate-") and len(duplicate) == len("test.run.with.dots-duplicate-") + 8

    # The service holds exactly these runs of the agent, each under the id start_run
    # returned: nothing under a refused id, and the duplicate apart from the original.
    assert client.flush(10.0)
    for run_id in (*customs, *fallbacks, duplicate):
        row = only_row(shared_service, run_id)
        assert (row["agent_name"], row["job_type"], row["status"]) == ("id-rules-agent", "test", "running")
    listed = httpx.get(f"{shared_service.url}/api/v1/runs", params={"agent_name": "id-rules-agent"}).json()
    assert sorted(row["run_id"] for row in listed) == sorted((*customs, *fallbacks, duplicate))
    assert len({row["event_id"] for row in listed}) == 7
    for refused in ("a" * 300, "../etc/passwd", "  "):
        assert stored_runs(shared_service.url, refused) == []

    metrics = client.get_run_id_metrics()
    assert set(metrics) == {"run_id_metrics", "timestamp"}
    counts = metrics["run_id_metrics"]
    assert counts["custom_accepted"] == 4 and counts["generated"] == 3 and counts["duplicates_detected"] == 1
    assert counts["rejected"] == {"empty": 1, "too_long": 1, "invalid_chars": 1, "total": 3}
    assert counts["total_runs"] == 7 and counts["custom_percentage"] == round(400 / 7, 2)


def test_validate_custom_run_id_returns_the_reason_and_counts_it(tmp_path: Path) -> None:
    client = TelemetryClient(TelemetryConfig(base_dir=tmp_path))
    assert client._validate_custom_run_id("fine-id") == (True, None)
    assert client._validate_custom_run_id("") == (False, "empty")
    assert client._validate_custom_run_id("x" * 256) == (False, "too_long")
    assert client._validate_custom_run_id("a\\b") == (False, "invalid_chars")
    assert client._validate_custom_run_id("a\x00b") == (False, "invalid_chars")
    assert client.get_run_id_metrics()["run_id_metrics"]["rejected"]["total"] == 4
    client.close()


def test_run_id_metrics_object_snapshots_json_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = TelemetryClient(TelemetryConfig(base_dir=tmp_path, api_url="http://127.0.0.1:9"))
    assert isinstance(client.run_id_metrics, RunIDMetrics)
    client._validate_custom_run_id("")
    assert '"empty": 1' in client.run_id_metrics.to_json()
    with caplog.at_level(logging.INFO, logger="telemetry"):
        client.log_run_id_metrics()
    assert "Run ID Metrics" in caplog.text and '"rejected"' in caplog.text
    client.close()


def test_track_run_records_success_failure_and_cancellation(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url)
    with client.track_run("agent", "ok", run_id="tracked-ok") as context:
        assert isinstance(context, RunContext) and context.run_id == "tracked-ok"
        context.log_event("step", {"n": 1})
        context.set_metrics(items_discovered=10, items_succeeded=9, quality=0.9)
    with pytest.raises(ValueError, match="bad input"):
        with client.track_run("agent", "boom", run_id="tracked-fail"):
            raise ValueError("bad input")
    with pytest.raises(KeyboardInterrupt):
        with client.track_run("agent", "stop", run_id="tracked-cancel"):
            raise KeyboardInterrupt

    assert client.flush(10.0)
    ok = only_row(shared_service, "tracked-ok")
    assert ok["status"] == "success" and ok["items_succeeded"] == 9 and ok["metrics_json"] == {"quality": 0.9}
    failed = only_row(shared_service, "tracked-fail")
    assert failed["status"] == "failure" and failed["error_summary"] == "ValueError: bad input"
    assert "Traceback" in str(failed["error_details"])
    assert only_row(shared_service, "tracked-cancel")["status"] == "cancelled"


def test_end_run_of_an_unknown_run_warns_and_returns(shared_service: ServiceProcess, make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(shared_service.url)
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        client.end_run("never-started")
    assert "[WARN] Run ID not found: never-started" in caplog.messages  # the spec's words, exactly
    assert client.self_metrics()["end_run.unknown_run"] == 1


def test_associate_commit_for_active_ended_and_foreign_runs(shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(shared_service.url)
    active = client.start_run("agent", "job", run_id="commit-active")
    assert client.associate_commit(active, "abcdef1", "manual", "Ann <ann@x>") == (True, "Commit abcdef1 associated with run commit-active")
    client.end_run(active)
    ended = client.start_run("agent", "job", run_id="commit-ended")
    client.end_run(ended)
    assert client.associate_commit(ended, "ABCDEF2", "ci")[0] is True
    # Background mode: the ends (which carry this client's commits) arrive before another
    # client's commit, as they do in sync mode.
    assert client.flush(10.0)
    # A client that never held the run finds it on the service by run_id.
    other = TelemetryClient(TelemetryConfig(api_url=shared_service.url, base_dir=tmp_path / "other"))
    assert other.associate_commit(active, "abcdef3", "llm") == (True, "Commit abcdef3 associated with run commit-active")
    assert other.associate_commit("no-such-run", "abcdef4", "llm") == (False, "Run ID not found: no-such-run")
    other.close()

    assert only_row(shared_service, "commit-active")["git_commit_hash"] == "abcdef3"
    ended_row = only_row(shared_service, "commit-ended")
    assert (ended_row["git_commit_hash"], ended_row["git_commit_source"], ended_row["status"]) == ("abcdef2", "ci", "success")
    ok, message = client.associate_commit(ended, "not-hex", "ci")
    assert not ok and "Invalid commit hash" in message
    ok, message = client.associate_commit(ended, "abcdef5", "robot")
    assert not ok and "Invalid commit source" in message


def test_stats_and_deliveries_through_an_outage(
    service: ServiceProcess, make_client: ClientFactory, tmp_path: Path, delivery: str
) -> None:
    """Stats come from the service, then from the SQLite file while it is down; a start
    buffered during the outage and an end sent after it converge (PATCH 404 -> create)."""
    client = make_client(service.url, db_path=service.db_path)
    client.end_run(client.start_run("alpha", "job", run_id="custom-stats"))
    client.end_run(client.start_run("beta", "job"))
    assert client.flush(10.0)
    stats = client.get_stats()
    assert stats["source"] == "service" and stats["total_runs"] == 2 and stats["agents"] == {"alpha": 1, "beta": 1}
    assert stats["recent_24h"] == 2 and stats["run_id_metrics"]["custom_accepted"] == 1 and "timestamp" in stats

    service.stop()
    offline = client.get_stats()
    assert offline["source"] == "sqlite" and offline["total_runs"] == 2 and offline["recent_24h"] == 2
    assert offline["agents"] == {"alpha": 1, "beta": 1} and offline["run_id_metrics"]["generated"] == 1
    run_id = client.start_run("gamma", "job", items_discovered=2)
    if delivery == "sync":
        assert [entry.operation for entry in buffer_entries(tmp_path / "base" / "buffer")] == ["create"]
    else:
        assert not client.flush(0.3)  # it waits in the outbox while the service is down

    service.start()
    assert eventually(lambda: client.get_stats().get("source") == "service")
    client.end_run(run_id, items_succeeded=2)
    assert client.flush(30.0)
    row = only_row(service, run_id)
    assert row["status"] == "success" and (row["items_discovered"], row["items_succeeded"]) == (2, 2)
    if delivery == "sync":  # background mode delivers the waiting create first, then the end
        assert client.self_metrics()["delivery.update_sent_as_create"] == 1


def test_get_stats_without_service_or_database_says_unavailable(make_client: ClientFactory, tmp_path: Path) -> None:
    stats = make_client("http://127.0.0.1:9").get_stats()
    assert stats["error"] == "Statistics unavailable" and "run_id_metrics" in stats


def test_the_bearer_token_is_sent_and_a_wrong_one_keeps_records_buffered(
    service_factory: ServiceFactory, make_client: ClientFactory, tmp_path: Path, delivery: str
) -> None:
    service = service_factory(auth_token="s3cret")
    good = make_client(service.url, api_token="s3cret")
    run_id = good.start_run("agent", "job")
    assert good.flush(10.0)
    assert only_row_with_token(service, run_id)["status"] == "running"

    bad = make_client(service.url, api_token="wrong", buffer_dir=tmp_path / "bad-buffer")
    refused = bad.start_run("agent", "job")
    # 401 is the configuration's fault, not the record's: kept on disk (the buffer file in
    # sync mode, the outbox in background mode) for the right token, never rejected.
    assert bad.flush(0.5) == (delivery == "sync")  # sync mode's flush has nothing to wait for
    assert [e.record.run_id for e in on_disk(tmp_path / "bad-buffer")] == [refused]
    assert not (tmp_path / "bad-buffer" / "rejected").exists()
    metrics = bad.self_metrics()
    if delivery == "sync":
        assert metrics["errors.delivery.unauthorized"] == 1
    else:
        assert metrics["outbox.unavailable"] >= 1 and "outbox.delivered" not in metrics


def test_a_record_the_service_refuses_goes_to_rejected_with_the_reason(
    shared_service: ServiceProcess, make_client: ClientFactory, tmp_path: Path, delivery: str
) -> None:
    client = make_client(shared_service.url)
    run_id = client.start_run("agent", "job", input_summary="x" * (2 << 20))  # over the 1 MiB limit
    assert client.flush(30.0)
    rejected = sorted((tmp_path / "base" / "buffer" / "rejected").glob("*.json"))
    assert len(rejected) == 1 and buffer_entries(tmp_path / "base" / "buffer") == []
    assert buffer_entries(tmp_path / "base" / "buffer" / "rejected")[0].record.run_id == run_id
    assert "413" in rejected[0].with_name(rejected[0].name + ".reason.txt").read_text()
    assert client.self_metrics()["buffer.rejected" if delivery == "sync" else "outbox.rejected"] == 1


def only_row_with_token(service: ServiceProcess, run_id: str) -> dict[str, object]:
    with service.client() as http:
        rows = http.get("/api/v1/runs", params={"run_id": run_id}).json()
    assert len(rows) == 1
    return dict(rows[0])


def test_heartbeat_renews_the_lease_of_active_runs(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url, heartbeat_interval_s=0.05)
    run_id = client.start_run("agent", "long-job")
    row = eventually(lambda: next((row["heartbeat_at"] for row in stored_runs(shared_service.url, run_id)), None))
    assert row is not None and client.self_metrics()["heartbeat.beats"] >= 1
    assert stored_runs(shared_service.url, run_id)[0]["status"] == "running"


def test_agent_owner_from_config_is_recorded(shared_service: ServiceProcess, make_client: ClientFactory) -> None:
    client = make_client(shared_service.url, agent_owner="team-a")
    team, own = client.start_run("agent", "job"), client.start_run("agent", "job", agent_owner="me")
    assert client.flush(10.0)
    assert only_row(shared_service, team)["agent_owner"] == "team-a"
    assert only_row(shared_service, own)["agent_owner"] == "me"


def test_config_problems_are_logged_as_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = TelemetryConfig.from_env({"TELEMETRY_BASE_DIR": str(tmp_path), "TELEMETRY_HTTP_READ_TIMEOUT": "soon"})
    with caplog.at_level(logging.WARNING, logger="telemetry"):
        client = TelemetryClient(config)
    assert "TELEMETRY_HTTP_READ_TIMEOUT='soon' is not readable" in caplog.text
    assert client.config.read_timeout_s == 1.0
    client.close()


def test_the_service_really_holds_what_a_returned_start_delivered(
    shared_service: ServiceProcess, make_client: ClientFactory, delivery: str
) -> None:
    """Sync mode: once start_run returns, a fresh reader sees the row. Background mode:
    once flush() returns True."""
    client = make_client(shared_service.url)
    for number in range(5):
        run_id = client.start_run("agent", "job", run_id=f"sync-{number}")
        if delivery == "background":
            assert client.flush(10.0)
        assert httpx.get(f"{shared_service.url}/api/v1/runs", params={"run_id": run_id}).json()[0]["status"] == "running"
