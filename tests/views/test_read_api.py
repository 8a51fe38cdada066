"""The read routes behind the CLI views and the dashboard, against a real service: lookup
by run id, per-agent statistics (nearest-rank percentiles), the timeline, the Prometheus
exposition and which of them the token guards; on both stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.helpers import fresh, run_body, stamp
from tests.support.postgres import parametrize_store_backend
from tests.support.service import ServiceFactory, ServiceProcess
from tests.views.helpers import ended_run, post_runs

pytest_generate_tests = parametrize_store_backend


def test_a_run_is_found_by_its_run_id(service: ServiceProcess) -> None:
    body = run_body()
    with service.client() as client:
        post_runs(client, [body])
        found = client.get(f"/api/v1/runs/by-run-id/{body['run_id']}")
        missing = client.get("/api/v1/runs/by-run-id/no-such-run")
    assert found.status_code == 200
    assert found.json()["event_id"] == body["event_id"]
    assert missing.status_code == 404
    assert "no-such-run" in missing.json()["detail"]


def test_a_shared_run_id_finds_the_newest_run_and_a_route_like_name_is_still_a_run_id(service: ServiceProcess) -> None:
    now = datetime.now(timezone.utc)
    older = run_body(run_id="commit-url", start_time=stamp(now - timedelta(hours=2)))
    newer = run_body(run_id="commit-url", start_time=stamp(now - timedelta(hours=1)))
    with service.client() as client:
        post_runs(client, [older, newer])
        found = client.get("/api/v1/runs/by-run-id/commit-url")
    assert found.status_code == 200
    assert found.json()["event_id"] == newer["event_id"]


def test_agent_stats_count_and_take_nearest_rank_percentiles(service: ServiceProcess) -> None:
    agent = fresh("stats")
    durations = [100 * (i + 1) for i in range(20)]  # 100 .. 2000 ms
    bodies = [ended_run(agent, "success" if i < 15 else "failure", d, hours_ago=1 + i) for i, d in enumerate(durations)]
    bodies.append(run_body(agent_name=agent, start_time=stamp(datetime.now(timezone.utc))))  # running, no duration
    with service.client() as client:
        post_runs(client, bodies)
        rows = client.get("/api/v1/stats/agents").json()
        recent = client.get("/api/v1/stats/agents", params={"since": stamp(datetime.now(timezone.utc) - timedelta(hours=5))})
    (row,) = [row for row in rows if row["agent_name"] == agent]
    assert (row["runs"], row["successes"], row["failures"], row["running"]) == (21, 15, 5, 1)
    assert row["success_rate"] == pytest.approx(15 / 20)
    # nearest rank: ceil(0.5 * 20) = 10th smallest, ceil(0.95 * 20) = 19th smallest
    assert (row["p50_ms"], row["p95_ms"]) == (1000, 1900)
    assert row["runs_24h"] == 21
    (since_row,) = [row for row in recent.json() if row["agent_name"] == agent]
    assert since_row["runs"] == 5  # started 1, 2, 3, 4 hours ago, and the running one


def test_agent_stats_refuse_a_since_without_zone(service: ServiceProcess) -> None:
    with service.client() as client:
        reply = client.get("/api/v1/stats/agents", params={"since": "2026-01-01T00:00:00"})
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["query", "since"]


def test_timeline_buckets_runs_per_agent_and_hour(service: ServiceProcess) -> None:
    agent = fresh("timeline")
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    bodies = [
        run_body(agent_name=agent, start_time=stamp(hour + timedelta(minutes=m)), status=s, duration_ms=d)
        for m, s, d in ((1, "success", 100), (2, "failure", 300), (3, "running", None))
    ]
    with service.client() as client:
        post_runs(client, [{k: v for k, v in b.items() if v is not None} for b in bodies])
        hourly = client.get("/api/v1/stats/timeline", params={"since": stamp(hour - timedelta(hours=1))}).json()
        daily = client.get("/api/v1/stats/timeline", params={"since": stamp(hour), "bucket": "day"}).json()
    (bucket,) = [b for b in hourly if b["agent_name"] == agent]
    assert bucket["bucket"] == hour.strftime("%Y-%m-%dT%H")
    assert (bucket["runs"], bucket["successes"], bucket["ended"], bucket["mean_duration_ms"]) == (3, 1, 2, 200)
    assert sum(b["runs"] for b in daily if b["agent_name"] == agent) == 3


def test_prometheus_exposition_carries_the_json_metrics(service: ServiceProcess) -> None:
    agent = "agent \"quoted\"\nnewline"
    with service.client() as client:
        post_runs(client, [ended_run(agent, "success", 10), ended_run("other", "failure", 10)])
        figures = client.get("/metrics").json()
        reply = client.get("/metrics/prometheus")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }
    assert samples[("telemetry_runs", ())] == figures["total_runs"] == 2
    assert samples[("telemetry_runs_by_agent", (("agent_name", agent),))] == 1
    assert samples[("telemetry_runs_by_status", (("status", "failure"),))] == 1
    assert samples[("telemetry_runs_recent_24h", ())] == figures["recent_24h"]
    assert samples[("telemetry_store_writes_total", ())] == figures["writer"]["writes"]


def test_reads_need_the_token_but_the_dashboard_page_does_not(service_factory: ServiceFactory) -> None:
    service = service_factory(auth_token="s3cret")
    for path in ("/api/v1/stats/agents", "/api/v1/stats/timeline", "/metrics/prometheus", "/api/v1/runs/by-run-id/x"):
        assert httpx.get(service.url + path).status_code == 401, path
    page = httpx.get(service.url + "/")
    script = httpx.get(service.url + "/dashboard/app.js")
    assert page.status_code == 200 and "<title>" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert script.status_code == 200 and "textContent" in script.text
    # The open asset prefix does not open the API: a dot segment stays inside the assets.
    assert httpx.get(service.url + "/dashboard/%2e%2e/api/v1/runs").status_code == 404
    with service.client() as client:
        assert client.get("/api/v1/stats/agents").status_code == 200
