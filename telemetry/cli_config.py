"""What the commands share about their configuration: the error for a mistake in how a
command was called or configured (one line on stderr, `Error: ...`, exit status 2, no
traceback, before anything starts) and the check of the service URL a command talks to."""

from __future__ import annotations

import click

from telemetry.settings import url_problem


class ConfigMistake(click.ClickException):
    """A usage or configuration mistake the user can fix (exit status 2, like click's own)."""

    exit_code = 2


def service_url(given: str | None, configured: str) -> str:
    """The service URL a command uses: `--api-url`, else TELEMETRY_API_URL (or its
    default); a malformed one is a `ConfigMistake` naming where it came from."""
    url = given if given is not None else configured
    problem = url_problem(url)
    if problem is not None:
        source = "--api-url" if given is not None else "TELEMETRY_API_URL"
        raise ConfigMistake(f"{source} {url[:80]!r} {problem}; give the service's URL, e.g. http://127.0.0.1:8765")
    return url
