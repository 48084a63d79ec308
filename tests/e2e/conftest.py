"""Browser fixtures: Debian's Chromium driven by Playwright, offline.

Playwright's own browser downloads are not used (no network here): the bundled
driver launches the system Chromium through ``executable_path``. Where it is
missing, the session installs it with apt when it can (root, apt-get present),
else the browser tests skip with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from debian import apt_install

if TYPE_CHECKING:  # imported in the fixtures, so a missing playwright skips instead of failing
    from playwright.sync_api import Page, Playwright, Route

CHROMIUM = Path("/usr/bin/chromium")
# Without these Chromium phones home at start (updates, sync, QUIC probes); here those
# connections are refused and slow the start, so switch them all off.
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container: the setuid sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The system Chromium, installed with apt on first use where possible."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.exists():
        reason = apt_install("chromium")
        if reason is not None or not CHROMIUM.exists():
            pytest.skip(f"browser tests need {CHROMIUM}: {reason or 'not found after install'}")
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_driver(chromium: Path) -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def page(playwright_driver: Playwright, chromium: Path, tmp_path: Path) -> Iterator[Page]:
    """A fresh browser profile and tab; any request to a non-loopback host fails the test."""
    context = playwright_driver.chromium.launch_persistent_context(
        tmp_path / "profile",
        executable_path=str(chromium),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 860},
        locale="en-GB",
    )
    external: list[str] = []
    errors: list[str] = []

    def guard(route: Route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            external.append(url)
            route.abort()

    context.route("**/*", guard)
    tab = context.pages[0] if context.pages else context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()
    assert not external, f"the page tried to reach other hosts: {external}"
    assert not errors, f"uncaught errors in the page: {errors}"
