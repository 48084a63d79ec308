"""Search latency at 100k chunks on the embedded backend, with the ACL filter, per mode.

Run from the repository root: ``.venv/bin/python -m bench.search_latency [--points N]``
(as ``python bench/search_latency.py`` the file ``bench/ingest.py`` would shadow the
``ingest`` package).

The corpus is synthetic but shaped like the real one: clustered 384-d unit vectors
(topics; i.i.d. random vectors have no neighbourhood structure for HNSW to use),
BM25 sparse vectors of ~90-word texts drawn from a Zipf-distributed vocabulary,
and full payloads (text, ACLs over 40 users and groups with a public share, four
tenants of unequal size). It is bulk-loaded into a fresh ``EdgeIndex`` and
optimized (HNSW built). Each query then goes through ``Searcher.search`` exactly as
the API calls it — real MiniLM query embedding, BM25 query vector, the principal's
ACL and tenant filter — and the searcher's own timings split every query into
its embed share and its index share, with the configured embedder (the
``embedding.backend`` setting) on 2 threads and on 1 (``--threads``): on a machine
busy with other work, torch's two spinning threads turned a 10 ms query embedding
into 500-1000 ms here. A recall check compares HNSW dense search with exact search,
without and with the ACL filter.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

import core  # noqa: F401  (first: telemetry off before third-party imports)
from core import Chunk, Principal, Settings, configure_logging
from core.models import ResolvedModel, configured_embedding
from retrieval.acl import access_filter
from retrieval.embedding import Embedder, make_embedder
from retrieval.index import EdgeIndex, IndexPoint, encode_documents
from retrieval.search import Searcher

DIM = 384
BATCH = 5000
CHUNKS_PER_DOC = 20
TENANTS = ("acme", "globex", "initech", "umbrella")
TENANT_SHARE = (0.7, 0.15, 0.1, 0.05)
PRINCIPALS = [f"user:u{i}" for i in range(20)] + [f"group:g{i}" for i in range(20)]
WHO = Principal(user="u1", groups=("g1", "g2", "g3"), tenant="acme")

_WORD_TEXT = """
    revenue sales margin cloud services products quarter fiscal year operating income
    expenses cash flow debt equity shares repurchase dividend tax rate segment growth
    decline increase decrease compared prior period net gross research development
    marketing general administrative inventory supply chain demand customers enterprise
    consumer data center gaming automotive devices iphone mac ipad wearables advertising
    subscription retail online stores aws azure office windows xbox search linkedin
    foundry client computing network edge memory storage semiconductor manufacturing
    capacity capital expenditures depreciation amortization goodwill impairment
    acquisition litigation legal regulatory risk factors foreign currency exchange
    interest rates inflation macroeconomic employees headcount restructuring severance
    lease obligations commitments contingencies liquidity resources securities investments
    marketable fair value hedging derivatives pension benefits stock compensation guidance
    outlook backlog orders shipments units average selling price mix china europe americas
    asia pacific japan india region geographic international domestic
"""
WORDS = _WORD_TEXT.split()

QUERIES = [
    "How did cloud revenue change compared with the prior quarter?",
    "What drove the decrease in gross margin this fiscal year?",
    "Data center segment growth and demand from enterprise customers",
    "What are the main risk factors related to foreign currency exchange?",
    "Share repurchase program and dividend payments in the quarter",
    "Operating expenses for research and development compared to prior period",
    "Inventory levels and supply chain constraints",
    "What is the effective tax rate and why did it change?",
    "Litigation and legal contingencies disclosed",
    "Capital expenditures on manufacturing capacity",
    "iPhone net sales by region in Asia Pacific and China",
    "Goodwill impairment after the acquisition",
    "Liquidity and capital resources: cash, marketable securities and debt",
    "Advertising and subscription revenue growth",
    "Headcount, restructuring and severance charges",
    "Lease obligations and purchase commitments",
    "Stock-based compensation expense trend",
    "Impact of inflation and interest rates on consumer demand",
    "Backlog of orders and shipments outlook",
    "Average selling price and product mix effects on margin",
]


#: What is measured: the engine-fused hybrid query (the default), the Python-fused
#: weighted one (two engine queries), and each single mode.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("hybrid rrf", {"mode": "hybrid", "fusion": "rrf"}),
    ("hybrid wrrf", {"mode": "hybrid", "fusion": "weighted_rrf"}),
    ("dense", {"mode": "dense"}),
    ("lexical", {"mode": "lexical"}),
]


def vocabulary(size: int) -> list[str]:
    """Real words first (the frequent ones), then a long tail of rare made-up terms."""
    return WORDS + [f"term{i:05d}" for i in range(size - len(WORDS))]


def clustered(rng: np.random.Generator, centers: np.ndarray, n: int) -> np.ndarray:
    """``n`` unit vectors around random cluster centres (as in the HNSW recall test)."""
    vectors = centers[rng.integers(0, len(centers), n)] + 1.5 * rng.normal(size=(n, DIM))
    unit: np.ndarray = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return unit


def corpus_batch(
    rng: np.random.Generator,
    start: int,
    n: int,
    vocab: Sequence[str],
    p: np.ndarray,
    centers: np.ndarray,
) -> list[IndexPoint]:
    vectors = clustered(rng, centers, n)
    lengths = rng.integers(60, 120, size=n)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=p)
    texts, at = [], 0
    for length in lengths:
        texts.append(" ".join(vocab[w] for w in words[at : at + length]))
        at += length
    sparse = encode_documents(texts)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    points = []
    for i in range(n):
        k = start + i
        doc = k // CHUNKS_PER_DOC
        acl = (
            ["*"]
            if rng.random() < 0.2
            else list(rng.choice(PRINCIPALS, size=rng.integers(1, 4), replace=False))
        )
        record = Chunk(
            doc_id=f"doc-{doc:06d}",
            chunk_index=k % CHUNKS_PER_DOC,
            text=texts[i],
            source_uri=f"file:///data/docs/{doc % 97}/doc-{doc:06d}.pdf",
            title=f"Document {doc}",
            filename=f"doc-{doc:06d}.pdf",
            file_type="pdf",
            section=["Part I", f"Item {k % 7}"],
            page_start=k % CHUNKS_PER_DOC + 1,
            page_end=k % CHUNKS_PER_DOC + 1,
            element_types=["NarrativeText"],
            content_sha256=f"{k:064x}",
            acl=[str(a) for a in acl],
            tenant=str(rng.choice(TENANTS, p=TENANT_SHARE)),
            ingested_at=(base + timedelta(minutes=doc)).isoformat(),
            pipeline_signature="bench",
            metadata={"relative_path": f"{doc % 97}/doc-{doc:06d}.pdf"},
        )
        point_id = f"00000000-0000-4000-8000-{k:012d}"
        points.append(
            IndexPoint(point_id, [float(x) for x in vectors[i]], sparse[i], record.to_payload())
        )
    return points


def load(index: EdgeIndex, n: int, seed: int, centers: np.ndarray) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    vocab = vocabulary(20_000)
    ranks = np.arange(1, len(vocab) + 1)
    p = 1.0 / ranks**1.05
    p /= p.sum()
    index.ensure_collection(DIM)
    generate = write = 0.0
    for start in range(0, n, BATCH):
        t = time.perf_counter()
        batch = corpus_batch(rng, start, min(BATCH, n - start), vocab, p, centers)
        generate += time.perf_counter() - t
        t = time.perf_counter()
        index.upsert(batch)
        write += time.perf_counter() - t
    t = time.perf_counter()
    index.optimize()
    return {"generate_s": generate, "upsert_s": write, "optimize_s": time.perf_counter() - t}


def embedder_with(settings: Settings, model: ResolvedModel, threads: int) -> Embedder:
    """The configured embedder on ``threads`` threads (torch's are process-wide)."""
    emb = settings.embedding.model_copy(update={"threads": threads})
    embedder = make_embedder(settings.model_copy(update={"embedding": emb}), model)
    if settings.embedding.backend == "torch":
        import torch

        torch.set_num_threads(threads)
    embedder.warm_up()
    return embedder


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def dense_recall(index: EdgeIndex, centers: np.ndarray, k: int = 10) -> dict[str, float]:
    """HNSW dense top-k against exact search, without and with the ACL filter.

    The query vectors come from the corpus distribution: recall on vectors unrelated
    to the data (a MiniLM query against synthetic points) would measure nothing.
    """
    queries = clustered(np.random.default_rng(99), centers, 50)
    out = {}
    default, plain = index.tuning, replace(index.tuning, acorn=False)
    cases = (
        ("unfiltered", None, default),
        ("ACL-filtered", access_filter(WHO), default),
        ("ACL-filtered without ACORN", access_filter(WHO), plain),
    )
    for name, flt, tuning in cases:
        index.tuning = tuning
        found = 0
        for vec in queries.tolist():
            approx = index.query(dense=vec, sparse=None, flt=flt, limit=k, mode="dense")
            exact = index.query(dense=vec, sparse=None, flt=flt, limit=k, mode="dense", exact=True)
            found += len({h.id for h in approx} & {h.id for h in exact})
        out[name] = found / (k * len(queries))
    index.tuning = default
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200, help="Searches per mode.")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--threads",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[2, 1],
        help="Embedding thread counts to measure with (comma-separated).",
    )
    args = ap.parse_args()
    configure_logging("warning")
    settings = Settings()
    model = configured_embedding(settings)
    work = Path(tempfile.mkdtemp(prefix="deepwell-bench-latency-"))
    try:
        index = EdgeIndex(work / "index", "bench")
        centers = np.random.default_rng(args.seed + 1).normal(size=(1000, DIM))
        load_s = load(index, args.points, args.seed, centers)
        facts = index.describe()
        visible = index.count(access_filter(WHO))
        print(
            f"{facts['points']} chunks in {facts['segments']} segment(s); generated in "
            f"{load_s['generate_s']:.1f} s, upserted in {load_s['upsert_s']:.1f} s, optimized "
            f"in {load_s['optimize_s']:.1f} s; the principal may read {visible} "
            f"({visible / facts['points']:.1%})",
            flush=True,
        )
        queries = [QUERIES[i % len(QUERIES)] for i in range(args.queries)]
        rows = []
        for threads in args.threads:
            embedder = embedder_with(settings, model, threads)
            searcher = Searcher(index, embedder, settings.search)
            for label, options in VARIANTS:
                for q in QUERIES[:5]:  # warm caches and the model's first-call costs
                    searcher.search(q, WHO, **options)
                timings: dict[str, list[float]] = {"total_ms": [], "embed_ms": [], "index_ms": []}
                for q in queries:
                    result = searcher.search(q, WHO, limit=10, **options)
                    for key, values in timings.items():
                        values.append(result.timings[key])
                rows.append((label, threads, timings))
        recall = dense_recall(index, centers)
        index.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.queries} searches per mode, limit 10, ACL + tenant filter, times in ms")
    heads = "".join(f"{h:>11}{'p95':>8}" for h in ("total p50", "embed p50", "index p50"))
    print(f"query embedder: {settings.embedding.backend}")
    print(f"{'search':12}{'threads':>8}{heads}")
    for label, threads, t in rows:
        print(
            f"{label:12}{threads:>8}"
            + "".join(
                f"{pct(t[key], 0.5):11.2f}{pct(t[key], 0.95):8.2f}"
                for key in ("total_ms", "embed_ms", "index_ms")
            )
        )
    for threads in args.threads:
        worst = max(pct(t["total_ms"], 0.95) for _, n, t in rows if n == threads)
        verdict = "met" if worst < 50 else "NOT met"
        print(f"goal p95 < 50 ms with {threads} embedding thread(s): {verdict} (worst {worst:.1f})")
    print(
        "HNSW dense recall@10 vs exact search: "
        + ", ".join(f"{name} {value:.3f}" for name, value in recall.items())
    )


if __name__ == "__main__":
    main()
