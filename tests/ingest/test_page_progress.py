"""A long document's job moves by page: the writer reports the pages it has embedded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core import Settings, configured_embedding, make_engine
from ingest import Ingestor, Registry
from ingest.sources import bytes_source
from retrieval import EdgeIndex, make_embedder
from tests.ingest.conftest import PdfBuilder

TOPICS = ("storage", "pricing", "regions", "hiring", "security", "latency", "backups", "audits")


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


def test_pages_are_reported_in_order_up_to_the_last(
    ingestor: Ingestor, make_pdf: PdfBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.pipeline.PROGRESS_SLICE", 1)  # a report per chunk
    pages = [
        [
            (16, f"{topic.title()} review"),
            (11, f"The {topic} team wrote {i + 2} pages about {topic} this quarter."),
            (11, f"Every {topic} figure in section {i + 1} was checked twice by auditors."),
        ]
        for i, topic in enumerate(TOPICS)
    ]
    path = make_pdf("long.pdf", pages)
    reports: list[tuple[float, int, int]] = []
    ingestor.on_progress = lambda doc_id, fraction, done, total: reports.append(
        (fraction, done, total)
    )
    doc = bytes_source(
        path.read_bytes(), filename="long.pdf", tenant="acme", acl=["*"], source_uri="upload://x"
    )
    summary = ingestor.run([doc])
    assert summary.by_status("indexed"), summary.outcomes
    assert reports[0] == (0.0, 0, len(TOPICS))  # known once parsed, before any embedding
    assert reports[-1] == (1.0, len(TOPICS), len(TOPICS))
    done = [d for _, d, _ in reports]
    assert done == sorted(done)
    assert len(set(done)) > 3  # it moved page by page, not 0 then all
    fractions = [f for f, _, _ in reports]
    assert fractions == sorted(fractions)
