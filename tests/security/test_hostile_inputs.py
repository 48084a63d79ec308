"""Hostile inputs through both front doors: ``deepwell ingest DIR`` (a subprocess) and
``POST /v1/documents`` (the in-process app). Each ends within its limit with a reason
that says what was too large, memory stays bounded (peak RSS of the process tree is
printed per case: ``pytest -s`` shows the table), and the store is consistent afterwards:
the document failed with that reason, no chunks of it in the index, no upload bytes or
``.part`` files left, the other documents still searchable.

Limits: the defaults of ``IngestSettings`` (10M characters, 100k rows, 2M cells, 512 MB
unpacked, 200:1, 20k chunks, 4 GB worker address space), except ``ingest.max_file_mb``
and ``api.max_upload_mb`` at 50 (default 200 and 100) so the just-under-the-limit text
file is 49.9 MB rather than 199 MB; it is refused by the same byte check either way
(more than 4 bytes a character allowed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core import Settings, make_engine
from ingest import (
    ChunkLimits,
    CleaningOptions,
    DocState,
    InputLimits,
    ParseJob,
    Registry,
    doc_id_for,
)
from retrieval import EdgeIndex, Filter, MatchValue
from tests.api.apikit import Client, new_key, running_app
from tests.ingest import hostile

MAX_FILE_MB = 50
GOOD_NAME = "storage.md"
GOOD = (
    b"# Storage service\n\nThe storage service keeps customer files in three regions: "
    b"Dublin, Oslo and Tokyo.\n"
)
#: What any one case may cost: seconds, and MB of RSS the process tree grows by.
SECONDS = 90
RSS_MB = 1500


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    reason: str  # a regular expression the failure must match

    def data(self) -> bytes:
        if self.name not in _built:
            _built[self.name] = self.build()
        return _built[self.name]


_built: dict[str, bytes] = {}

CASES = [
    Case(
        "bomb.docx",
        lambda: hostile.docx_bomb(600),
        r"bomb\.docx: 60\d\.\d MB unpacked is over the limit of 512 MB \(ingest\.max_unpacked_mb\)",
    ),
    Case(
        "bomb.xlsx",
        lambda: hostile.xlsx(0, bomb_mb=300),
        r"bomb\.xlsx: [\d,]+ rows is over the limit of 100,000 \(ingest\.max_rows\)",
    ),
    Case(
        "laughs.docx",
        hostile.billion_laughs_docx,
        r"laughs\.docx: part word/document\.xml declares a DTD or entities",
    ),
    Case(
        "deep.html",
        lambda: hostile.nested_html(100_000),
        r"deep\.html: HTML elements nested 100,000 deep is over the limit of 256",
    ),
    Case(
        "rows.csv",
        lambda: hostile.csv_rows(1_000_000),
        r"rows\.csv: 1,000,001 rows is over the limit of 100,000 \(ingest\.max_rows\)",
    ),
    Case(
        "long.txt",
        lambda: hostile.one_line_text(int(MAX_FILE_MB * 1e6) - 100_000),
        r"long\.txt: 49,900,000 bytes of text is over the limit of 10,000,000 characters "
        r"\(ingest\.max_chars",
    ),
]
IDS = [c.name for c in CASES]

#: File names the disk can hold (a 605-byte name, "../" or NUL cannot exist on ext4: the
#: API tests cover those in tests/security/test_upload_names.py and below).
CLI_NAMES = ["漢" * 84 + ".md", "ctl\x01\x1b[31m.md", "ok\u202etxt.md", "..."]


class TreeRss:
    """Samples the summed RSS of a process and its descendants (every 50 ms) from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = self.start = _tree_rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _tree_rss(self.pid))

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1e6


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = int(statm.split()[1]) * page
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def _row(front: str, case: str, seconds: float, rss: TreeRss, outcome: str) -> None:
    print(
        f"\n{front:4} {case:14} {seconds:6.1f} s  peak RSS {rss.peak / 1e6:7.0f} MB "
        f"(+{rss.growth_mb:5.0f} MB)  {outcome[:110]}"
    )


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Client]]:
    root = tmp_path_factory.mktemp("hostile-api")
    settings = Settings(
        data_dir=root / "data",
        llm={"backend": "extractive"},
        log_level="warning",
        ingest={"workers": 1, "max_file_mb": MAX_FILE_MB},
        api={"max_upload_mb": MAX_FILE_MB, "rate_limit_per_minute": 0},
    )
    with running_app(settings) as app:
        writer = new_key(app, user="wanda", role="writer")
        r = writer.post("/v1/documents", files={"file": (GOOD_NAME, GOOD, "text/markdown")})
        assert r.status_code == 202, r.text
        assert writer.wait_job(r.json()["job_id"])["status"] == "done"
        yield app, writer


def _searchable(writer: Client) -> None:
    """The good document is still found."""
    r = writer.post("/v1/search", json={"query": "which regions keep customer files"})
    assert r.status_code == 200, r.text
    assert any("Dublin, Oslo and Tokyo" in hit["text"] for hit in r.json()["results"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hostile_upload_fails_fast_bounded_and_clean(
    api: tuple[TestClient, Client], case: Case
) -> None:
    app, writer = api
    services = app.app.state.services  # type: ignore[attr-defined]
    data = case.data()
    started = time.monotonic()
    with TreeRss(os.getpid()) as rss:
        r = writer.post("/v1/documents", files={"file": (case.name, data, None)})
        assert r.status_code == 202, r.text
        job = writer.wait_job(r.json()["job_id"], timeout=SECONDS)
    seconds = time.monotonic() - started
    _row("API", case.name, seconds, rss, job["error"] or "")
    assert job["status"] == "failed", job
    assert re.search(case.reason, job["error"]), job["error"]
    assert seconds < SECONDS
    assert rss.growth_mb < RSS_MB
    doc = writer.get(f"/v1/documents/{r.json()['doc_id']}").json()
    assert doc["state"] == "failed"
    assert re.search(case.reason, doc["error"])
    assert doc["chunks"] == 0
    assert services.index.count(Filter(must=[MatchValue("doc_id", doc["doc_id"])])) == 0
    assert not (services.jobs.uploads_dir / doc["doc_id"]).exists()  # failed: bytes deleted
    assert not list(services.jobs.uploads_dir.rglob("*.part"))
    _searchable(writer)


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("𠮷" * 2 + "機" * 198 + ".md", 422),  # the probe's name: 203 characters, 605 bytes
        ("n" * 253 + ".md", 422),
        ("../../etc/evil.md", 202),
        ("nul\x00name.md", 202),
        ("ctl\x01\x1b[31m.md", 202),
        ("rtl\u202etxt.md", 202),
        ("....", 422),
    ],
    ids=["605-byte-cjk", "256-chars", "dot-dot-slash", "nul", "control", "rtl-override", "dots"],
)
def test_odd_upload_names(api: tuple[TestClient, Client], name: str, status: int) -> None:
    _, writer = api
    boundary = "hostile-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + name.encode()
        + b'"\r\nContent-Type: text/markdown\r\n\r\n'
        + GOOD.replace(b"Storage", b"Odd")
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = writer.headers | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    r = writer.http.post("/v1/documents", headers=headers, content=body)
    print(f"\nAPI  name {name[:20]!r:28} {r.status_code}  {r.text[:110]}")
    assert r.status_code == status, r.text
    if status == 202:
        assert writer.wait_job(r.json()["job_id"])["status"] == "done"
        shown = writer.get(f"/v1/documents/{r.json()['doc_id']}").json()["filename"]
        assert "/" not in shown
        assert not any(ord(ch) < 32 or ch == "\u202e" for ch in shown)
    else:
        assert "file: " in r.json()["error"]["message"]
    stuck = writer.get("/v1/documents", params={"state": "discovered"}).json()["documents"]
    assert stuck == []


# --- the Celery worker's parser ---------------------------------------------------------------


def test_the_celery_worker_parser_applies_the_same_limits() -> None:
    """``deepwell worker`` parses inline (``InlineParser``) through the same ``prepare``."""
    from ingest import InlineParser, make_celery

    settings = Settings(ingest={"max_file_mb": MAX_FILE_MB})
    jobs = [
        ParseJob(
            doc_id=case.name,
            filename=case.name,
            path=None,
            data=case.data(),
            strategy="fast",
            limits=ChunkLimits.from_settings(settings.ingest),
            cleaning=CleaningOptions(),
            max_bytes=int(MAX_FILE_MB * 1e6),
            input_limits=InputLimits.from_settings(settings.ingest),
        )
        for case in CASES
    ]
    started = time.monotonic()
    results = dict(InlineParser(settings).prepare(jobs))
    assert time.monotonic() - started < SECONDS
    for case in CASES:
        assert isinstance(results[case.name], str)
        assert re.search(case.reason, results[case.name])
    assert make_celery(settings).conf.worker_max_memory_per_child == 4096 * 1024  # KB


# --- the CLI ----------------------------------------------------------------------------------


def _cli(folder: Path, data: Path) -> tuple[subprocess.CompletedProcess[bytes], TreeRss, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPWELL_")}
    env |= {
        "DEEPWELL_DATA_DIR": str(data),
        "DEEPWELL_INGEST__WORKERS": "1",
        "DEEPWELL_INGEST__MAX_FILE_MB": str(MAX_FILE_MB),
        "DEEPWELL_LOG_LEVEL": "warning",
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "ingest", str(folder), "--acl", "group:staff"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with TreeRss(proc.pid) as rss:
        out, err = proc.communicate(timeout=SECONDS * (len(CASES) + 2))
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done, rss, time.monotonic() - started


def _check_store(data: Path, folder: Path, cases: list[Case]) -> None:
    settings = Settings(data_dir=data)
    registry = Registry(make_engine(settings))
    with EdgeIndex(settings.index_path, settings.index.collection) as index:
        for case in cases:
            doc_id = doc_id_for("default", (folder / case.name).absolute().as_uri())
            row = registry.get(doc_id)
            assert row is not None, case.name
            assert row.state == DocState.failed, (case.name, row.state)
            assert re.search(case.reason, row.error or ""), row.error
            assert index.count(Filter(must=[MatchValue("doc_id", doc_id)])) == 0
        good = registry.get(doc_id_for("default", (folder / GOOD_NAME).absolute().as_uri()))
        assert good is not None
        assert good.state == DocState.indexed
        assert index.count(Filter(must=[MatchValue("doc_id", good.doc_id)])) > 0
    assert [r.filename for r in registry.documents() if r.state == DocState.discovered] == []


def test_cli_ingest_of_a_hostile_folder(tmp_path: Path) -> None:
    """Every hostile file and odd name in one folder, next to a good document: one run."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / GOOD_NAME).write_bytes(GOOD)
    for case in CASES:
        (folder / case.name).write_bytes(case.data())
    for name in CLI_NAMES:
        (folder / name).write_bytes(GOOD.replace(b"Storage", b"Named"))
    done, rss, seconds = _cli(folder, tmp_path / "data")
    _row("CLI", "whole folder", seconds, rss, f"exit {done.returncode}")
    assert done.returncode == 1, done.stderr.decode()[-3000:]  # some documents failed
    assert seconds < SECONDS * 2
    assert rss.peak / 1e6 < 4096 + 2048  # below one worker's cap plus the CLI itself
    _check_store(tmp_path / "data", folder, CASES)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_ingest_of_each_hostile_file(tmp_path: Path, case: Case) -> None:
    """One CLI run per case, for its own peak RSS (each run starts the CLI and a worker)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / GOOD_NAME).write_bytes(GOOD)
    (folder / case.name).write_bytes(case.data())
    done, rss, seconds = _cli(folder, tmp_path / "data")
    _row("CLI", case.name, seconds, rss, f"exit {done.returncode}")
    assert done.returncode == 1, done.stderr.decode()[-3000:]
    assert seconds < SECONDS
    _check_store(tmp_path / "data", folder, [case])
