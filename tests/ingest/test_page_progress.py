"""A long document's job moves by page: the parser reports the pages it has read (from
its worker process, through a file the writer watches), then the writer the chunks it
has embedded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import Settings, configured_embedding, make_engine
from ingest import Ingestor, Registry
from ingest.pdf_layout import partition_pdf_layout
from ingest.progress import ParseWatcher, listening, page_read, read_pages
from ingest.sources import bytes_source
from retrieval import EdgeIndex, make_embedder
from tests.ingest.conftest import PdfBuilder

TOPICS = ("storage", "pricing", "regions", "hiring", "security", "latency", "backups", "audits")


def _pages() -> list[list[tuple[float, str]]]:
    return [
        [
            (16, f"{topic.title()} review"),
            (11, f"The {topic} team wrote {i + 2} pages about {topic} this quarter."),
            (11, f"Every {topic} figure in section {i + 1} was checked twice by auditors."),
        ]
        for i, topic in enumerate(TOPICS)
    ]


@pytest.fixture
def ingestor(tmp_path: Path) -> Iterator[Ingestor]:
    settings = Settings(data_dir=tmp_path / "data", ingest={"workers": 1, "timeout_s": 120})
    embedder = make_embedder(settings, configured_embedding(settings))
    index = EdgeIndex(settings.index_path, "deepwell")
    index.ensure_collection(embedder.dim)
    registry = Registry(make_engine(settings))
    registry.create_schema()
    made = Ingestor(settings, index=index, registry=registry, embedder=embedder)
    yield made
    made.close()
    index.close()


def test_the_pdf_parser_reports_each_page_it_reads(make_pdf: PdfBuilder, tmp_path: Path) -> None:
    data = make_pdf("long.pdf", _pages()).read_bytes()
    path = tmp_path / "pages"
    seen: list[tuple[int, int] | None] = []
    with listening(path):
        partition_pdf_layout(data, filename="long.pdf")
        seen.append(read_pages(path))
    assert seen == [(len(TOPICS), len(TOPICS))]  # the last page is always written
    page_read(1, 2)  # nobody listens now: nothing is written
    assert read_pages(path) == (len(TOPICS), len(TOPICS))


def test_the_watcher_reports_the_document_the_writer_waits_on(tmp_path: Path) -> None:
    got: list[tuple[str, int, int]] = []
    with ParseWatcher(
        tmp_path / "w", lambda d, done, total: got.append((d, done, total)), 0.01
    ) as w:
        w.path("other").write_text("5 9")  # not followed: never reported
        w.follow("doc")
        for done in (1, 2, 2, 3):
            w.path("doc").write_text(f"{done} 3")
            deadline = time.monotonic() + 5
            while (not got or got[-1][1] != done) and time.monotonic() < deadline:
                time.sleep(0.01)
        w.follow(None)
        assert not w.path("doc").exists()  # done with: its file goes
    assert got == [("doc", 1, 3), ("doc", 2, 3), ("doc", 3, 3)]


def test_a_document_moves_from_parsing_through_embedding_to_done(
    ingestor: Ingestor, make_pdf: PdfBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.pipeline.PROGRESS_SLICE", 1)  # a report per chunk
    path = make_pdf("long.pdf", _pages())
    reports: list[tuple[float, int, int]] = []
    ingestor.on_progress = lambda doc_id, fraction, done, total: reports.append(
        (fraction, done, total)
    )
    doc = bytes_source(
        path.read_bytes(), filename="long.pdf", tenant="acme", acl=["*"], source_uri="upload://x"
    )
    summary = ingestor.run([doc])
    assert summary.by_status("indexed"), summary.outcomes
    n = len(TOPICS)
    embedding = [r for r in reports if r[0] >= 0.5]
    assert embedding[0] == (0.5, n, n)  # parsed: every page read, half way
    assert embedding[-1] == (1.0, n, n)
    assert len({f for f, _, _ in embedding}) > 3  # it moved chunk by chunk, not 0.5 then 1
    fractions = [f for f, _, _ in reports]
    assert fractions == sorted(fractions)
    assert all(total == n and 0 <= done <= n for _, done, total in reports)
    assert not list((ingestor.settings.data_dir / "tmp").glob("pages-*"))  # cleaned up
