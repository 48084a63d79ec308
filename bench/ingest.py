"""Ingest throughput on SEC 10-Q filings: deepwell, the embedding ceiling, the llama-index default.

Run: ``make bench`` or ``.venv/bin/python -m bench.ingest [--docs DIR] [--limit N]``.

Three measurements in one run, printed side by side with ratios (the machines are
shared and noisy, so compare within a run, not across runs):

1. deepwell: ``Ingestor.run`` into a fresh embedded index (parsing in worker
   processes, cleaning, dense + sparse embedding, writing); pages/s, chunks/s, and
   the embed stage's own chunks/s.
2. The embedding ceiling: sentence-transformers ``encode`` alone on exactly the texts
   deepwell embedded (same model, same batch size).
3. The default llama-index path a user would otherwise write:
   ``SimpleDirectoryReader`` + ``VectorStoreIndex`` with the same embedding model and
   qdrant-client local mode.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import core  # noqa: F401  (first: telemetry off before third-party imports)
from core import Chunk, Settings, configure_logging
from core.db import make_engine
from core.models import configured_embedding
from ingest.pipeline import Ingestor, embed_head
from ingest.registry import Registry
from ingest.sources import FolderSource
from retrieval.embedding import DenseEmbedder, Embedder, make_embedder
from retrieval.index import EdgeIndex


def run_deepwell(docs: Path, work: Path, embedder: Embedder) -> tuple[dict[str, float], list[str]]:
    settings = Settings(data_dir=work / "deepwell")
    index = EdgeIndex(settings.index_path, settings.index.collection)
    index.ensure_collection(embedder.dim)
    registry = Registry(make_engine(settings))
    registry.create_schema()
    sources = list(FolderSource(docs, "bench", ["*"]))
    started = time.perf_counter()
    with Ingestor(settings, index=index, registry=registry, embedder=embedder) as ingestor:
        summary = ingestor.run(sources)
    index.optimize()
    wall = time.perf_counter() - started
    failed = summary.by_status("failed")
    if failed:
        print(f"deepwell: {len(failed)} failed: {[o.error for o in failed]}")
    # The texts the embedders read, rebuilt from the stored payloads.
    texts = []
    for hit in index.scroll():
        chunk = Chunk.from_payload(hit.payload)
        head = embed_head(chunk.filename or "", chunk.title, chunk.section)
        texts.append(f"{head}\n{chunk.text}" if head else chunk.text)
    index.close()
    stages = summary.stage_seconds
    return {
        "wall": wall,
        "pages": summary.pages,
        "chunks": summary.chunks,
        "docs": len(summary.by_status("indexed")),
        "embed_s": stages.get("embed", 0.0),
        "parse_s": stages.get("parse", 0.0),
        "write_s": stages.get("write", 0.0),
    }, texts


def run_ceiling(texts: list[str], embedder: DenseEmbedder) -> dict[str, float]:
    """sentence-transformers ``encode`` alone: the raw embedding ceiling."""
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True)
    return {"wall": time.perf_counter() - started, "chunks": len(texts)}


def run_profile_ceiling(texts: list[str], embedder: Embedder) -> dict[str, float]:
    """deepwell's configured embedder alone on the same texts (its own ceiling)."""
    started = time.perf_counter()
    embedder.embed_documents(texts)
    return {"wall": time.perf_counter() - started, "chunks": len(texts)}


def run_llama_index(docs: Path, work: Path, model_dir: Path) -> dict[str, float]:
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    started = time.perf_counter()
    documents = SimpleDirectoryReader(str(docs), raise_on_error=False).load_data()
    parsed = time.perf_counter()
    client = QdrantClient(path=str(work / "llama-index-qdrant"))
    store = QdrantVectorStore(client=client, collection_name="bench")
    embed = HuggingFaceEmbedding(model_name=str(model_dir), device="cpu")
    index = VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed,
    )
    wall = time.perf_counter() - started
    chunks = len(index.index_struct.nodes_dict) if hasattr(index.index_struct, "nodes_dict") else 0
    chunks = chunks or client.count("bench").count
    files = {d.metadata.get("file_name") for d in documents}
    client.close()
    return {
        "wall": wall,
        "parse_s": parsed - started,
        "pages": len(documents),
        "chunks": chunks,
        "docs": len(files),
    }


def print_embed_ratios(embed_rate: float, own: dict[str, float], ceiling: dict[str, float]) -> None:
    ceiling_rate = ceiling["chunks"] / ceiling["wall"]
    own_rate = own["chunks"] / own["wall"]
    print(
        f"embed stage: deepwell {embed_rate:.2f} chunks/s vs sentence-transformers ceiling "
        f"{ceiling_rate:.2f} chunks/s -> ceiling/deepwell = {ceiling_rate / embed_rate:.2f}x "
        f"(goal <= 1.3x); vs its own embedder alone {own_rate:.2f} chunks/s -> "
        f"{own_rate / embed_rate:.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    settings = Settings()
    ap.add_argument("--docs", type=Path, default=settings.eval.data_dir / "sec-10q" / "docs")
    ap.add_argument("--limit", type=int, default=0, help="Only the first N files (a quick run).")
    ap.add_argument("--skip-llama-index", action="store_true")
    ap.add_argument(
        "--skip-ceilings",
        action="store_true",
        help="Skip the two embed-only ceilings (the sentence-transformers one is slow).",
    )
    args = ap.parse_args()
    configure_logging("warning")
    if not args.docs.is_dir():
        sys.exit(f"no corpus at {args.docs} (pass --docs)")
    work = Path(tempfile.mkdtemp(prefix="deepwell-bench-"))
    docs = args.docs
    if args.limit:
        docs = work / "docs"
        docs.mkdir()
        for f in sorted(args.docs.iterdir())[: args.limit]:
            (docs / f.name).symlink_to(f.resolve())
    try:
        model = configured_embedding(settings)
        embedder = make_embedder(settings, model)
        embedder.warm_up()
        print(
            f"corpus: {docs} ({len(list(docs.iterdir()))} files); embedding profile "
            f"{embedder.profile}; work dir {work}",
            flush=True,
        )
        dw, texts = run_deepwell(docs, work, embedder)
        print(f"deepwell done in {dw['wall']:.1f} s", flush=True)
        own = ceiling = None
        if not args.skip_ceilings:
            own = run_profile_ceiling(texts, embedder)
            st_embedder = DenseEmbedder(model, batch_size=settings.embedding.batch_size)
            st_embedder.warm_up()
            ceiling = run_ceiling(texts, st_embedder)
            print(f"ceilings done in {own['wall']:.1f} s and {ceiling['wall']:.1f} s", flush=True)
        li = None if args.skip_llama_index else run_llama_index(docs, work, model.path)
        if li:
            print(f"llama-index done in {li['wall']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [("deepwell (end to end)", dw["docs"], dw["pages"], dw["chunks"], dw["wall"])]
    if own and ceiling:
        rows += [
            ("embedding ceiling (encode only)", None, None, ceiling["chunks"], ceiling["wall"]),
            (f"{embedder.profile} embedder alone", None, None, own["chunks"], own["wall"]),
        ]
    if li:
        rows.append(("llama-index default", li["docs"], li["pages"], li["chunks"], li["wall"]))
    print(
        f"\n{'':34}{'files':>6}{'pages':>7}{'chunks':>8}{'seconds':>9}{'pages/s':>9}{'chunks/s':>10}"
    )
    for name, files, pages, chunks, wall in rows:
        pps = f"{pages / wall:9.2f}" if pages else f"{'':>9}"
        print(
            f"{name:34}{files or '':>6}{pages or '':>7}{chunks:>8}{wall:9.1f}{pps}"
            f"{chunks / wall:10.2f}"
        )
    embed_rate = dw["chunks"] / dw["embed_s"] if dw["embed_s"] else 0.0
    print(
        f"\ndeepwell stages (seconds, summed over documents): parse {dw['parse_s']:.1f} "
        f"(in worker processes), embed {dw['embed_s']:.1f}, write {dw['write_s']:.1f}"
    )
    if own and ceiling:
        print_embed_ratios(embed_rate, own, ceiling)
    if li:
        ratio = (dw["pages"] / dw["wall"]) / (li["pages"] / li["wall"])
        print(
            f"pages/s: deepwell / llama-index default = {ratio:.2f}x (goal >= 2x); llama-index "
            f"read {li['pages']} pages of {li['docs']} files, "
            f"deepwell {dw['pages']} of {dw['docs']}"
        )


if __name__ == "__main__":
    main()
