"""After a bulk load and ``optimize()``, the embedded engine's HNSW search keeps recall,
also behind a selective ACL filter (ACORN, ``index.acorn``).

The vectors are clustered, like sentence embeddings (topics), not i.i.d. Gaussian:
in 384 dimensions i.i.d. points have no neighbourhood structure, and any graph
index scores poorly on them (about 0.4 recall@10 here with the default ef).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from retrieval.index import EdgeIndex, Filter, IndexPoint, MatchAny, SearchTuning, SparseVector

N, DIM, CLUSTERS, QUERIES, K = 20_000, 384, 200, 50, 10


def test_hnsw_recall_at_10_against_exact_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(1234)
    centers = rng.normal(size=(CLUSTERS, DIM))
    data = centers[rng.integers(0, CLUSTERS, N)] + 1.5 * rng.normal(size=(N, DIM))
    queries = centers[rng.integers(0, CLUSTERS, QUERIES)] + 1.5 * rng.normal(size=(QUERIES, DIM))
    empty = SparseVector([], [])
    timings: dict[str, float] = {}

    with EdgeIndex(tmp_path, "recall") as index:
        index.ensure_collection(DIM)
        started = time.perf_counter()
        rows = data.tolist()
        ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(N)]
        # One point in ten is readable by group:g0: a caller in g0 filters out 90%.
        acl = [[f"group:g{i % 10}"] for i in range(N)]
        index.upsert(
            [IndexPoint(ids[i], rows[i], empty, {"n": i, "acl": acl[i]}) for i in range(N)]
        )
        timings["upsert"] = time.perf_counter() - started
        assert index.describe()["indexed_vectors"] == 0  # nothing built yet: search is exact

        started = time.perf_counter()
        index.optimize()
        timings["optimize"] = time.perf_counter() - started
        facts = index.describe()
        assert facts["points"] == N
        assert facts["indexed_vectors"] == N  # the graph exists, so the comparison means something

        recall = _recall(index, queries, None, timings)
        selective = Filter(must=[MatchAny("acl", ["group:g0"])])
        filtered = _recall(index, queries, selective, {})
        index.tuning = SearchTuning(acorn=False)
        without_acorn = _recall(index, queries, selective, {})

    print(
        f"\nHNSW recall@{K} over {QUERIES} queries, {N} x {DIM}: {recall:.3f}; "
        f"upsert {timings['upsert']:.1f} s, optimize {timings['optimize']:.1f} s, "
        f"query {1000 * timings['hnsw'] / QUERIES:.2f} ms (exact "
        f"{1000 * timings['exact'] / QUERIES:.2f} ms)"
    )
    print(f"ACL-filtered (1/3 readable): {filtered:.3f} with ACORN, {without_acorn:.3f} without")
    assert recall >= 0.95
    assert filtered >= 0.95


def _recall(
    index: EdgeIndex, queries: np.ndarray, flt: Filter | None, timings: dict[str, float]
) -> float:
    """Mean share of the exact top-K that HNSW search finds, under ``flt``."""
    recalls = []
    timings["hnsw"] = timings["exact"] = 0.0
    for query in queries.tolist():
        hits = {}
        for exact in (False, True):
            started = time.perf_counter()
            found = index.query(
                dense=query, sparse=None, flt=flt, limit=K, mode="dense", exact=exact
            )
            timings["exact" if exact else "hnsw"] += time.perf_counter() - started
            assert len(found) == K
            hits[exact] = {h.id for h in found}
        recalls.append(len(hits[False] & hits[True]) / K)
    return float(np.mean(recalls))
