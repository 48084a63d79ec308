"""Transcripts of SEC 10-Q questions asked as a person would: on the chat page in a real browser,
then with ``deepwell ask``, against the same data.

Run from the repository root on an ingested SEC 10-Q data directory (only read: its index and
database are copied to a temporary data directory)::

    .venv/bin/python -m bench.transcripts --data-dir DIR [--backend local|extractive]
        [--ids 72 89 102] [--out FILE.md]

The questions are SEC questions by id (the row order of ``qna_data.csv``, as ``bench.answers``
numbers them); the default three are single-filing questions whose reference states a figure:
Apple's Services share in Q3 2023 (q72), Microsoft's R&D in Q1 2023 (q89) and NVIDIA's data
center revenue in Q3 2023 (q102).

The run creates a reader key with ``deepwell keys create`` for the user ``bench`` (the SEC ingest
made its chunks public in the default tenant, and ``bench.answers``/``bench.retrieval`` read
them as that user), starts ``deepwell serve`` on a free port, signs in on the chat page with
Debian's Chromium through Playwright (offline: requests to other hosts fail) and asks each
question in a new conversation. From pressing Enter it times, in the page (a MutationObserver):
when the sources are listed, when the first word of the answer shows and when the answer is
finished; it records the answer as shown, the listed sources (title, file, page, cited or not),
the figures the page marks unverified and a screenshot. Then it asks the same questions with
``deepwell ask`` (first while the server still runs, through its API with the reader key; if
that fails, after the server is stopped, in-process), recording what it prints
and when: the "reading N passages" line, the first output of the answer and the exit, from the
process start (imports and model loading included).

The transcript (markdown) goes to ``--out`` (screenshots beside it) and to standard output.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import core  # noqa: F401  (first: telemetry off before third-party imports)
from core import Settings
from eval.datasets import load_sec_10q
from testkit import ServerError, deepwell_serve

DEFAULT_IDS = (72, 89, 102)
USER = "bench"  # bench.answers' and bench.retrieval's READER; the SEC chunks' ACL is ["*"]
CHROMIUM = "/usr/bin/chromium"
# As in tests/e2e/conftest.py: Chromium must not phone home (no network here).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# Times (performance.now()) from Enter to the sources listed, the answer's first text and its
# end (aria-busy back to false, also after an error), for the turn being asked.
OBSERVE = """() => {
  window.__dw = {};
  document.addEventListener("keydown", (e) => {
    const t = window.__dw;
    if (e.key === "Enter" && !e.shiftKey && t.enter === undefined) t.enter = performance.now();
  }, true);
  new MutationObserver((records) => {
    const t = window.__dw;
    if (t.enter === undefined) return;
    const now = performance.now();
    for (const r of records) {
      const at = r.target.nodeType === Node.TEXT_NODE ? r.target.parentElement : r.target;
      if (!at) continue;
      if (t.sources === undefined && r.type === "childList"
          && at.classList.contains("source-list") && r.addedNodes.length) t.sources = now;
      const answer = at.closest(".answer-text");
      if (t.token === undefined && answer && answer.textContent.trim()) t.token = now;
      if (t.done === undefined && r.type === "attributes" && at.classList.contains("answer-text")
          && at.getAttribute("aria-busy") === "false") t.done = now;
    }
  }).observe(document.getElementById("messages"), {childList: true, characterData: true,
    subtree: true, attributes: true, attributeFilter: ["aria-busy"]});
}"""

# What the last turn shows once finished.
SHOWN = """() => {
  const turn = [...document.querySelectorAll("#messages .turn")].pop();
  const text = (sel) => turn.querySelector(sel)?.textContent?.trim() || "";
  const visible = (sel) => { const n = turn.querySelector(sel); return n && !n.hidden; };
  return {
    answer: turn.querySelector(".answer-text").innerText.trim(),
    note: visible(".answer-note") ? text(".answer-note") : "",
    error: visible(".answer-error") ? text(".answer-error") : "",
    unverified: [...turn.querySelectorAll(".answer-text mark.figure-unverified")]
      .map((m) => ({text: m.textContent, title: m.title})),
    heading: text(".sources-heading"),
    sources: [...turn.querySelectorAll(".source-list > li")].map((li) => ({
      n: Number(li.value), title: li.querySelector(".source-title")?.textContent || "",
      where: li.querySelector(".source-where")?.textContent || "",
      cited: li.classList.contains("cited"),
    })),
  };
}"""


@dataclass(frozen=True)
class Question:
    qid: int
    text: str
    reference: str
    filing: str


@dataclass
class PageRun:
    """One question on the chat page; times in seconds from pressing Enter."""

    sources_s: float | None = None
    first_word_s: float | None = None
    done_s: float | None = None
    shown: dict[str, Any] = field(default_factory=dict)
    files: dict[int, str] = field(default_factory=dict)  # passage n -> file name (the API's)
    figures: list[dict[str, Any]] = field(default_factory=list)  # the API's figure checks
    server: dict[str, Any] = field(default_factory=dict)  # the API's timings and token counts
    screenshot: str = ""


@dataclass
class CliRun:
    """One ``deepwell ask``; times in seconds from the process start."""

    command: list[str]
    returncode: int
    output: str  # stdout and stderr as a terminal shows them, in order
    reading_s: float | None
    first_output_s: float | None
    total_s: float
    while_serving: bool


def pick_questions(csv: Path, ids: list[int]) -> list[Question]:
    """The SEC questions with these ids (row order of the CSV)."""
    items = load_sec_10q(csv).items
    out = []
    for qid in ids:
        if not 0 <= qid < len(items):
            raise SystemExit(f"no question {qid} in {csv} ({len(items)} questions)")
        item = items[qid]
        filing = ", ".join(s.strip("*") for s in item.sources)
        out.append(Question(qid, item.question, item.reference, filing))
    return out


def copy_data_dir(source: Path, target: Path) -> None:
    """The index and the database of ``source`` into ``target`` (both are written when used)."""
    settings = Settings(data_dir=source)
    if not settings.index_path.is_dir():
        raise SystemExit(f"no index at {settings.index_path}")
    shutil.copytree(settings.index_path, target / "index")
    (target / "index" / f".{settings.index.collection}.lock").unlink(missing_ok=True)
    for name in ("deepwell.db", "deepwell.db-wal"):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def create_key(env: dict[str, str]) -> str:
    """A reader key for ``bench`` from ``deepwell keys create --json``."""
    command = _cli("keys", "create", "--user", USER, "--role", "reader", "--name", "transcripts")
    proc = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode:
        raise SystemExit(f"deepwell keys create failed:\n{proc.stdout}\n{proc.stderr}")
    return str(json.loads(proc.stdout)["key"])


def _sse_done(body: str) -> dict[str, Any]:
    """The ``done`` event of an answer's event stream (empty if there is none)."""
    for block in body.split("\n\n"):
        lines = block.splitlines()
        if "event: done" in lines:
            data = "\n".join(
                x.removeprefix("data:").strip() for x in lines if x.startswith("data:")
            )
            return dict(json.loads(data))
    return {}


def _seconds(t: dict[str, float], key: str) -> float | None:
    return (t[key] - t["enter"]) / 1000 if key in t else None


def ask_on_page(
    url: str, key: str, questions: list[Question], out: Path, timeout_s: float
) -> list[PageRun]:
    """Sign in on the chat page and ask each question in a new conversation; screenshots go
    beside ``out``, named after it."""
    from playwright.sync_api import Route, expect, sync_playwright

    def offline(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            route.abort()

    runs = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-GB"
        ).new_page()
        page.route("**/*", offline)
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#who-user")).to_have_text(USER)
        expect(page.locator("#chat-view")).to_have_attribute("aria-busy", "false")
        page.evaluate(OBSERVE)
        for q in questions:
            page.get_by_role("button", name="New conversation").click()
            page.evaluate("() => { window.__dw = {}; }")
            box = page.get_by_label("Your question")
            box.fill(q.text)
            with page.expect_response(re.compile(r"/v1/answer$"), timeout=timeout_s * 1000) as sent:
                box.press("Enter")
            page.wait_for_function("() => window.__dw.done !== undefined", timeout=timeout_s * 1000)
            t = page.evaluate("() => window.__dw")
            run = PageRun(_seconds(t, "sources"), _seconds(t, "token"), _seconds(t, "done"))
            run.shown = page.evaluate(SHOWN)
            done = _sse_done(sent.value.text()) if sent.value.ok else {}
            for c in done.get("context") or done.get("citations") or []:
                run.files[c["n"]] = Path(unquote(urlsplit(c["source_uri"]).path)).name
            run.figures = done.get("figures") or []
            run.server = {k: done.get(k) for k in ("timings", "prompt_tokens", "model")}
            shot = out.with_name(f"{out.stem}-q{q.qid}.png")
            page.screenshot(path=shot, full_page=True)
            run.screenshot = shot.name
            runs.append(run)
            print(f"  page q{q.qid}: finished in {run.done_s or 0:.1f} s", flush=True)
        browser.close()
    return runs


def answer_times(chunks: list[tuple[float, str]]) -> tuple[float | None, float | None]:
    """When ``deepwell ask``'s output, read as (seconds, text) chunks, showed the "reading N
    passages" line and the first text of the answer after it (the first text at all when there
    is no such line); None for what never showed."""
    output = "".join(text for _, text in chunks)
    line = re.search(r"^reading \d+ passages?.*\n", output, re.MULTILINE)
    begins = line.end() if line else 0
    reading = first = None
    seen = 0
    for at, text in chunks:
        seen += len(text)
        if line and reading is None and seen > line.start():
            reading = at
        if first is None and seen > begins and output[begins:seen].strip():
            first = at
    return reading, first


def ask_in_cli(
    env: dict[str, str], q: Question, timeout_s: float, serving: bool, key: str
) -> CliRun:
    """``deepwell ask`` as ``bench``, its output timed as it is printed: beside the server
    through its API with ``bench``'s reader key (``DEEPWELL_API_KEY``), else in-process with
    ``--as bench``.

    stdout and stderr share one pipe, so the output keeps the order a terminal shows; the
    "reading N passages" line (stderr) tells where the answer (stdout) begins.
    """
    if serving:
        command, env = _cli("ask", q.text), env | {"DEEPWELL_API_KEY": key}
    else:
        command = _cli("ask", q.text, "--as", USER)
    start = time.monotonic()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    chunks: list[tuple[float, str]] = []

    def pump(stream: IO[bytes]) -> None:
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for data in iter(lambda: os.read(stream.fileno(), 4096), b""):
            chunks.append((time.monotonic() - start, decode.decode(data)))

    reader = threading.Thread(target=pump, args=(proc.stdout,))
    reader.start()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    total = time.monotonic() - start
    reader.join()
    output = "".join(text for _, text in chunks)
    reading, first = answer_times(chunks)
    return CliRun(command, proc.returncode, output, reading, first, total, serving)


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def render(
    questions: list[Question],
    pages: list[PageRun],
    clis: list[CliRun],
    header: list[str],
    refused: CliRun | None,
) -> str:
    """The transcript as markdown."""
    out = ["# deepwell: SEC 10-Q questions on the chat page and with `deepwell ask`", "", *header]
    if refused is not None:
        out += [
            "",
            "`deepwell ask` while the server ran on the same data directory "
            f"(exit {refused.returncode}, {refused.total_s:.1f} s):",
            "",
            "```",
            refused.output.strip(),
            "```",
            "",
            "so the CLI questions were asked after the server was stopped.",
        ]
    for q, page, cli in zip(questions, pages, clis, strict=True):
        out += ["", f"## q{q.qid}: {q.text}", ""]
        out += [f"Filing: {q.filing}. Reference (qna_data.csv): {_one_line(q.reference)}", ""]
        out += ["### Chat page", ""]
        out += ["| sources listed | first answer word | answer finished |", "|---|---|---|"]
        out += [f"| {_s(page.sources_s)} | {_s(page.first_word_s)} | {_s(page.done_s)} |", ""]
        shown = page.shown
        out += ["Answer as shown:", ""]
        out += ["> " + line for line in (shown.get("answer") or "(none)").splitlines()]
        for label in ("note", "error"):
            if shown.get(label):
                out += ["", f"{label.capitalize()} on the page: {shown[label]}"]
        marks = shown.get("unverified") or []
        flagged = "; ".join(f"{m['text']} ({m['title']})" for m in marks) or "none"
        out += ["", f"Figures marked unverified on the page: {flagged}"]
        if page.figures:
            checks = "; ".join(f"{f['text']}: {f['status']}" for f in page.figures)
            out += ["", f"The API's figure checks: {checks}"]
        out += ["", f"{shown.get('heading') or 'Sources'}:", ""]
        for s in shown.get("sources") or []:
            file = page.files.get(s["n"], "")
            where = ", ".join(x for x in (file, s["where"]) if x)
            mark = " — **cited**" if s["cited"] else ""
            out.append(f"{s['n']}. {s['title']}" + (f" ({where})" if where else "") + mark)
        timings = page.server.get("timings") or {}
        if timings:
            ttft = timings.get("ttft_ms")
            out += [
                "",
                f"Server: retrieve {timings.get('retrieve_ms', 0):.0f} ms, first token "
                f"{'–' if ttft is None else f'{ttft / 1000:.1f} s'}, total "
                f"{timings.get('total_ms', 0) / 1000:.1f} s, "
                f"{page.server.get('prompt_tokens')} prompt tokens",
            ]
        out += ["", f"![q{q.qid} on the chat page]({page.screenshot})", "", "### CLI", ""]
        where = "while the server ran" if cli.while_serving else "server stopped"
        shell = " ".join(f'"{a}"' if " " in a else a for a in ["deepwell", *cli.command[3:]])
        out += [f"`{shell}` ({where}, exit {cli.returncode})", ""]
        out += ["| 'reading' line | first answer output | exit |", "|---|---|---|"]
        out += [f"| {_s(cli.reading_s)} | {_s(cli.first_output_s)} | {_s(cli.total_s)} |", ""]
        out += ["```", cli.output.strip(), "```"]
    return "\n".join(out) + "\n"


def _git_revision() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "?"


def main() -> None:
    sec = Settings().eval.data_dir / "sec-10q"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="An ingested SEC 10-Q data dir.")
    ap.add_argument("--questions-csv", type=Path, default=sec / "qna_data.csv")
    ap.add_argument("--ids", type=int, nargs="+", default=list(DEFAULT_IDS), help="Question ids.")
    ap.add_argument("--backend", choices=("local", "extractive"), default="local")
    ap.add_argument("--out", type=Path, default=Path("transcripts.md"))
    ap.add_argument(
        "--answer-timeout", type=float, default=900, help="Seconds to wait for one answer."
    )
    args = ap.parse_args()
    questions = pick_questions(args.questions_csv, args.ids)
    print("questions (id, filing):")
    for q in questions:
        print(f"  q{q.qid:<4} {q.filing:14} {q.text}")
    args.out.parent.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="deepwell-transcripts-"))
    copy_data_dir(args.data_dir, work)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEEPWELL_INDEX__PATH", "DEEPWELL_DATABASE__URL")
    }
    env |= {
        "DEEPWELL_DATA_DIR": str(work),
        "DEEPWELL_LLM__BACKEND": args.backend,
        "NO_COLOR": "1",
    }
    settings = Settings(data_dir=work, llm={"backend": args.backend})
    model = settings.llm.model if args.backend == "local" else "none"
    load = os.getloadavg()
    header = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, git {_git_revision()}, "
        f"`python -m bench.transcripts --data-dir {args.data_dir} --backend {args.backend}`; "
        f"answer backend {args.backend} (model {model}), user {USER!r} (reader key), "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at the start.",
        "",
        "Chat page times: seconds from pressing Enter, measured in the page. CLI times: seconds "
        "from starting `deepwell ask` (imports and model loading included).",
    ]
    refused: CliRun | None = None
    clis: list[CliRun] = []
    try:
        key = create_key(env)
        print("starting deepwell serve…", flush=True)
        # The local model loads at start and the machine is slow: up to 600 s until /healthz.
        serving = deepwell_serve(Path.cwd(), env, log=work / "server.log", timeout=600)
        try:
            with serving as served:
                try:
                    pages = ask_on_page(served.url, key, questions, args.out, args.answer_timeout)
                    first = ask_in_cli(env, questions[0], args.answer_timeout, True, key)
                    if first.returncode == 0:
                        clis.append(first)
                    else:
                        refused = first
                finally:
                    if clis:  # the CLI works beside the server: ask the rest while it runs
                        rest = questions[1:]
                        clis += [ask_in_cli(env, q, args.answer_timeout, True, key) for q in rest]
        except ServerError as exc:
            raise SystemExit(f"deepwell serve: {exc}") from None
        if refused is not None:
            clis = [ask_in_cli(env, q, args.answer_timeout, False, key) for q in questions]
        for q, run in zip(questions, clis, strict=True):
            print(f"  cli q{q.qid}: exit {run.returncode} in {run.total_s:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = render(questions, pages, clis, header, refused)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
