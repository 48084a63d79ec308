"""Accessibility of every view of the web app, checked with axe-core in a real browser.

axe-core (vendored under ``tests/e2e/vendor/``, see its README) runs inside the page on
the sign-in form, the chat with an answer, the source viewer over a cited PDF page, the
library and the admin area: no serious or critical violations. And the views stay usable
at 390 px wide (nothing wider than the screen, the main controls on it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from e2e_kit import run_cli, write_pdf

from testkit import deepwell_serve, serve_env

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"

PAGES = [
    ["Expense handbook", "", "Scope", "This handbook applies to every employee of the company."],
    ["Mileage", "", "Private cars are reimbursed at 31 cents per kilometre driven."],
]
NOTE = "# Travel policy\n\n## Meals\n\nEmployees travelling on business receive 42 euros a day.\n"


RUN = {
    "run_id": "r2-0000000",
    "created_at": "2026-12-06T02:00:00Z",
    "dataset": "policies",
    "dataset_version": "3",
    "systems": ["rag"],
    "config_hash": "abc123",
    "git_rev": "0ca01bb",
    "accepted": False,
}
EVAL_REPORT = {
    "run": RUN,
    "summary": {
        "rag": {
            "recall_at_5": {"mean": 0.812, "low": 0.7, "high": 0.9},
            "faithfulness": {"mean": 0.9, "low": 0.85, "high": 0.95},
        }
    },
    "by_type": {"rag": {"lookup": {"recall_at_5": 0.85}}},
    "latency": {"rag": {"p50_ms": 820.0}},
    "stage_seconds": {"answer": 12.5},
    "questions": 40,
    "warnings": [],
    "baseline": None,
    "regressions": [],
    "trend": [
        {
            "run_id": "r1-0000000",
            "created_at": "2026-12-05T02:00:00Z",
            "accepted": True,
            "summary": {"rag": {"recall_at_5": {"mean": 0.79, "low": 0.7, "high": 0.88}}},
        },
        {
            "run_id": "r2-0000000",
            "created_at": "2026-12-06T02:00:00Z",
            "accepted": False,
            "summary": {"rag": {"recall_at_5": {"mean": 0.812, "low": 0.7, "high": 0.9}}},
        },
    ],
    "report_url": None,
}


@dataclass(frozen=True)
class Server:
    url: str
    key: str  # an admin's


@pytest.fixture(scope="module")
def server(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("a11y")
    docs = root / "docs"
    docs.mkdir()
    write_pdf(docs / "expense-handbook.pdf", PAGES)
    (docs / "travel-policy.md").write_text(NOTE, encoding="utf-8")
    env = serve_env(
        root / "data",
        DEEPWELL_LLM__BACKEND="extractive",
        DEEPWELL_LOG_FORMAT="json",
        # Page loads fetch about ten files without a key (counted per address); the tests
        # load pages more often in a minute than a person does.
        DEEPWELL_API__ANONYMOUS_RATE_LIMIT_PER_MINUTE="600",
    )
    run_cli(["ingest", str(docs), "--acl", "group:staff", "--json"], root, env)
    created = json.loads(
        run_cli(
            ["keys", "create", "--user", "ada", "--group", "staff", "--role", "admin", "--json"],
            root,
            env,
        )
    )
    with deepwell_serve(root, env, timeout=90) as srv:
        yield Server(srv.url, created["key"])


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's CSP does not govern
        # (a <script> tag would be refused: script-src 'self').
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
        }"""
    )
    return found


def sign_in(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    page.goto(server.url)
    page.get_by_label("API key").fill(server.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#chat-view")).to_have_attribute("aria-busy", "false")


def ask(page: Page) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Your question").fill("How much are private cars reimbursed?")
    page.get_by_label("Your question").press("Enter")
    answer = page.locator(".answer-text").last
    expect(answer).to_have_attribute("aria-busy", "false", timeout=60_000)
    expect(answer).to_contain_text("31 cents")


def test_every_view_has_no_serious_accessibility_violations(
    page: Page, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    seen: dict[str, list[dict[str, Any]]] = {}

    page.goto(server.url)
    expect(page.get_by_label("API key")).to_be_visible()
    seen["sign-in"] = serious_violations(page)

    sign_in(page, server)
    ask(page)
    expect(page.locator(".feedback").last).to_be_visible()
    page.get_by_role("button", name="No", exact=True).click()  # the comment box, open
    seen["chat"] = serious_violations(page)

    page.locator(".answer-text .cite").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#citation-status")).to_have_text("")
    status = page.locator("#viewer-status")
    expect(status).not_to_be_empty()
    expect(status).not_to_contain_text("Loading", timeout=30_000)  # the page, or why not
    seen["viewer"] = serious_violations(page)
    page.screenshot(path=tmp_path / "viewer.png")
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Library").click()
    expect(page.locator("#library-rows tr")).to_have_count(2)
    seen["library"] = serious_violations(page)
    page.screenshot(path=tmp_path / "library.png", full_page=True)

    # No evaluation has run on this server: the report (its route's shape) is given here.
    page.route(
        re.compile(r"/v1/eval/report$"),
        lambda route: route.fulfill(status=200, json=EVAL_REPORT),
    )
    page.get_by_role("link", name="Admin").click()
    expect(page.locator("#key-rows table")).to_be_visible()
    trend = page.get_by_role("region", name="Evaluation trend")
    expect(trend).to_contain_text("rag: recall at 5")
    expect(trend.locator("tbody tr")).to_have_count(2)
    expect(trend).to_contain_text("0.812")
    seen["admin"] = serious_violations(page)
    page.screenshot(path=tmp_path / "admin.png", full_page=True)

    bad = {view: found for view, found in seen.items() if found}
    assert not bad, json.dumps(bad, indent=2)


def test_the_views_fit_a_390_px_screen(page: Page, server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, server)
    ask(page)
    for view in ("chat", "library", "admin"):
        if view != "chat":
            page.get_by_role("link", name=view.capitalize()).click()
        heading = {"chat": "#question", "library": "#library-heading", "admin": "#admin-heading"}
        expect(page.locator(heading[view])).to_be_visible()
        if view == "library":
            expect(page.locator("#library-rows tr")).to_have_count(2)
        page.screenshot(path=tmp_path / f"390-{view}.png", full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(
            """() => [...document.querySelectorAll("body *")]
                .filter((e) => e.getBoundingClientRect().right > 391 && e.checkVisibility())
                .slice(0, 5)
                .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)"""
        )
        assert width <= 390, f"{view}: the page is {width} px wide at 390 px: {wide}"
    page.get_by_role("link", name="Chat").click()
    send = page.get_by_role("button", name=re.compile("^Send$"))
    box = send.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 390
