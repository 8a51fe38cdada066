"""`telemetry doctor`: checks what an agent's telemetry needs, says what to fix for each
problem, and exits 1 when something is wrong (warnings alone exit 0). Checks: the client's
configuration, the service's reachability, auth, the clock against the service's, the
directories the client writes, and the backlog (buffer files and the outbox)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal

import attrs
import click
import httpx
from rich.text import Text

from telemetry.shell.buffer import CORRUPT_DIR, REJECTED_DIR
from telemetry.shell.config import TelemetryConfig
from telemetry.shell.outbox.drain import unsettled_entries
from telemetry.shell.outbox.segments import OUTBOX_DIR
from telemetry.views.formatting import console
from telemetry.views.service_api import ServiceApi, json_option, service_options

State = Literal["ok", "warn", "fail"]
MAX_CLOCK_SKEW_S = 5.0  # the Date header counts whole seconds; more than this is a real skew
_MARKS = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "bold red")}


@attrs.frozen
class Check:
    name: str
    state: State
    detail: str
    fix: str = ""


def check_config(config: TelemetryConfig) -> Check:
    problems = config.validate()
    if not problems:
        return Check("configuration", "ok", "the client's settings are valid")
    return Check("configuration", "fail", "; ".join(problems), "correct these TELEMETRY_* variables (docs/client.md)")


def check_service(api: ServiceApi) -> tuple[Check, httpx.Response | None, float]:
    """The health check, the reply (None if unreachable) and the local time at mid-request."""
    sent = time.time()
    try:
        response = httpx.get(f"{api.url}/health", timeout=5.0)
    except httpx.HTTPError as error:
        fix = "start it with `telemetry serve`, or set TELEMETRY_API_URL / --api-url to where it runs"
        return Check("service", "fail", f"cannot reach {api.url}: {error}", fix), None, sent
    middle = (sent + time.time()) / 2
    if response.status_code != 200:
        detail = f"{api.url}/health answered HTTP {response.status_code}: {response.text[:200]}"
        return Check("service", "fail", detail, "read the service's log; its store cannot serve"), response, middle
    try:
        store = response.json()["store"]
    except (ValueError, KeyError, TypeError):
        detail = f"{api.url}/health answered, but not as a telemetry service does"
        return Check("service", "fail", detail, "point TELEMETRY_API_URL / --api-url at the telemetry service"), None, middle
    return Check("service", "ok", f"{api.url} is up ({store} store)"), response, middle


def check_auth(api: ServiceApi) -> Check:
    try:
        response = httpx.get(f"{api.url}/api/v1/runs", params={"limit": 1}, headers=api.headers, timeout=5.0)
    except httpx.HTTPError as error:
        return Check("auth", "fail", f"cannot ask {api.url}: {error}", "see the service check above")
    if response.status_code == 401:
        given = "refused the token given" if api.token else "requires a token and none is set"
        return Check("auth", "fail", f"the service {given}", "set TELEMETRY_API_TOKEN to the service's token")
    if response.status_code != 200:
        return Check("auth", "fail", f"reading runs answered HTTP {response.status_code}", "read the service's log")
    return Check("auth", "ok", "token accepted" if api.token else "the service needs no token")


def check_clock(response: httpx.Response, local_time: float) -> Check:
    date = response.headers.get("date")
    if not date:
        return Check("clock", "warn", "the service sent no Date header; cannot compare clocks")
    try:
        skew = local_time - parsedate_to_datetime(date).timestamp()
    except (ValueError, TypeError):
        return Check("clock", "warn", f"the service's Date header is unreadable: {date[:60]!r}")
    if abs(skew) <= MAX_CLOCK_SKEW_S:
        return Check("clock", "ok", f"within {MAX_CLOCK_SKEW_S:.0f} s of the service's")
    side = "ahead of" if skew > 0 else "behind"
    detail = f"this machine's clock is {abs(skew):.0f} s {side} the service's: run times will disagree"
    return Check("clock", "fail", detail, "synchronise the clocks (NTP, e.g. `timedatectl set-ntp true`)")


def writable_directory_problem(directory: Path) -> str | None:
    """Why the client could not write into `directory` (creating it if missing), or None."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if existing != directory:
        return None if os.access(existing, os.W_OK | os.X_OK) else f"cannot create it: {existing} is not writable"
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".doctor-"):
            return None
    except OSError as error:
        return f"cannot write into it: {error.strerror}"


def check_directories(config: TelemetryConfig) -> Iterator[Check]:
    places = (("ndjson_dir", config.ndjson_dir), ("buffer_dir", config.buffer_dir), ("db directory", config.db_path.parent))
    for name, directory in places:
        problem = writable_directory_problem(directory)
        if problem is None:
            yield Check(name, "ok", f"{directory} is writable" + ("" if directory.exists() else " (will be created)"))
        else:
            variable = "TELEMETRY_DB_PATH" if name == "db directory" else f"TELEMETRY_{name.upper()}"
            yield Check(name, "fail", f"{directory}: {problem}", f"make it writable or set {variable} (or TELEMETRY_BASE_DIR)")


def _count(directory: Path, pattern: str) -> int:
    return sum(1 for path in directory.glob(pattern) if not path.name.startswith(".")) if directory.is_dir() else 0


def check_backlog(buffer_dir: Path) -> Iterator[Check]:
    pending = _count(buffer_dir, "*.json")
    if pending:
        yield Check("buffer", "warn", f"{pending} run update(s) wait in {buffer_dir}", "run `telemetry sync` once the service is up")
    waiting = sum(1 for _ in unsettled_entries(buffer_dir))
    if waiting:
        fix = "a running agent delivers its own once the service answers; for those of agents that exited, run `telemetry sync`"
        yield Check("outbox", "warn", f"{waiting} run start(s)/end(s) wait in {buffer_dir / OUTBOX_DIR}", fix)
    if not pending and not waiting:
        yield Check("buffer", "ok", "nothing waits to be delivered")
    for folder in (REJECTED_DIR, CORRUPT_DIR):
        count = _count(buffer_dir / folder, "*.json")
        if count:
            fix = f"read the .reason.txt beside each file in {buffer_dir / folder}, then fix or delete them"
            yield Check(f"buffer/{folder}", "warn", f"{count} entr(y/ies) set aside", fix)


def run_checks(config: TelemetryConfig, api: ServiceApi) -> list[Check]:
    checks = [check_config(config)]
    service, response, local_time = check_service(api)
    checks.append(service)
    if response is not None:
        checks += [check_auth(api), check_clock(response, local_time)]
    checks += [*check_directories(config.with_defaults_for_problems()), *check_backlog(config.buffer_dir)]
    return checks


@click.command("doctor")
@service_options
@json_option
def doctor(api_url: str | None, token: str | None, as_json: bool) -> None:
    """Check configuration, service, auth, clock, directories and backlog; say what to fix."""
    checks = run_checks(TelemetryConfig.from_env(), ServiceApi.from_options(api_url, token))
    if as_json:
        click.echo(json.dumps([attrs.asdict(check) for check in checks], indent=2))
    else:
        out = console()
        for check in checks:
            mark, style = _MARKS[check.state]
            line = Text(f"{mark} ", style=style).append(f"{check.name:<15}", style="bold").append(check.detail)
            out.print(line, soft_wrap=True)
            if check.fix:
                out.print(Text(f"  {'':<15}fix: {check.fix}", style="yellow"), soft_wrap=True)
    if any(check.state == "fail" for check in checks):
        raise SystemExit(1)
