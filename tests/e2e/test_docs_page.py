"""The API reference pages in a real browser against a real `deepwell serve`, offline.

``/docs`` (Swagger UI) and ``/redoc`` load only vendored files from the server itself:
every request to another host is aborted, and the pages must still render the API's
operations under the server's Content-Security-Policy without a single violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.api.apikit import Server, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

pytestmark = pytest.mark.browser

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="module")
def server(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`deepwell serve` on a free loopback port (started only when a browser exists)."""
    with live_server(tmp_path_factory.mktemp("docs-page")) as srv:
        yield srv


class Watch:
    """What a page did that it must not: reach other hosts, break its CSP, log errors."""

    def __init__(self, page: Page) -> None:
        self.external: list[str] = []
        self.console: list[str] = []
        self.requests: list[str] = []
        page.route("**/*", self._offline)
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        # Init scripts run through the DevTools protocol, outside the page's CSP.
        page.add_init_script(
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));"
        )

    def _offline(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def _console(self, message: object) -> None:
        kind = getattr(message, "type", "")
        text = getattr(message, "text", "")
        if kind == "error" or "Content Security Policy" in text:
            self.console.append(f"{kind}: {text}")

    def check(self, page: Page) -> None:
        violations = page.evaluate("window.__cspViolations")
        assert violations == [], f"CSP violations: {violations}"
        assert self.console == [], f"console errors: {self.console}"
        assert self.external == [], f"requests to other hosts: {self.external}"
        assert self.requests, "the watch saw no requests"


def test_swagger_ui_renders_the_operations_offline(
    page: Page, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    watch = Watch(page)
    response = page.goto(f"{server.url}/docs")
    assert response is not None
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/search").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/admin/health")).to_be_visible()
    assert operations.count() >= 15
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    # Open one operation: its parameters and responses render too.
    page.locator(".opblock-summary", has_text="/healthz").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.screenshot(path=tmp_path / "docs.png", full_page=True)
    watch.check(page)
    assert all(urlsplit(u).hostname in LOOPBACK for u in watch.requests if u.startswith("http"))


def test_redoc_renders_offline(page: Page, server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    watch = Watch(page)
    response = page.goto(f"{server.url}/redoc")
    assert response is not None
    assert response.status == 200
    expect(page.locator(".api-content h1").first).to_contain_text("deepwell")
    expect(page.locator(".menu-content")).to_contain_text("Liveness")
    expect(page.get_by_role("heading", name="Liveness")).to_be_visible()
    # The search box works (its index runs in a worker the CSP must allow).
    page.get_by_placeholder("Search...").fill("readiness")
    expect(page.locator("[data-role='search:results']")).to_contain_text("Readiness")
    page.screenshot(path=tmp_path / "redoc.png", full_page=False)
    watch.check(page)
