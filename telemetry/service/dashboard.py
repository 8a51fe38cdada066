"""The web dashboard: `/` serves the page, `/dashboard/...` its script and style sheet,
all shipped in the package (telemetry/service/static/), no build step and nothing fetched
from elsewhere. The page holds no run data: it asks the API (with the user's token, when
auth is on) from the browser, so these paths are open (see guard.OPEN_PATHS)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Response
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PREFIX = "/dashboard"
# The page runs only its own script and style and talks only to this service; agent data is
# written as text by the script, and this policy stops any markup that slipped through from
# loading or running anything.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def add_dashboard(app: FastAPI) -> None:
    """Serve the dashboard page at `/` and its assets under `/dashboard/`."""
    page = (STATIC_DIR / "index.html").read_bytes()

    @app.get("/", include_in_schema=False)
    async def dashboard_page() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=_HEADERS)

    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC_DIR), name="dashboard")
