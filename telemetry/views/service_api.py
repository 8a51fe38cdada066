"""What every command that talks to the service shares: the `--api-url`/`--token`/`--json`
options (defaults from the client's configuration, TELEMETRY_API_URL and
TELEMETRY_API_TOKEN), one HTTP client, and the one-line errors for an unreachable service,
a refused token or a reply that is not what the API promises."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import attrs
import click
import httpx

from telemetry.shell.config import TelemetryConfig

F = TypeVar("F", bound=Callable[..., Any])
REQUEST_TIMEOUT_S = 10.0


class ConfigMistake(click.ClickException):
    """A mistake in what the user configured (a refused token): exit 2, like a usage error."""

    exit_code = 2


class NotFound(click.ClickException):
    """What the user asked for does not exist: exit 1."""


def service_options(command: F) -> F:
    """`--api-url` and `--token`, read by `ServiceApi.from_options`."""
    command = click.option(
        "--token", help="Bearer token [env TELEMETRY_API_TOKEN]; prefer the variable (flags show in ps)."
    )(command)
    return click.option("--api-url", help="The service [env TELEMETRY_API_URL, default http://localhost:8765].")(command)


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")(command)


def path_segment(value: str) -> str:
    """`value` as one percent-encoded path segment."""
    return quote(value, safe="")


@attrs.frozen
class ServiceApi:
    """The service at `url`, asked with `token` (if any)."""

    url: str
    token: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_options(cls, api_url: str | None, token: str | None) -> ServiceApi:
        config = TelemetryConfig.from_env()
        url = (api_url or config.api_url).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise click.UsageError(f"--api-url must be an http(s) URL, got {url!r}")
        return cls(url, token or config.api_token)

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """GET `path`; a connection failure becomes one line naming the URL (exit 1)."""
        given = {name: value for name, value in (params or {}).items() if value is not None}
        try:
            return httpx.get(f"{self.url}{path}", params=given, headers=self.headers, timeout=REQUEST_TIMEOUT_S)
        except httpx.HTTPError as error:
            raise click.ClickException(
                f"cannot reach the service at {self.url} ({type(error).__name__}: {error}); "
                "start it with `telemetry serve` or point --api-url / TELEMETRY_API_URL at it"
            ) from None

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, missing: str | None = None) -> Any:
        """The JSON reply of GET `path` (see `json_of`)."""
        return self.json_of(self.request(path, params), path, missing=missing)

    def json_of(self, response: httpx.Response, path: str, *, missing: str | None = None) -> Any:
        """The JSON of a reply: 404 is `NotFound(missing)` when `missing` is given, 401 is a
        configuration mistake, any other failure one line with the status."""
        if response.status_code == 404 and missing is not None:
            raise NotFound(missing)
        refuse_unauthorized(self, response)
        if response.status_code != 200:
            raise click.ClickException(f"the service answered HTTP {response.status_code} to {path}: {_detail(response)}")
        try:
            return response.json()
        except ValueError:
            raise click.ClickException(f"the service at {self.url} did not answer JSON to {path}") from None


def refuse_unauthorized(api: ServiceApi, response: httpx.Response) -> None:
    if response.status_code == 401:
        given = "the token given was refused" if api.token else "it needs a token"
        raise ConfigMistake(f"the service at {api.url} requires auth and {given}; set TELEMETRY_API_TOKEN or --token")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail if detail is not None else response.text)[:300]
