"""The ingest job end to end on real parts: spawned parsers, MiniLM, the embedded engine, SQLite."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core import Settings, configured_embedding, make_engine
from ingest.pipeline import Ingestor, IngestSummary, ParserPool
from ingest.registry import DocState, Registry
from ingest.sources import FolderSource, bytes_source
from retrieval import EdgeIndex, Embedder, Filter, MatchValue, VectorIndex, make_embedder

ACL = ["group:staff"]


def _settings(tmp: Path, **ingest: object) -> Settings:
    return Settings(data_dir=tmp / "data", ingest={"workers": 2, "timeout_s": 120, **ingest})


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    settings = Settings()
    emb = make_embedder(settings, configured_embedding(settings))
    emb.warm_up()
    return emb


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ParserPool]:
    workers = ParserPool(_settings(tmp_path_factory.mktemp("pool")))
    yield workers
    workers.close()


class Env:
    """One data directory: index, registry and an ingestor sharing the session's parsers."""

    def __init__(self, tmp: Path, embedder: Embedder, pool: ParserPool, **ingest: object):
        self.tmp = tmp
        self.settings = _settings(tmp, **ingest)
        self.index: VectorIndex = EdgeIndex(self.settings.index_path, "deepwell")
        self.index.ensure_collection(embedder.dim)
        self.registry = Registry(make_engine(self.settings))
        self.registry.create_schema()
        self.embedder, self.pool = embedder, pool
        self.ingestor = self.make_ingestor(self.settings)

    def make_ingestor(self, settings: Settings) -> Ingestor:
        return Ingestor(
            settings,
            index=self.index,
            registry=self.registry,
            embedder=self.embedder,
            pool=self.pool,
        )

    def ingest(self, folder: Path, *, prune: bool = False, acl: list[str] = ACL) -> IngestSummary:
        src = FolderSource(folder, "acme", acl)
        prefix = folder.resolve().as_uri() + "/" if prune else None
        return self.ingestor.run(list(src), prune_prefix=prefix)

    def points(self, doc_id: str | None = None) -> list[dict[str, object]]:
        flt = Filter(must=[MatchValue("doc_id", doc_id)]) if doc_id else None
        return [h.payload for h in self.index.scroll(flt)]


@pytest.fixture
def env(tmp_path: Path, embedder: Embedder, pool: ParserPool) -> Iterator[Env]:
    made = Env(tmp_path, embedder, pool)
    yield made
    made.index.close()


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


POLICY = (
    "# Travel policy\n\nEmployees book economy class for flights under six hours.\n\n"
    "## Hotels\n\nHotel stays are capped at two hundred euros per night in most cities.\n"
)
REVENUE = (
    "Quarterly revenue of Acme grew twelve percent to four billion dollars on strong demand.\n"
)


def test_every_format_is_indexed_with_acl_and_tenant(env: Env, docs_dir: Path) -> None:
    summary = env.ingest(docs_dir)
    failed = {o.source_uri: o.error for o in summary.by_status("failed")}
    assert not failed
    assert len(summary.by_status("indexed")) == len(list(docs_dir.iterdir()))
    points = env.points()
    assert len(points) == summary.chunks > 0
    for p in points:
        assert p["acl"] == ACL
        assert p["tenant"] == "acme"
        assert p["text"]
        assert p["source_uri"].startswith("file://")  # type: ignore[union-attr]
        assert p["pipeline_signature"] == env.ingestor.signature
    types = {p["file_type"] for p in points}
    assert {"pdf", "docx", "pptx", "xlsx", "html", "md", "txt", "csv", "eml"} <= types
    rows = env.registry.documents()
    assert {r.state for r in rows} == {DocState.indexed}
    assert sum(len(r.chunk_ids) for r in rows) == len(points)


def test_second_run_writes_nothing(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "policy.md", POLICY)
    _write(folder, "revenue.txt", REVENUE)
    first = env.ingest(folder)
    assert len(first.by_status("indexed")) == 2
    before = {p["content_sha256"]: p["ingested_at"] for p in env.points()}
    second = env.ingest(folder)
    assert len(second.by_status("unchanged")) == 2
    assert not second.by_status("indexed")
    assert {p["content_sha256"]: p["ingested_at"] for p in env.points()} == before


def test_changed_file_replaces_its_chunks(env: Env) -> None:
    folder = env.tmp / "docs"
    path = _write(folder, "policy.md", POLICY)
    env.ingest(folder)
    doc_id = env.registry.documents()[0].doc_id
    path.write_text(POLICY.replace("two hundred", "three hundred"))
    summary = env.ingest(folder)
    assert len(summary.by_status("indexed")) == 1
    points = env.points(doc_id)
    assert {p["doc_version"] for p in points} == {2}
    texts = " ".join(str(p["text"]) for p in points)
    assert "three hundred" in texts
    assert "two hundred" not in texts
    row = env.registry.get(doc_id)
    assert row is not None
    assert row.version == 2
    assert sorted(row.chunk_ids) == sorted(
        h.id for h in env.index.scroll(Filter(must=[MatchValue("doc_id", doc_id)]))
    )


def test_prune_removes_deleted_files(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "policy.md", POLICY)
    gone = _write(folder, "revenue.txt", REVENUE)
    env.ingest(folder)
    gone.unlink()
    kept = env.ingest(folder)  # without --prune nothing is deleted
    assert not kept.by_status("deleted")
    assert len(env.registry.documents()) == 2
    pruned = env.ingest(folder, prune=True)
    assert len(pruned.by_status("deleted")) == 1
    assert [r.filename for r in env.registry.documents()] == ["policy.md"]
    assert {p["filename"] for p in env.points()} == {"policy.md"}


def test_settings_change_reindexes(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "policy.md", POLICY * 20)
    env.ingest(folder)
    old_ids = {h.id for h in env.index.scroll()}
    smaller = env.settings.model_copy(
        update={
            "ingest": env.settings.ingest.model_copy(
                update={
                    "chunk_max_chars": 300,
                    "chunk_new_after_chars": 250,
                    "chunk_combine_under_chars": 50,
                }
            )
        }
    )
    env.ingestor = env.make_ingestor(smaller)
    summary = env.ingest(folder)
    assert len(summary.by_status("indexed")) == 1
    new_ids = {h.id for h in env.index.scroll()}
    assert not old_ids & new_ids
    assert {p["pipeline_signature"] for p in env.points()} == {env.ingestor.signature}
    assert all(len(str(p["text"])) <= 300 for p in env.points())


def test_acl_change_reindexes_payloads(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "policy.md", POLICY)
    env.ingest(folder)
    summary = env.ingest(folder, acl=["group:hr"])
    assert len(summary.by_status("indexed")) == 1
    assert {tuple(p["acl"]) for p in env.points()} == {("group:hr",)}  # type: ignore[arg-type]


def test_duplicates_across_documents_are_dropped_and_restored(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "a.txt", REVENUE)
    b = _write(folder, "b.txt", REVENUE)
    summary = env.ingest(folder)
    assert summary.dropped["exact_duplicate"] == 1
    assert len(env.points()) == 1
    owner = env.points()[0]["filename"]
    (folder / str(owner)).unlink()
    env.ingest(folder, prune=True)  # the owner is gone: the other document must hold the text now
    env.ingest(folder)
    survivors = env.points()
    assert [p["filename"] for p in survivors] == [b.name if owner == "a.txt" else "a.txt"]


def test_duplicates_with_different_acls_are_both_kept(env: Env) -> None:
    for team in ("finance", "hr"):
        src = FolderSource(
            _write(env.tmp / team, "memo.txt", REVENUE).parent, "acme", [f"group:{team}"]
        )
        env.ingestor.run(list(src))
    assert sorted(str(p["acl"]) for p in env.points()) == ["['group:finance']", "['group:hr']"]


def test_uploaded_bytes_use_the_same_path(env: Env) -> None:
    doc = bytes_source(REVENUE.encode(), filename="upload.txt", tenant="acme", acl=ACL)
    summary = env.ingestor.run([doc])
    assert len(summary.by_status("indexed")) == 1
    assert env.points()[0]["source_uri"] == "upload://acme/upload.txt"


def test_bad_documents_fail_alone(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "good.txt", REVENUE)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "fake.pdf").write_bytes(
        b"<html><body><p>" + b"not a pdf " * 20 + b"</p></body></html>"
    )
    (folder / "truncated.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    (folder / "junk.bin").write_bytes(bytes(range(256)) * 40)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    summary = env.ingest(folder)
    failed = {Path(o.source_uri).name: o.error for o in summary.by_status("failed")}
    indexed = {Path(o.source_uri).name for o in summary.by_status("indexed")}
    assert "good.txt" in indexed
    assert {"empty.txt", "truncated.pdf", "junk.bin", "loop"} <= set(failed)
    assert all(failed.values())  # each with a reason
    assert "fake.pdf" in indexed or "fake.pdf" in failed  # mislabelled: parsed as HTML or refused
    for row in env.registry.documents(states=[DocState.failed]):
        assert row.error
    assert {p["filename"] for p in env.points()} <= indexed


def test_document_without_acl_fails(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "policy.md", POLICY)
    [outcome] = env.ingest(folder, acl=[]).outcomes
    assert outcome.status == "failed"
    assert "no access list" in (outcome.error or "")
    assert env.points() == []


def test_document_with_nothing_informative_fails(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "noise.txt", "1 2 3\n\n- - -\n\n4.5\n")
    [outcome] = env.ingest(folder).outcomes
    assert outcome.status == "failed"
    assert "no indexable text" in (outcome.error or "")


def test_oversized_file_fails_before_parsing(
    tmp_path: Path, embedder: Embedder, pool: ParserPool
) -> None:
    env = Env(tmp_path, embedder, pool, max_file_mb=0.001)
    try:
        folder = tmp_path / "docs"
        _write(folder, "big.txt", REVENUE * 100)
        summary = env.ingest(folder)
        [outcome] = summary.by_status("failed")
        assert "exceeds the limit" in (outcome.error or "")
    finally:
        env.index.close()


def test_hung_document_times_out_alone(
    tmp_path: Path, embedder: Embedder, make_pdf: Callable[..., Path]
) -> None:
    # 10 s: far above a small text file even on a loaded machine, far below the big PDF.
    settings = _settings(tmp_path, timeout_s=10)
    own_pool = ParserPool(settings)
    env = Env(tmp_path, embedder, own_pool, timeout_s=10)
    try:
        folder = tmp_path / "docs"
        _write(folder, "small.txt", REVENUE)
        # 400 dense pages: pdfminer reads ~10 pages/s, 40 s or more.
        line = "The committee reviewed the annual budget line by line again today"
        pages = [[(8.0, f"{line} {p}.{i}") for i in range(60)] for p in range(400)]
        make_pdf("huge.pdf", pages).rename(folder / "huge.pdf")
        summary = env.ingest(folder)
        failed = {Path(o.source_uri).name: o.error for o in summary.by_status("failed")}
        assert "timed out" in failed["huge.pdf"]  # type: ignore[operator]
        assert [Path(o.source_uri).name for o in summary.by_status("indexed")] == ["small.txt"]
    finally:
        env.index.close()
        own_pool.close()


def test_delete_removes_points_and_row(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "policy.md", POLICY)
    env.ingest(folder)
    doc_id = env.registry.documents()[0].doc_id
    assert env.ingestor.delete(doc_id)
    assert env.points() == []
    assert env.registry.get(doc_id) is None
    assert not env.ingestor.delete(doc_id)


def test_copy_of_folder_elsewhere_is_a_different_document(env: Env) -> None:
    folder = env.tmp / "docs"
    _write(folder, "policy.md", POLICY)
    env.ingest(folder)
    shutil.copytree(folder, env.tmp / "copy")
    env.ingest(env.tmp / "copy")
    assert len(env.registry.documents()) == 2


def test_the_embedded_head_names_file_title_and_headings() -> None:
    from ingest.pipeline import embed_head

    assert embed_head("2022 Q3 AAPL.pdf", "Apple 10-Q", ["Part I", "Item 2"]) == (
        "2022 Q3 AAPL > Apple 10-Q > Part I > Item 2"
    )
    # a title that only repeats the file name is said once; empty parts vanish
    assert embed_head("board_minutes.docx", "board minutes", ["", "Votes"]) == (
        "board minutes > Votes"
    )
    assert embed_head("notes.txt", None, []) == "notes"
