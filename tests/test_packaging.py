"""A bare client install: the client loads nothing of the command line or the service, and a
command whose extra is missing says in one line which to install (exit 2, no traceback).
Each check runs in a fresh interpreter; a missing extra is simulated by a `None` entry in
`sys.modules`, which makes every import of that module fail as if it were not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from telemetry.distribution import DISTRIBUTION, install_hint
from telemetry.service.sqlite_store import SqliteStore
from tests.support.receiver import closed_port_url

REPO = Path(__file__).resolve().parents[1]
NOT_FOR_THE_CLIENT = ("click", "rich", "pygments", "fastapi", "uvicorn", "starlette", "pydantic", "psycopg")


def _python(code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_client_run_loads_no_command_line_or_service_module(tmp_path: Path) -> None:
    code = f"""
        import json, sys
        import telemetry
        client = telemetry.TelemetryClient()
        run_id = client.start_run("packaging-agent", "import-check")
        client.end_run(run_id, status="success")
        loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({NOT_FOR_THE_CLIENT!r}))
        print(json.dumps({{"loaded": loaded, "httpx": "httpx" in sys.modules}}))
    """
    env = {
        "TELEMETRY_API_URL": closed_port_url(),
        "TELEMETRY_BASE_DIR": str(tmp_path / "data"),
        "TELEMETRY_SYNC_INTERVAL": "0",
        "TELEMETRY_HEARTBEAT_INTERVAL": "0",
    }
    result = _python(code, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"loaded": [], "httpx": True}
    # The run went through the whole shell: refused by the closed port, it is on disk, in
    # the outbox (background delivery, the default).
    assert len(list((tmp_path / "data" / "buffer" / "outbox").glob("*.seg"))) == 1



def test_a_client_without_the_service_extra_reads_stats_from_the_database_file(tmp_path: Path) -> None:
    """With the service down, `get_stats` queries the SQLite file itself, with the service's
    query module, which must not need the web stack."""
    store = SqliteStore(tmp_path / "data" / "telemetry.sqlite")
    store.open_sync()
    store.close_sync()
    code = f"""
        import sys
        for name in ("fastapi", "starlette", "pydantic", "uvicorn"):
            sys.modules[name] = None
        import telemetry
        print(telemetry.TelemetryClient().get_stats().get("source"))
    """
    env = {"TELEMETRY_API_URL": closed_port_url(), "TELEMETRY_BASE_DIR": str(tmp_path / "data")}
    result = _python(code, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sqlite", result.stderr

def _command(blocked: tuple[str, ...], argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = f"""
        import sys
        for name in {blocked!r}:
            sys.modules[name] = None
        sys.argv = {argv!r}
        from telemetry.__main__ import main
        main()
    """
    return _python(code, cwd)


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        (("click", "rich"), ["telemetry", "--help"], "cli"),
        (("rich",), ["telemetry", "sync", "--help"], "cli"),
        # A bare client install lacks click too: serve's line names the extra serve needs.
        (("click", "rich", "fastapi", "uvicorn", "pydantic"), ["telemetry", "serve"], "service"),
        (("fastapi", "uvicorn", "pydantic"), ["telemetry", "serve", "--port", "0"], "service"),
        (("uvicorn",), ["telemetry", "demo", "--data-dir", "demo-data"], "service"),
        (("pydantic",), ["telemetry", "sweep", "--db", "absent.sqlite"], "service"),
    ],
)
def test_a_command_without_its_extra_says_which_to_install(
    tmp_path: Path, blocked: tuple[str, ...], argv: list[str], extra: str
) -> None:
    result = _command(blocked, argv, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"needs the '{extra}' extra" in result.stderr
    # The dev environment is an editable install of this repository: the hint names it.
    assert f"pip install '{REPO}[{extra}]'" in result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before touching anything


def test_a_command_with_its_extra_installed_runs(tmp_path: Path) -> None:
    result = _command((), ["telemetry", "sweep", "--db", "absent.sqlite"], tmp_path)
    assert "needs the" not in result.stderr
    assert "no database at absent.sqlite" in result.stderr


@pytest.mark.parametrize(
    ("origin", "hint"),
    [
        ({"url": "file:///src/my%20clone", "dir_info": {}}, "pip install '/src/my clone[service]'"),
        ({"url": "file:///src/clone", "dir_info": {"editable": True}}, "pip install '/src/clone[service]'"),
        (
            {"url": "https://example.org/team/telemetry.git", "vcs_info": {"vcs": "git", "commit_id": "ab12"}},
            f"pip install '{DISTRIBUTION}[service] @ git+https://example.org/team/telemetry.git'",
        ),
        ({"url": "https://example.org/dist.whl", "archive_info": {}}, f"pip install '{DISTRIBUTION}[service]'"),
        (None, f"pip install '{DISTRIBUTION}[service]'"),
        ({"url": 3}, f"pip install '{DISTRIBUTION}[service]'"),
    ],
)
def test_the_install_hint_reinstalls_from_where_the_copy_came(origin: object, hint: str) -> None:
    assert install_hint("service", origin) == hint

