"""/docs and /redoc work without internet: every script, style sheet and icon they load is
served by the service itself, and answers without a token when auth is on (the pages are
open, as /openapi.json is), while the run data still needs it."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urljoin

import httpx
import pytest

from tests.support.service import ServiceFactory, ServiceProcess

# Static pages and assets: the same whatever the store.
pytestmark = pytest.mark.sqlite_only
TOKEN = "docs-" + "t" * 24
# Every URL a page loads: src/href attributes, Swagger UI's `url:` and ReDoc's `spec-url`.
_LOADED = re.compile(r"""(?:\bsrc|\bhref|\bspec-url)=["']([^"']+)["']|\burl:\s*["']([^"']+)["']""")
_SCRIPTS = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.fixture(scope="module")
def guarded(module_service_factory: ServiceFactory) -> ServiceProcess:
    return module_service_factory(auth_token=TOKEN)


def _loaded_urls(html: str) -> list[str]:
    return [attribute or script for attribute, script in _LOADED.findall(html)]


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_the_docs_pages_load_only_local_assets_that_answer(guarded: ServiceProcess, page: str, script: str) -> None:
    reply = httpx.get(f"{guarded.url}{page}")  # no token: the pages are open
    assert reply.status_code == 200
    urls = _loaded_urls(reply.text)
    assert any(url.endswith(script) for url in urls) and any(url.endswith("/openapi.json") for url in urls)
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
        asset = httpx.get(urljoin(guarded.url, url))
        kind = next(kind for suffix, kind in _SCRIPTS.items() if url.endswith(suffix))
        assert asset.status_code == 200 and kind in asset.headers["content-type"], url
        assert len(asset.content) > 1000, url  # the asset itself, not an error page


def test_the_asset_path_opens_no_run_data(guarded: ServiceProcess) -> None:
    # http.client sends the path as written (httpx would remove the dot segments itself).
    for path in ("/docs-assets/../api/v1/runs", "/docs-assets/%2e%2e/api/v1/runs", "/docs-assets/nothing-here.js"):
        connection = http.client.HTTPConnection("127.0.0.1", guarded.port, timeout=5)
        try:
            connection.request("GET", path)
            assert connection.getresponse().status == 404, path
        finally:
            connection.close()
    assert httpx.get(f"{guarded.url}/api/v1/runs").status_code == 401
