"""`build_config` from an environment mapping: the defaults of the team contract (loopback,
port 8765, SQLite under the base dir), the service's variables, and which store a
`TELEMETRY_DATABASE_URL` selects."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.service.config import ConfigError, build_config


def test_defaults_bind_loopback_port_8765_with_sqlite_under_the_base_dir() -> None:
    config = build_config(env={})
    assert (config.host, config.port) == ("127.0.0.1", 8765)
    assert config.db_path == Path(".telemetry") / "telemetry.sqlite"
    assert (config.store_kind, config.database_url, config.auth_token) == ("sqlite", None, None)
    assert (config.synchronous, config.max_body_bytes, config.sweep_lease_seconds) == ("FULL", 1 << 20, 3600)


def test_host_port_token_and_paths_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "TELEMETRY_API_HOST": "0.0.0.0",
        "TELEMETRY_API_PORT": "9123",
        "TELEMETRY_API_AUTH_TOKEN": "t0ken",
        "TELEMETRY_BASE_DIR": str(tmp_path / "base"),
        "TELEMETRY_SWEEP_LEASE_SECONDS": "0",
    }
    config = build_config(env=env)
    assert (config.host, config.port, config.auth_token) == ("0.0.0.0", 9123, "t0ken")
    assert config.db_path == tmp_path / "base" / "telemetry.sqlite" and config.sweep_lease_seconds == 0
    assert build_config(env={**env, "TELEMETRY_DB_PATH": str(tmp_path / "own.sqlite")}).db_path == tmp_path / "own.sqlite"


def test_the_service_takes_the_clients_token_variable_and_the_older_alias() -> None:
    assert build_config(env={"TELEMETRY_API_TOKEN": "shared"}).auth_token == "shared"
    assert build_config(env={"TELEMETRY_API_AUTH_TOKEN": "older"}).auth_token == "older"
    assert build_config(env={"TELEMETRY_API_TOKEN": "same", "TELEMETRY_API_AUTH_TOKEN": "same"}).auth_token == "same"
    with pytest.raises(ConfigError, match="different tokens"):
        build_config(env={"TELEMETRY_API_TOKEN": "one", "TELEMETRY_API_AUTH_TOKEN": "other"})
    assert build_config(auth_token="flag", env={"TELEMETRY_API_TOKEN": "shared"}).auth_token == "flag"


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    env = {"TELEMETRY_API_HOST": "0.0.0.0", "TELEMETRY_API_PORT": "9123", "TELEMETRY_DB_PATH": "/env.sqlite"}
    config = build_config(host="127.0.0.2", port=0, db_path=tmp_path / "flag.sqlite", env=env)
    assert (config.host, config.port, config.db_path) == ("127.0.0.2", 0, tmp_path / "flag.sqlite")


@pytest.mark.parametrize(
    ("url", "path"),
    [("sqlite:////var/lib/telemetry/runs.sqlite", Path("/var/lib/telemetry/runs.sqlite")),
     ("sqlite:///relative/runs.sqlite", Path("relative/runs.sqlite"))],
)  # fmt: skip
def test_a_sqlite_url_names_the_file_and_selects_sqlite(url: str, path: Path) -> None:
    config = build_config(env={"TELEMETRY_DATABASE_URL": url, "TELEMETRY_DB_PATH": "/ignored.sqlite"})
    assert (config.store_kind, config.db_path, config.database_url) == ("sqlite", path, None)


@pytest.mark.parametrize("url", ["postgresql://user@db.internal/telemetry", "postgres://localhost/telemetry"])
def test_a_postgresql_url_selects_postgresql(url: str) -> None:
    config = build_config(env={"TELEMETRY_DATABASE_URL": url})
    assert (config.store_kind, config.database_url) == ("postgresql", url)


@pytest.mark.parametrize(
    ("env", "message"),
    [({"TELEMETRY_API_PORT": "http"}, "TELEMETRY_API_PORT"),
     ({"TELEMETRY_DATABASE_URL": "sqlite:///"}, "sqlite:///path"),
     ({"TELEMETRY_DATABASE_URL": "mysql://x"}, "'mysql://x' is not one this service can use"),
     ({"TELEMETRY_DATABASE_URL": "notaurl"}, "'notaurl' is not one this service can use"),
     ({"TELEMETRY_SWEEP_LEASE_SECONDS": "soon"}, "TELEMETRY_SWEEP_LEASE_SECONDS"),
     ({"TELEMETRY_PG_POOL_SIZE": "many"}, "TELEMETRY_PG_POOL_SIZE"),
     ({"TELEMETRY_PG_POOL_SIZE": "0"}, "TELEMETRY_PG_POOL_SIZE")],
)  # fmt: skip
def test_unusable_values_are_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(env=env)


def test_the_pool_size_comes_from_the_flag_else_the_environment_else_ten() -> None:
    assert build_config(env={}).pool_size == 10
    assert build_config(env={"TELEMETRY_PG_POOL_SIZE": "24"}).pool_size == 24
    assert build_config(pool_size=3, env={"TELEMETRY_PG_POOL_SIZE": "24"}).pool_size == 3
