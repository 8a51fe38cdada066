"""A PostgreSQL database of the test session's own on the machine's server (127.0.0.1:5432,
or `TELEMETRY_TEST_POSTGRES_URL`): created when a test first needs it, dropped at the end
of the session. Each service started on it gets a schema of its own (its URL sets the
`search_path`), so services see only their own rows, as with one SQLite file each."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader

ADMIN_URL = os.environ.get("TELEMETRY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONNECT_TIMEOUT_S = 3


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def unreachable_reason() -> str | None:
    """Why the PostgreSQL server cannot be used for tests, or None if it can."""
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg.Error as error:
        return f"PostgreSQL at {ADMIN_URL} is not reachable: {str(error).strip().splitlines()[0]}"
    return None


class TestDatabase:
    """One database of this session; `schema_url()` hands out a fresh schema in it."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = _with_database(ADMIN_URL, name)

    def schema_url(self, prefix: str = "svc") -> str:
        """The URL of a new, empty schema of this database."""
        schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        return f"{self.url}?options={quote(f'-csearch_path={schema}')}"


def create_database() -> TestDatabase:
    name = f"telemetry_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return TestDatabase(name)


def drop_database(database: TestDatabase) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {database.name} WITH (FORCE)")


def stored_rows(url: str, where: str = "TRUE", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of `agent_runs` at `url` as a user's own query sees them (JSON columns as their
    text, as sqlite3 gives them); `?` marks parameters, as in sqlite3. A parameter holding
    NUL matches nothing (PostgreSQL text cannot hold NUL, so no row has it)."""
    if any(isinstance(param, str) and "\x00" in param for param in params):
        return []
    with psycopg.connect(url, row_factory=dict_row) as connection:
        connection.adapters.register_loader("json", TextLoader)
        sql = f"SELECT * FROM agent_runs WHERE {where.replace('?', '%s')}"
        return list(connection.execute(sql, params).fetchall())


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[TestDatabase]:
    """This session's database (skips the test if the server cannot be reached)."""
    reason = unreachable_reason()
    if reason is not None:
        pytest.skip(reason)
    database = create_database()
    yield database
    drop_database(database)


def parametrize_store_backend(metafunc: pytest.Metafunc) -> None:
    """`pytest_generate_tests` of the folders whose tests run on both stores: every test that
    starts a service runs once per store, except those marked `sqlite_only`."""
    if "store_backend" in metafunc.fixturenames:
        only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
        backends = ["sqlite"] if only_sqlite else ["sqlite", "postgresql"]
        metafunc.parametrize("store_backend", backends, indirect=True, scope="session")
