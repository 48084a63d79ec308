"""The chat page in a real browser against a real `deepwell serve`.

Sign in with an API key, ask, watch the answer stream in, open a citation's
passage, give feedback; a wrong key is refused on the sign-in form. Conversations
come from the server, never from the browser's storage, and signing out leaves
nothing behind. The server runs the extractive answer backend (no model) over a
few small documents that the CLI ingests for alice before the server takes the index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from e2e_kit import run_cli, write_pdf

from testkit import deepwell_serve, serve_env

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

TRAVEL_POLICY = """\
# Travel policy

## Meals

Employees travelling on company business receive a meal allowance of 42 euros per day.
Receipts are not required for the daily meal allowance.

## Hotels

Hotel rooms are reimbursed up to 160 euros per night; book through the travel desk.
"""

# Two PDF pages, so citations have page numbers.
EXPENSE_PAGES = [
    ["Expense handbook", "", "Scope", "This handbook applies to every employee of the company."],
    ["Mileage", "", "Private cars are reimbursed at 31 cents per kilometre driven."],
]


@dataclass(frozen=True)
class Server:
    url: str
    key: str  # alice's
    spare_key_id: str  # another of alice's keys, for the revocation test
    spare_key: str
    root: Path
    env: dict[str, str]


def _create_key(cwd: Path, env: dict[str, str], *args: str) -> tuple[str, str]:
    """A new key (the secret and its id) from `deepwell keys create --json`."""
    created = json.loads(run_cli(["keys", "create", *args, "--json"], cwd, env))
    return created["key"], created["key_id"]


@pytest.fixture(scope="module")
def server(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`deepwell serve` on a free port over alice's documents, and alice's API key.

    Depends on ``chromium`` so that without a browser nothing is ingested or started.
    """
    root = tmp_path_factory.mktemp("chat-page")
    docs = root / "docs"
    docs.mkdir()
    (docs / "travel-policy.md").write_text(TRAVEL_POLICY, encoding="utf-8")
    write_pdf(docs / "expense-handbook.pdf", EXPENSE_PAGES)
    env = serve_env(
        root / "data",
        DEEPWELL_LLM__BACKEND="extractive",
        DEEPWELL_LOG_FORMAT="json",
        # Each page load fetches about ten files before a key is shown (the app's modules),
        # and those count against the per-address budget of requests without a key; the
        # tests load the page more often in a minute than a person does.
        DEEPWELL_API__ANONYMOUS_RATE_LIMIT_PER_MINUTE="600",
    )
    # The embedded index has one owner: ingest and create keys before the server starts.
    run_cli(["ingest", str(docs), "--acl", "user:alice", "--json"], root, env)
    alice = ("--user", "alice", "--group", "finance", "--role", "writer")
    key, _ = _create_key(root, env, *alice)
    spare_key, spare_key_id = _create_key(root, env, *alice, "--name", "to revoke")

    with deepwell_serve(root, env, timeout=90) as srv:
        yield Server(srv.url, key, spare_key_id, spare_key, root, env)


def _sign_in(page: Page, server: Server, key: str) -> None:
    page.goto(server.url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def _wait_signed_in(page: Page) -> None:
    """Signed in as alice, with her conversations (and the most recent one) loaded."""
    from playwright.sync_api import expect

    expect(page.locator("#who-user")).to_have_text("alice")
    expect(page.locator("#chat-view")).to_have_attribute("aria-busy", "false")


def test_sign_in_ask_open_citation_and_give_feedback(
    page: Page, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    _sign_in(page, server, server.key)
    whoami = page.locator("#whoami")
    expect(whoami).to_contain_text("alice")
    expect(whoami).to_contain_text("writer")
    expect(page.locator("#who-tenant")).not_to_be_empty()

    # Count the streamed text's updates: more than one means the answer arrived in pieces.
    # And log, in order, when the sources are listed, what the status says, and when the
    # answer's first words appear.
    page.evaluate(
        """() => {
            window.__streamed = 0;
            window.__order = [];
            new MutationObserver((records) => {
                window.__streamed += records.filter((r) => r.type === "characterData").length;
                for (const r of records) {
                    const text = r.target.nodeType === Node.TEXT_NODE;
                    const at = text ? r.target.parentElement : r.target;
                    if (r.type === "characterData" && r.target.data && at.closest(".answer-text")) {
                        window.__order.push("token");
                    } else if (r.type === "childList" && at.classList.contains("source-list")
                               && r.addedNodes.length) {
                        window.__order.push("sources");
                    } else if (r.type === "childList" && at.classList.contains("status-text")
                               && at.textContent) {
                        window.__order.push(`status: ${at.textContent}`);
                    }
                }
            }).observe(document.getElementById("messages"),
                       {characterData: true, childList: true, subtree: true});
        }"""
    )
    question = page.get_by_label("Your question")
    question.fill("How much are private cars reimbursed per kilometre?")
    question.press("Enter")

    answer = page.locator(".answer-text").last
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(answer).to_have_attribute("aria-live", "polite")
    expect(answer).to_contain_text("31 cents per kilometre")
    assert page.evaluate("window.__streamed") > 1
    expect(page.locator(".answer-error").last).to_be_hidden()
    # The sources were listed, and the status said the model was reading them, before the
    # first word of the answer.
    order = page.evaluate("window.__order")
    assert order[0] == "sources", order
    assert re.fullmatch(r"status: Reading \d+ passages?…", order[1]), order
    assert "token" in order
    expect(page.locator(".answer-status").last).to_be_hidden()

    sources = page.locator(".sources").last
    expect(sources).to_be_visible()
    expect(sources).to_contain_text("Expense handbook")
    expect(sources).to_contain_text(re.compile(r"pp?\. \d"))
    # At the end, the passages the answer cites are marked.
    cited = sources.locator("li.cited")
    expect(cited.first).to_contain_text("Expense handbook")
    expect(cited.first).to_contain_text("cited")
    expect(page.locator(".answer-actions").last).to_be_hidden()  # no Retry for a whole answer

    # The [n] marker in the answer opens the cited passage, fetched from the server.
    cite = answer.get_by_role("button", name=re.compile(r"^Source \d+: Expense handbook"))
    expect(cite.first).to_be_visible()
    cite.first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#citation-text")).to_contain_text("31 cents per kilometre driven")
    # A clean title, and the file name beside it.
    expect(dialog.locator("#citation-document")).to_have_text("Expense handbook")
    expect(dialog.locator("#citation-file")).to_have_text("expense-handbook.pdf")
    expect(dialog.locator("#citation-page")).to_have_text(re.compile(r"^pp?\. \d"))
    expect(dialog.locator("#citation-status")).to_have_text("")  # not the snippet fallback
    expect(page.get_by_role("button", name="Close")).to_be_focused()
    page.screenshot(path=tmp_path / "chat-citation.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(cite.first).to_be_focused()

    # Thumbs down with a comment.
    page.get_by_role("button", name="No", exact=True).click()
    comment = page.get_by_label("Comment (optional)")
    expect(comment).to_be_focused()
    comment.fill("The mileage cap is missing.")
    with page.expect_response(re.compile(r"/v1/feedback$")) as sent:
        page.get_by_role("button", name="Send feedback").click()
    response = sent.value
    assert response.status == 201
    assert response.json()["feedback_id"]
    body = json.loads(response.request.post_data or "{}")
    assert body["rating"] == "down"
    assert body["comment"] == "The mileage cap is missing."
    assert body["answer_id"]
    expect(page.locator(".feedback-status").last).to_have_text(
        "Thanks, your feedback was recorded."
    )
    page.screenshot(path=tmp_path / "chat-answer.png", full_page=True)

    # The sign-in and the conversation survive a reload (the conversation, its sources and
    # the rating from the server); signing out forgets the key.
    page.reload()
    expect(page.locator("#who-user")).to_have_text("alice")
    conversation = page.get_by_role("navigation", name="Conversations")
    expect(conversation.get_by_role("button", name=re.compile("private cars"))).to_have_attribute(
        "aria-current", "true"
    )
    expect(page.locator(".answer-text").last).to_contain_text("31 cents per kilometre")
    expect(page.locator(".sources").last).to_contain_text("Expense handbook")
    expect(page.locator(".feedback-status").last).to_have_text(
        "Thanks, your feedback was recorded."
    )
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_wrong_key_is_refused_on_the_sign_in_form(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    _sign_in(page, server, "dw_not-a-real-key")
    expect(page.locator("#signin-error")).to_contain_text("not accepted")
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("API key")).to_be_focused()
    expect(page.locator("#chat-view")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_revoked_key_goes_back_to_sign_in(page: Page, server: Server) -> None:
    from playwright.sync_api import expect

    _sign_in(page, server, server.spare_key)
    _wait_signed_in(page)  # a request still under way would meet the revocation first
    run_cli(["keys", "revoke", server.spare_key_id], server.root, server.env)
    question = page.get_by_label("Your question")
    question.fill("What is the meal allowance?")
    question.press("Enter")
    expect(page.locator("#signin-error")).to_contain_text("no longer accepted")
    expect(page.get_by_label("API key")).to_be_focused()
    expect(page.locator("#chat-view")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_server_errors_are_shown_in_the_conversation(page: Page, server: Server) -> None:
    """A 429 before the stream and an error event inside it: readable, in place of the answer."""
    from playwright.sync_api import Route, expect

    replies = iter(
        [
            {
                "status": 429,
                "headers": {"Retry-After": "7"},
                "content_type": "application/json",
                "body": json.dumps(
                    {"error": {"code": "rate_limited", "message": "over 60 requests a minute"}}
                ),
            },
            {
                "status": 200,
                "content_type": "text/event-stream",
                "body": 'event: token\ndata: {"text": "Private cars"}\n\n'
                "event: error\ndata: "
                + json.dumps({"error": {"code": "unavailable", "message": "LLM unreachable."}})
                + "\n\n",
            },
        ]
    )

    def reply(route: Route) -> None:
        route.fulfill(**next(replies))

    page.route(re.compile(r"/v1/answer$"), reply)
    _sign_in(page, server, server.key)
    _wait_signed_in(page)
    # Alice has conversations from the other tests; these questions start a new one.
    page.get_by_role("button", name="New conversation").click()
    question = page.get_by_label("Your question")
    errors = page.locator(".answer-error")

    question.fill("How much are private cars reimbursed?")
    page.get_by_role("button", name="Send").click()
    expect(errors.nth(0)).to_have_text("Too many requests. Please try again in 7 s.")

    question.fill("And hotels?")
    page.get_by_role("button", name="Send").click()
    expect(errors.nth(1)).to_contain_text("LLM unreachable.")
    expect(page.locator(".answer-text").nth(1)).to_have_text("Private cars")
    expect(page.locator(".feedback").nth(1)).to_be_hidden()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.get_by_role("button", name="Retry")).to_have_count(2)


def _sse(*events: tuple[str, object]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


PASSAGE = {
    "n": 1,
    "doc_id": "d1",
    "chunk_id": "c1",
    "title": "Travel policy",
    "source_uri": "file:///docs/travel-policy.md",
    "page_start": None,
    "page_end": None,
    "section": ["Hotels"],
    "snippet": "Hotel rooms are reimbursed up to 160 euros per night.",
    "score": 0.5,
}


def _answer(text: str, **extra: object) -> dict[str, object]:
    return {
        "answer_id": "a-" + str(abs(hash(text))),
        "answer": text,
        "citations": [PASSAGE],
        "context": [PASSAGE],
        "no_answer": False,
        "truncated": False,
        "note": None,
        **extra,
    }


def test_a_cut_off_answer_keeps_its_text_says_why_and_offers_retry(
    page: Page, server: Server, tmp_path: Path
) -> None:
    """The server ends a slow answer cleanly; the page keeps the words, shows the note, and
    Retry asks again."""
    from playwright.sync_api import Route, expect

    sources = ("sources", {"context": [PASSAGE], "generate": True, "answer_id": "x"})
    note = "The answer was cut off: local model did not finish within llm.timeout_s=120s."
    replies = iter(
        [
            _sse(
                sources,
                ("token", {"text": "Hotels are reimbursed"}),
                ("token", {"text": " up to"}),
                ("done", _answer("Hotels are reimbursed up to", truncated=True, note=note)),
            ),
            _sse(
                sources,
                ("token", {"text": "Up to 160 euros per night [1]."}),
                ("done", _answer("Up to 160 euros per night [1].")),
            ),
        ]
    )
    asked: list[str] = []

    def reply(route: Route) -> None:
        asked.append(json.loads(route.request.post_data or "{}")["question"])
        route.fulfill(status=200, content_type="text/event-stream", body=next(replies))

    page.route(re.compile(r"/v1/answer$"), reply)
    _sign_in(page, server, server.key)
    _wait_signed_in(page)
    page.get_by_role("button", name="New conversation").click()
    question = page.get_by_label("Your question")
    question.fill("How much are hotel rooms reimbursed?")
    question.press("Enter")

    cut = page.locator(".turn").nth(0)
    expect(cut.locator(".answer-text")).to_have_text("Hotels are reimbursed up to")
    expect(cut.locator(".answer-note")).to_have_text(note)
    expect(cut.locator(".answer-error")).to_be_hidden()
    retry = cut.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    page.screenshot(path=tmp_path / "cut-off.png", full_page=True)
    retry.click()

    again = page.locator(".turn").nth(1)
    expect(again.locator(".answer-text")).to_contain_text("160 euros per night")
    expect(again.get_by_role("button", name="Retry")).to_be_hidden()
    expect(retry).to_be_hidden()
    assert asked == ["How much are hotel rooms reimbursed?"] * 2


LEGACY_KEY = "deepwell.conversations.v1:default:alice"
LEGACY_TEXT = "Legacy cached passage: the board approved the zebracorn merger."


def _seed_legacy(page: Page) -> None:
    """What earlier versions of the page left in localStorage: answers with cited passages."""
    page.evaluate(
        """([key, text]) => {
            localStorage.setItem(key, JSON.stringify([{id: "x", title: "old", turns: [
                {question: "old?", answer: {answer: text, citations: [{n: 1, snippet: text}]}},
            ]}]));
            localStorage.setItem("deepwell.conversations.v1:x", "[]");
        }""",
        [LEGACY_KEY, LEGACY_TEXT],
    )


def _stored(page: Page) -> dict[str, list[str]]:
    names: dict[str, list[str]] = page.evaluate(
        """() => ({
            local: Object.keys(localStorage),
            session: Object.keys(sessionStorage),
        })"""
    )
    return names


def test_conversations_come_from_the_server_and_sign_out_leaves_nothing(
    page: Page, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    conversations = page.get_by_role("navigation", name="Conversations")
    answer_text = "42 euros per day"
    question_text = "What meal allowance do employees travelling on business receive?"

    # Leftovers of an earlier page version go at the sign-in screen...
    page.goto(server.url)
    expect(page.get_by_label("API key")).to_be_visible()
    _seed_legacy(page)
    page.reload()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("localStorage.length") == 0
    # ... and at sign-in.
    _seed_legacy(page)
    page.get_by_label("API key").fill(server.key)
    page.get_by_role("button", name="Sign in").click()
    _wait_signed_in(page)
    assert page.evaluate("localStorage.length") == 0

    page.get_by_role("button", name="New conversation").click()
    question = page.get_by_label("Your question")
    question.fill(question_text)
    question.press("Enter")
    expect(page.locator(".answer-text").last).to_contain_text(answer_text)
    expect(page.locator(".answer-text").last).to_have_attribute("aria-busy", "false")
    listed = conversations.get_by_role("button", name=re.compile("meal allowance"))
    expect(listed).to_have_attribute("aria-current", "true")
    page.screenshot(path=tmp_path / "conversation-asked.png", full_page=True)
    # Nothing but the key is stored while signed in.
    stored = _stored(page)
    assert stored["local"] == []
    assert stored["session"] == ["deepwell.apiKey"]

    # Sign out: no storage of ours left, and no trace of the answer on the page.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("localStorage.length") == 0
    assert not [k for k in _stored(page)["session"] if k.startswith("deepwell")]
    html = page.evaluate("document.body.innerHTML")
    for said in (answer_text, question_text, "meal allowance", "Expense handbook"):
        assert said not in html, said
    expect(page.locator("#messages > li")).to_have_count(0)
    expect(page.locator("#conversation-list > li")).to_have_count(0)
    page.screenshot(path=tmp_path / "signed-out.png", full_page=True)

    # A fresh page load with no storage at all: signing in brings the conversation back
    # from the server, turns and cited sources included.
    page.reload()
    with page.expect_response(re.compile(r"/v1/conversations/[^/?]+$")) as opened:
        _sign_in(page, server, server.key)
    assert opened.value.status == 200
    assert opened.value.headers.get("cache-control") == "no-store"
    expect(listed).to_have_attribute("aria-current", "true")
    expect(page.locator(".question-text").last).to_have_text(question_text)
    expect(page.locator(".answer-text").last).to_contain_text(answer_text)
    expect(page.locator(".sources").last).to_contain_text(re.compile("travel", re.I))
    page.screenshot(path=tmp_path / "conversation-reloaded.png", full_page=True)

    # Opening another conversation loads its turns; a new one starts empty.
    older = conversations.get_by_role("button", name=re.compile("private cars"))
    if older.count():
        older.click()
        expect(page.locator(".answer-text").last).to_contain_text("31 cents per kilometre")
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#messages > li")).to_have_count(0)
    expect(page.locator("#empty-state")).to_be_visible()
    assert page.evaluate("localStorage.length") == 0


def test_unverified_figures_are_marked_in_the_answer(page: Page, server: Server) -> None:
    """A figure the sources do not bear out is marked, with a title saying why; a verified
    one is not."""
    from playwright.sync_api import Route, expect

    answer = "iPhone net sales were $39,669 million [1]; Mac was $9,999 million [1]."
    done = {
        "answer_id": "f1",
        "answer": answer,
        "no_answer": False,
        "citations": [],
        "context": [],
        "figures": [
            {"text": "$39,669 million", "status": "verified", "source": 1},
            {"text": "$9,999 million", "status": "not_found", "source": None},
        ],
    }

    def reply(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=f"event: token\ndata: {json.dumps({'text': answer})}\n\n"
            f"event: done\ndata: {json.dumps(done)}\n\n",
        )

    page.route(re.compile(r"/v1/answer$"), reply)
    _sign_in(page, server, server.key)
    _wait_signed_in(page)
    page.get_by_role("button", name="New conversation").click()
    page.get_by_label("Your question").fill("What were iPhone and Mac net sales?")
    page.get_by_role("button", name="Send").click()
    marked = page.locator(".answer-text .figure-unverified")
    expect(marked).to_have_count(1)
    expect(marked).to_have_text("$9,999 million")
    expect(marked).to_have_attribute("title", "Unverified: not found in the sources")
    expect(page.locator(".answer-text").last).to_have_text(answer)


def test_an_empty_or_too_long_question_gets_a_message(page: Page, server: Server) -> None:
    """Nothing is sent; the message says why, next to the box, which keeps the focus."""
    from playwright.sync_api import expect

    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/v1/answer") else None)
    _sign_in(page, server, server.key)
    _wait_signed_in(page)
    question = page.get_by_label("Your question")
    error = page.locator("#ask-error")

    question.fill("   ")
    question.press("Enter")
    expect(error).to_have_text("Type a question first.")
    expect(question).to_have_attribute("aria-invalid", "true")
    expect(question).to_be_focused()
    question.fill("What")  # typing clears it
    expect(error).to_have_text("")

    question.fill("x" * 2001)  # the API takes at most 2,000 characters
    expect(page.locator("#ask-count")).to_have_text("2001 / 2000 characters")
    page.get_by_role("button", name="Send").click()
    expect(error).to_contain_text("The question is too long: 2001 characters, at most 2000.")
    expect(question).to_be_focused()
    expect(question).to_have_value("x" * 2001)  # kept, to be shortened
    assert sent == []
