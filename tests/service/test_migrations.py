"""Versioned schema migrations, applied when the service starts: the version each store
records (SQLite's `user_version`, PostgreSQL's `schema_version` table), a file from
before versioning brought up to date with its rows kept, and replicas of one PostgreSQL
database starting and sweeping at the same time."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.service.helpers import minutes_ago, run_body
from tests.support.postgres import TestDatabase
from tests.support.service import ServiceFactory, ServiceProcess

# The first release's table, before versioning: no heartbeat_at column, user_version 0.
_UNVERSIONED_DDL = """
CREATE TABLE agent_runs (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL,
  agent_name TEXT NOT NULL, job_type TEXT NOT NULL, start_time TEXT NOT NULL, status TEXT NOT NULL,
  items_discovered INTEGER NOT NULL DEFAULT 0, items_succeeded INTEGER NOT NULL DEFAULT 0,
  items_failed INTEGER NOT NULL DEFAULT 0, items_skipped INTEGER NOT NULL DEFAULT 0)
"""


@pytest.mark.sqlite_only
def test_a_sqlite_file_from_before_versioning_is_migrated_and_keeps_its_rows(
    service_factory: ServiceFactory, tmp_path: Path
) -> None:
    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(_UNVERSIONED_DDL)
        connection.execute(
            "INSERT INTO agent_runs (event_id, run_id, agent_name, job_type, start_time, status) "
            "VALUES ('old-1', 'r', 'a', 'j', '2025-06-01T12:00:00.000000+00:00', 'success')"
        )
    service = service_factory(db_path=path)
    with service.client() as client:
        assert client.get("/health").json()["schema_version"] == 1
        assert client.get("/api/v1/runs/old-1").json()["heartbeat_at"] is None
        assert client.post("/api/v1/runs", json=run_body(heartbeat_at=minutes_ago(0))).status_code == 201
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 1


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as connection:
        return [row[0] for row in connection.execute("SELECT version FROM schema_version ORDER BY version")]


def _replicas(database: TestDatabase, tmp_path: Path, count: int) -> list[ServiceProcess]:
    """`count` services on one fresh schema, started at the same moment."""
    url = database.schema_url("replicas")
    services = [ServiceProcess(tmp_path / f"replica-{n}.sqlite", database_url=url) for n in range(count)]
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(ServiceProcess.start, services))
    return services


def test_replicas_starting_at_once_migrate_the_schema_once(postgres_database: TestDatabase, tmp_path: Path) -> None:
    services = _replicas(postgres_database, tmp_path, 3)
    try:
        healths = [httpx.get(f"{service.url}/health").json() for service in services]
        assert {(health["store"], health["schema_version"]) for health in healths} == {("postgresql", 1)}
        assert _versions(str(services[0].database_url)) == [1]
        for service in services:  # a restart finds nothing pending
            service.restart()
        assert _versions(str(services[0].database_url)) == [1]
    finally:
        for service in services:
            service.stop()


def test_replicas_sweeping_at_once_end_each_stale_run_once(postgres_database: TestDatabase, tmp_path: Path) -> None:
    services = _replicas(postgres_database, tmp_path, 2)
    stale = [run_body(start_time=minutes_ago(120)) for _ in range(300)]
    try:
        with services[0].client() as client:
            assert client.post("/api/v1/runs/batch", json=stale).json()["inserted"] == len(stale)

        def sweep(service: ServiceProcess) -> int:
            with service.client() as client:
                return int(client.post("/api/v1/runs/sweep", params={"lease_seconds": 60}).json()["swept"])

        with ThreadPoolExecutor(4) as pool:
            swept = list(pool.map(sweep, services * 2))
        assert sum(swept) == len(stale)
        with services[1].client() as client:
            assert client.get("/metrics").json()["by_status"] == {"timeout": len(stale)}
    finally:
        for service in services:
            service.stop()
