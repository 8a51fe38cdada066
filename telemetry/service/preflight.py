"""What `telemetry serve` checks before it starts, so that a mistake is one line and exit 2
instead of a traceback after startup: the SQLite file can be created, opened and written,
and the listening socket can be bound (it is bound here and handed to uvicorn, so no other
process can take the port in between)."""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
from pathlib import Path

from telemetry.service.config import ConfigError
from telemetry.wire.errors import error_message
from telemetry.service.migrations import SchemaTooNew, check_known
from telemetry.service.sqlite_migrations import SQLITE_SCHEMA_VERSION


def check_sqlite_file(path: Path) -> None:
    """Create the file's directory if needed; refuse a file that cannot be opened for
    writing or is not a SQLite database, and a directory where SQLite cannot add its
    write-ahead log beside it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create the directory of the database {path}: {_reason(error)}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write in {path.parent}, where the database {path} and its WAL files go")
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
        connection = sqlite3.connect(path, timeout=1.0)
        try:
            connection.execute("PRAGMA schema_version").fetchone()
            check_known(connection.execute("PRAGMA user_version").fetchone()[0], SQLITE_SCHEMA_VERSION)
        finally:
            connection.close()
    except (OSError, sqlite3.Error, SchemaTooNew) as error:
        raise ConfigError(f"cannot use the database file {path}: {_reason(error)}") from None


def bind_listener(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), as uvicorn would bind it, for uvicorn to listen on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        if isinstance(error, socket.gaierror):
            raise ConfigError(f"cannot listen on host {host!r}: {_reason(error)}") from None
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use; stop what holds it or choose --port") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {_reason(error)}") from None
    return listener


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return error_message(error)
