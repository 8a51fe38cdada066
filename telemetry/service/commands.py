"""The `telemetry serve` and `telemetry sweep` commands."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import click
import httpx

from telemetry.distribution import require_extra
from telemetry.service.config import (
    DEFAULT_BUSY_TIMEOUT_MS,
    DEFAULT_MAX_BODY_BYTES,
    ConfigError,
    ServiceConfig,
    Synchronous,
    build_config,
)
from telemetry.cli_config import ConfigMistake, service_url
from telemetry.service.preflight import bind_listener, check_sqlite_file
from telemetry.service.store import MAX_LEASE_SECONDS
from telemetry.settings import env_api_token, env_api_url

# The web stack (FastAPI, pydantic, uvicorn) is imported only by the commands that need it,
# so that `telemetry --help` and the other commands start fast.
GRACEFUL_SHUTDOWN_SECONDS = 30
SWITCH_INTERVAL_SECONDS = 0.0001


def _server(app: Any, config: ServiceConfig, log_level: str) -> Any:
    """A uvicorn server for `app` (uvloop, httptools, no access log)."""
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that a SIGTERM/SIGINT followed by a clean shutdown
        exits with status 0: uvicorn re-raises the signal afterwards, which reads as a crash."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    return Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level=log_level,
            server_header=False,
            proxy_headers=False,  # bound to loopback by default; no proxy headers to trust
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    )


def run_server(config: ServiceConfig, log_level: str = "info") -> None:
    """Serve until SIGTERM/SIGINT; then finish in-flight requests and commit every
    accepted write before exiting. A database file or port it cannot use is a
    `ConfigError`, raised before anything starts."""
    from telemetry.service.app import create_app, make_store

    if config.database_url is not None and config.store_kind == "postgresql":
        require_extra("postgres", "telemetry serve --database-url postgresql://...")
        from telemetry.service.pg_store import check_database, shown_url

        check_database(config.database_url)
        where = f"{shown_url(config.database_url)} (pool {config.pool_size})"
    else:
        check_sqlite_file(config.db_path)
        where = f"{config.db_path} (synchronous={config.synchronous})"
    # The event loop (parsing, validation) and the SQLite writer share the GIL; the writer
    # releases it for every SQLite step and must get it back quickly, not after the default
    # 5 ms switch interval, or group commits stall behind request parsing (bench/README.md).
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    server = _server(create_app(config, make_store(config)), config, log_level)
    listener = bind_listener(config.host, config.port)
    auth = "on" if config.auth_token else "off"
    click.echo(
        f"telemetry service: http://{config.host}:{config.port}, store {config.store_kind} {where}, auth {auth}",
        err=True,
    )
    server.run(sockets=[listener])
    if not server.started:
        sys.exit(3)  # uvicorn's own code for a failed startup; the reason is logged above


@click.command("serve")
@click.option("--host", help="Address to bind [env TELEMETRY_API_HOST, default 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port [env TELEMETRY_API_PORT, default 8765].")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False),
              help="SQLite file [env TELEMETRY_DB_PATH, default <TELEMETRY_BASE_DIR or .telemetry>/telemetry.sqlite].")  # fmt: skip
@click.option("--database-url", help="sqlite:///path or postgresql://... [env TELEMETRY_DATABASE_URL].")
@click.option("--auth-token", help="Require this bearer token [env TELEMETRY_API_TOKEN, alias TELEMETRY_API_AUTH_TOKEN; prefer the env var].")
@click.option("--max-body-bytes", type=click.IntRange(1024), default=DEFAULT_MAX_BODY_BYTES, show_default=True,
              help="Largest request body accepted (413 beyond).")  # fmt: skip
@click.option("--synchronous", type=click.Choice(["FULL", "EXTRA", "NORMAL"]), default="FULL", show_default=True,
              help="SQLite synchronous mode; NORMAL may lose the last commits on power loss.")  # fmt: skip
@click.option("--busy-timeout-ms", type=click.IntRange(0), default=DEFAULT_BUSY_TIMEOUT_MS, show_default=True,
              help="How long a write waits for another writer of the file before answering 503.")  # fmt: skip
@click.option("--sweep-lease-seconds", type=click.IntRange(0, MAX_LEASE_SECONDS),
              help="End runs without a heartbeat for this long as timeout, automatically; 0 = off "
                   "[env TELEMETRY_SWEEP_LEASE_SECONDS, default 3600].")  # fmt: skip
@click.option("--sweep-interval", type=click.FloatRange(0.05), default=60.0, show_default=True,
              help="Seconds between automatic sweeps.")  # fmt: skip
@click.option("--pool-size", type=click.IntRange(1), help="PostgreSQL connections of this replica "
              "(half write, half read) [env TELEMETRY_PG_POOL_SIZE, default 10].")  # fmt: skip
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info")
def serve(
    host: str | None,
    port: int | None,
    db_path: Path | None,
    database_url: str | None,
    auth_token: str | None,
    max_body_bytes: int,
    synchronous: Synchronous,
    busy_timeout_ms: int,
    sweep_lease_seconds: int | None,
    sweep_interval: float,
    pool_size: int | None,
    log_level: str,
) -> None:
    """Run the telemetry HTTP service (a 2xx to a write means it is durable)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = build_config(
            host=host, port=port, db_path=db_path, database_url=database_url, auth_token=auth_token,
            max_body_bytes=max_body_bytes, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms,
            sweep_lease_seconds=sweep_lease_seconds, sweep_interval_seconds=sweep_interval, pool_size=pool_size,
        )  # fmt: skip
        run_server(config, log_level)
    except ConfigError as error:
        raise ConfigMistake(str(error)) from None


def _sweep_service(url: str, token: str | None, lease_seconds: int) -> int:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/api/v1/runs/sweep", params={"lease_seconds": lease_seconds}, headers=headers, timeout=30
        )
    except httpx.HTTPError as error:
        raise click.ClickException(f"cannot reach the service at {url}: {error}") from None
    if response.status_code != 200:
        raise click.ClickException(f"the service refused the sweep: HTTP {response.status_code} {response.text[:300]}")
    return int(response.json()["swept"])


def _sweep_file(db_path: Path, lease_seconds: int) -> int:
    require_extra("service", "telemetry sweep --db")
    from telemetry.service.sqlite_store import SqliteStore

    if not db_path.exists():
        raise click.ClickException(f"no database at {db_path}")
    store = SqliteStore(db_path)
    store.open_sync()
    try:
        return store.sweep_sync(lease_seconds, datetime.now(timezone.utc))
    finally:
        store.close_sync()


@click.command("sweep")
@click.option("--lease-seconds", type=click.IntRange(1, MAX_LEASE_SECONDS), default=3600, show_default=True,
              help="A running run silent (no heartbeat) for longer than this becomes `timeout`.")  # fmt: skip
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Sweep this SQLite file directly instead of asking the service.")  # fmt: skip
@click.option("--api-url", help="The service to ask [default: $TELEMETRY_API_URL, else http://localhost:8765].")
@click.option("--url", "old_url", hidden=True, help="Older name of --api-url.")
@click.option("--token", help="Bearer token [default: $TELEMETRY_API_TOKEN].")
def sweep(lease_seconds: int, db_path: Path | None, api_url: str | None, old_url: str | None, token: str | None) -> None:
    """Mark abandoned runs (lease expired) as `timeout`, through the service or directly
    in a SQLite file (--db)."""
    if db_path:
        swept = _sweep_file(db_path, lease_seconds)
    else:
        url = service_url(api_url or old_url, env_api_url(os.environ))
        swept = _sweep_service(url, token or env_api_token(os.environ), lease_seconds)
    click.echo(f"swept {swept} run(s) to timeout (lease {lease_seconds} s)")
