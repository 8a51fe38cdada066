"""Contract of /health, /metrics, /version, /openapi.json, /docs and the metadata values,
metrics on a fresh service of their own so that counts are exact."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from telemetry.service.validation import CREATE_FIELDS
from tests.service.helpers import fresh, run_body, stamp
from tests.support.service import ServiceProcess


def test_health_names_the_store_and_its_schema_version(api: httpx.Client, shared_service: ServiceProcess) -> None:
    reply = api.get("/health")
    assert reply.status_code == 200
    assert reply.json()["status"] == "ok" and reply.json()["store"] == shared_service.store_kind
    assert reply.json()["schema_version"] == 1


def test_metrics_count_runs_agents_statuses_and_the_last_day(service: ServiceProcess) -> None:
    api = service.client()
    now = datetime.now(timezone.utc)
    bodies = [
        run_body(agent_name="alpha", status="success", start_time=stamp(now - timedelta(hours=1))),
        run_body(agent_name="alpha", status="failed", start_time=stamp(now - timedelta(hours=30))),
        run_body(agent_name="beta", start_time=stamp(now - timedelta(minutes=5))),
    ]
    assert api.post("/api/v1/runs/batch", json=bodies).json()["inserted"] == 3
    metrics = api.get("/metrics").json()
    assert (metrics["total_runs"], metrics["recent_24h"]) == (3, 2)
    assert metrics["agents"] == {"alpha": 2, "beta": 1}
    assert metrics["by_status"] == {"failure": 1, "running": 1, "success": 1}
    assert metrics["by_job_type"] == {"contract-test": 3}
    assert metrics["writer"]["writes"] >= 1 and metrics["writer"]["errors"] == {}


def test_metadata_lists_distinct_values_of_a_field(api: httpx.Client) -> None:
    names = [fresh("m2"), fresh("m1")]
    product = fresh("product")
    api.post("/api/v1/runs/batch", json=[run_body(agent_name=name, product=product) for name in (*names, names[0])])
    values = api.get("/api/v1/metadata/agent_name").json()
    assert values["field"] == "agent_name" and set(names) <= set(values["values"])
    assert values["values"] == sorted(values["values"]) and len(values["values"]) == len(set(values["values"]))
    assert api.get("/api/v1/metadata/product").json()["values"].count(product) == 1


@pytest.mark.parametrize("field", ["error_details", "event_id", "no_such_field"])
def test_metadata_of_other_fields_is_refused(api: httpx.Client, field: str) -> None:
    reply = api.get(f"/api/v1/metadata/{field}")
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["path", "field"]


def test_version_and_api_description(api: httpx.Client) -> None:
    version = api.get("/version").json()
    assert version["api"] == "v1" and version["version"]
    schema = api.get("/openapi.json").json()
    create = schema["paths"]["/api/v1/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(create["properties"]) == set(CREATE_FIELDS)
    assert "/api/v1/runs/{event_id}/associate-commit" in schema["paths"]
    assert api.get("/docs").status_code == 200
