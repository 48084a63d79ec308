"""The first hour of a new deepwell, in a real browser against a real `deepwell serve`.

From an empty data directory: sign in with the admin key the server printed, upload two
PDFs and a DOCX through the library page (the PDFs for everyone in the tenant, the DOCX
for the admin only), watch them ingest, ask a question, open its citation and see the PDF page with
the passage highlighted, rate the answer down with a comment, find it in the admin area's
feedback queue, create a reader key, and sign in as that reader: no
admin area, and only the documents the reader's ACL allows.

Each step's screenshot is saved in the test's directory, and copied to the directory
``DEEPWELL_SCREENSHOTS`` names when it is set.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from e2e_kit import write_pdf

from testkit import KEY_PATTERN, deepwell_serve, serve_env

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

EXPENSES = [
    ["Expense handbook", "", "Scope", "This handbook applies to every employee of the company."],
    [
        "Mileage",
        "",
        "Private cars are reimbursed at 31 cents per kilometre driven.",
        "Claims are filed within 30 days of the trip.",
    ],
]
TRAVEL = [
    ["Travel policy", "", "Meals", "Employees travelling on business receive 42 euros per day."],
    ["Hotels", "", "Hotel rooms are reimbursed up to 160 euros per night."],
]
QUESTION = "How much are private cars reimbursed per kilometre?"
COMMENT = "It should say whether parking is included."


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Board minutes", level=1)
    document.add_paragraph("The board approved a research budget of 7 million euros for 2027.")
    document.save(str(path))


@dataclass
class Walk:
    """Where the screenshots and notes of the walk go."""

    page: Page
    out: Path
    n: int = 0

    def _keep(self, path: Path) -> None:
        if target := os.environ.get("DEEPWELL_SCREENSHOTS"):
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(target) / path.name)

    def note(self, name: str, text: str) -> None:
        (self.out / name).write_text(text, encoding="utf-8")
        self._keep(self.out / name)

    def shot(self, name: str) -> None:
        self.n += 1
        path = self.out / f"{self.n:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        self._keep(path)


@pytest.fixture
def server(chromium: Path, tmp_path: Path) -> Iterator[Any]:
    """`deepwell serve` on an empty data directory (depends on chromium: no browser, no server)."""
    env = serve_env(
        tmp_path / "data",
        DEEPWELL_LLM__BACKEND="extractive",
        DEEPWELL_LOG_FORMAT="json",
        DEEPWELL_INGEST__WORKERS="1",
        # Page loads fetch about ten files without a key (counted per address); the test
        # loads pages more often in a minute than a person does.
        DEEPWELL_API__ANONYMOUS_RATE_LIMIT_PER_MINUTE="600",
    )
    with deepwell_serve(tmp_path, env, timeout=120) as srv:
        yield srv


def dark_pixels_in_highlight(page: Page) -> int:
    """Dark (text) pixels of the rendered page inside the first highlight box."""
    return int(
        page.evaluate(
            """() => {
                const canvas = document.getElementById("viewer-canvas");
                const box = document.querySelector("#viewer-boxes .pdf-highlight");
                const c = canvas.getBoundingClientRect(), b = box.getBoundingClientRect();
                const sx = canvas.width / c.width, sy = canvas.height / c.height;
                const x = Math.max(0, Math.floor((b.left - c.left) * sx));
                const y = Math.max(0, Math.floor((b.top - c.top) * sy));
                const w = Math.max(1, Math.floor(b.width * sx));
                const h = Math.max(1, Math.floor(b.height * sy));
                const data = canvas.getContext("2d").getImageData(x, y, w, h).data;
                let dark = 0;
                for (let i = 0; i < data.length; i += 4) {
                    if (data[i + 3] > 0 && data[i] + data[i + 1] + data[i + 2] < 200) dark += 1;
                }
                return dark;
            }"""
        )
    )


def sign_in(page: Page, url: str, key: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#chat-view")).to_have_attribute("aria-busy", "false")


def upload(page: Page, files: list[Path], *, readers: str) -> None:
    """Choose ``files`` and who may read them (a label of the form's choices), and send."""
    page.get_by_label("Files to upload").set_input_files([str(f) for f in files])
    page.get_by_label(readers).check()
    page.get_by_role("button", name=re.compile(r"^Upload")).click()


def test_the_first_hour(page: Page, server: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    walk = Walk(page, tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "expense-handbook.pdf", EXPENSES)
    write_pdf(docs / "travel-policy.pdf", TRAVEL)
    write_docx(docs / "board-minutes.docx")

    # 1. Sign in with the key `deepwell serve` printed at its first start.
    admin_key = server.admin_key()
    page.goto(server.url)
    walk.shot("sign-in")
    sign_in(page, server.url, admin_key)
    expect(page.locator("#who-role")).to_have_text("admin")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    walk.shot("signed-in")

    # 2. The library, empty; upload the two PDFs for everyone and the DOCX for me only.
    page.get_by_role("link", name="Library").click()
    expect(page.get_by_role("heading", name="Library", level=2)).to_be_focused()
    expect(page.locator("#library-status")).to_contain_text("No documents yet")
    page.evaluate(
        """() => {
            window.__progress = [];
            const last = {};
            new MutationObserver(() => {
                for (const t of document.querySelectorAll("#upload-list .upload-text")) {
                    const file = t.closest("li").dataset.file;
                    if (last[file] === t.textContent) continue;
                    last[file] = t.textContent;
                    window.__progress.push(`${file}: ${t.textContent}`);
                }
            }).observe(document.getElementById("upload-list"),
                       {subtree: true, childList: true, characterData: true});
        }"""
    )
    pdfs = [docs / "expense-handbook.pdf", docs / "travel-policy.pdf"]
    upload(page, pdfs, readers="Everyone in my organisation")
    walk.shot("uploading")
    upload(page, [docs / "board-minutes.docx"], readers="Only me")

    # 3. Each file goes through upload and ingest to ready, with its progress shown.
    for name in ("expense-handbook.pdf", "travel-policy.pdf", "board-minutes.docx"):
        row = page.locator(f'.upload-item[data-file="{name}"]')
        expect(row.locator(".upload-text")).to_contain_text("Ready", timeout=240_000)
        expect(row.locator("progress")).to_have_attribute("value", "1")
    progress = page.evaluate("window.__progress")
    walk.note("progress.txt", "\n".join(progress) + "\n")  # what the upload list said, in order
    for name in ("expense-handbook.pdf", "board-minutes.docx"):
        mine = [p for p in progress if p.startswith(f"{name}: ")]
        assert f"{name}: Uploaded; waiting to be read…" in mine, progress
        assert mine[-1].startswith(f"{name}: Ready: "), progress
    table = page.locator("#library-rows")
    expect(table.locator("tr")).to_have_count(3, timeout=30_000)
    handbook = table.locator("tr", has_text="expense-handbook.pdf")
    expect(handbook).to_contain_text("Ready", timeout=30_000)
    expect(handbook).to_contain_text("PDF")
    expect(handbook.locator('td[data-label="Pages"]')).to_have_text("2")
    expect(handbook.locator('td[data-label="Readers"]')).to_contain_text("everyone")
    minutes = table.locator("tr", has_text="board-minutes.docx")
    expect(minutes.locator('td[data-label="Readers"]')).to_have_text("admin")
    walk.shot("library-ready")
    # The filter narrows the list.
    page.get_by_label("Search titles and file names").fill("board")
    expect(table.locator("tr")).to_have_count(1)
    page.get_by_label("Search titles and file names").fill("")
    expect(table.locator("tr")).to_have_count(3)

    # A file that cannot be read says why, in the upload list and in the library.
    (docs / "scan.pdf").write_bytes(b"%PDF-1.7\nthis is not really a PDF\n")
    upload(page, [docs / "scan.pdf"], readers="Only me")
    broken = page.locator('.upload-item[data-file="scan.pdf"] .upload-text')
    expect(broken).to_have_text(re.compile(r"^(Failed|Not uploaded): \S"), timeout=120_000)
    expect(broken).to_have_attribute("role", "alert")
    reason = broken.inner_text().split(": ", 1)[1]
    if broken.inner_text().startswith("Failed"):  # read, then failed: listed with its reason
        failed = table.locator("tr", has_text="scan.pdf")
        expect(failed.locator('td[data-label="State"]')).to_contain_text("Failed")
        expect(failed.locator(".failure")).not_to_be_empty()
    walk.shot("upload-failed")
    assert "Traceback" not in reason
    # Its owner deletes it from the library (after confirming).
    if broken.inner_text().startswith("Failed"):
        page.once("dialog", lambda dialog: dialog.accept())
        table.get_by_role("button", name="Delete scan.pdf").click()
        expect(page.locator("#library-status")).to_contain_text("Deleted scan.pdf.")
        expect(table.locator("tr", has_text="scan.pdf")).to_have_count(0)
        expect(table.locator("tr")).to_have_count(3)

    # 4. Ask a question in the chat.
    page.get_by_role("link", name="Chat").click()
    question = page.get_by_label("Your question")
    expect(question).to_be_focused()
    question.fill(QUESTION)
    question.press("Enter")
    answer = page.locator(".answer-text").last
    expect(answer).to_have_attribute("aria-busy", "false", timeout=60_000)
    expect(answer).to_contain_text("31 cents per kilometre")
    sources = page.locator(".sources").last
    expect(sources).to_contain_text("expense-handbook.pdf")
    walk.shot("answer")

    # 5. Its citation opens the PDF page with the passage highlighted.
    cite = answer.get_by_role("button", name=re.compile(r"^Source \d+: Expense handbook"))
    cite.first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#citation-text")).to_contain_text("31 cents per kilometre driven")
    expect(dialog.locator("#citation-file")).to_have_text("expense-handbook.pdf")
    pdf = page.locator("#viewer-pdf")
    expect(pdf).to_be_visible(timeout=30_000)
    # The passage's first page; the mileage sentence is on page 2 (the passage may start on
    # page 1: the handbook is short).
    expect(pdf).to_have_attribute("data-page", re.compile(r"^[12]$"))  # rendered
    expect(page.locator("#viewer-canvas")).to_have_attribute(
        "aria-label", re.compile(r"^Page [12] of 2")
    )
    if pdf.get_attribute("data-page") == "1":
        page.get_by_role("button", name="Next page").click()
        expect(pdf).to_have_attribute("data-page", "2")
        # The last page: "Next page" is disabled, the focus moved beside it.
        expect(page.get_by_role("button", name="Previous page")).to_be_focused()
    expect(pdf).to_have_attribute("data-page", "2")
    expect(page.locator("#viewer-boxes .pdf-highlight")).to_have_count(1)
    expect(page.locator("#viewer-status")).to_contain_text("highlighted")
    assert dark_pixels_in_highlight(page) > 50  # the box lies over the passage's text
    walk.shot("citation-pdf-page")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(cite.first).to_be_focused()

    # 6. Rate the answer down with a comment.
    page.get_by_role("button", name="No", exact=True).click()
    page.get_by_label("Comment (optional)").fill(COMMENT)
    page.get_by_role("button", name="Send feedback").click()
    expect(page.locator(".feedback-status").last).to_have_text(
        "Thanks, your feedback was recorded."
    )
    walk.shot("rated-down")

    # 7. The admin area's feedback queue has it.
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_focused()
    queue = page.locator("#feedback-list")
    expect(queue).to_contain_text(QUESTION)
    expect(queue).to_contain_text(COMMENT)
    queue.locator("summary").first.click()
    expect(queue).to_contain_text("31 cents per kilometre")
    expect(queue).to_contain_text("expense-handbook.pdf")
    walk.shot("admin-feedback")

    # 8. Create a reader key; shown once. (An admin's key grants no group the admin is not
    # in, api.key_delegation: this admin has none.)
    page.get_by_label("User", exact=True).fill("rita")
    page.get_by_label("Role").select_option("reader")
    page.get_by_label("Name (optional)").fill("Rita's laptop")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("The new key (shown only this once)")
    expect(secret).to_be_focused()
    reader_key = secret.input_value()
    assert KEY_PATTERN.fullmatch(reader_key), reader_key
    expect(page.locator("#key-rows")).to_contain_text("rita")
    walk.shot("admin-reader-key")

    # 9. Signed in as the reader: no admin area, only the PDFs shared with everyone.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server.url, reader_key)
    expect(page.locator("#who-user")).to_have_text("rita")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto(f"{server.url}/#admin")
    expect(page.locator("#admin-view")).to_be_hidden()
    expect(page.locator("#chat-view")).to_be_visible()
    status = page.evaluate(
        """async (key) => (await fetch("v1/keys",
                                       {headers: {Authorization: `Bearer ${key}`}})).status""",
        reader_key,
    )
    assert status == 403  # and the server says no, whatever the page shows
    page.get_by_role("link", name="Library").click()
    expect(table.locator("tr")).to_have_count(2)
    expect(table).to_contain_text("expense-handbook.pdf")
    expect(table).to_contain_text("travel-policy.pdf")
    expect(table).not_to_contain_text("board-minutes")
    expect(page.locator("#upload-section")).to_be_hidden()  # readers do not upload
    expect(table.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    walk.shot("reader-library")


def test_ingest_progress_is_shown_by_page(page: Page, server: Any, tmp_path: Path) -> None:
    """While a long document is read the upload says which page it is on (the job's
    `pages`), and the bar moves with the job's progress; the job's replies are given here,
    so the pages can be watched one by one."""
    from playwright.sync_api import Route, expect

    replies = iter(
        [
            {"status": "queued", "progress": 0.0, "pages": {"done": 0, "total": 0}},
            {"status": "running", "progress": 0.25, "pages": {"done": 10, "total": 40}},
            {"status": "running", "progress": 0.5, "pages": {"done": 20, "total": 40}},
            {"status": "done", "progress": 1.0, "pages": {"done": 40, "total": 40}, "chunks": 97},
        ]
    )
    seen: list[str] = []

    def accept(route: Route) -> None:
        route.fulfill(status=202, json={"doc_id": "d1", "job_id": "j1", "status": "queued"})

    def job(route: Route) -> None:
        reply = next(replies)
        seen.append(reply["status"])
        route.fulfill(status=200, json={"job_id": "j1", "errors": [], **reply})

    def documents(route: Route) -> None:
        if route.request.method == "POST":
            accept(route)
        else:
            route.continue_()

    page.route(re.compile(r"/v1/documents$"), documents)
    page.route(re.compile(r"/v1/jobs/j1$"), job)
    sign_in(page, server.url, server.admin_key())
    page.get_by_role("link", name="Library").click()
    page.evaluate(
        """() => {
            window.__bar = [];
            new MutationObserver((records) => {
                for (const r of records) {
                    if (r.target.tagName === "PROGRESS") window.__bar.push(r.target.value);
                }
            }).observe(document.getElementById("upload-list"),
                       {subtree: true, attributes: true, attributeFilter: ["value"]});
        }"""
    )
    (tmp_path / "annual-report.pdf").write_bytes(b"%PDF-1.7\n")
    upload(page, [tmp_path / "annual-report.pdf"], readers="Only me")
    text = page.locator('.upload-item[data-file="annual-report.pdf"] .upload-text')
    expect(text).to_have_text("Reading: page 10 of 40")
    expect(text).to_have_text("Reading: page 20 of 40")
    expect(text).to_have_text("Ready: 97 passages indexed.")
    # The bar: the upload is its first fifth, then the job's progress.
    bar = page.evaluate("window.__bar")
    for value in (0.2, 0.2 + 0.8 * 0.25, 0.2 + 0.8 * 0.5, 1.0):
        assert any(abs(v - value) < 1e-6 for v in bar), (value, bar)
    assert seen == ["queued", "running", "running", "done"]
