"""Copy an index from one backend to another and prove the copy answers the same.

``deepwell index migrate`` moves an embedded index into a Qdrant server collection
(or back): :func:`copy_points` streams every point with its vectors and payload in
batches (upserts by id, so a copy cut short can simply be run again), then
:func:`verify_copy` checks the counts and runs a query set through both indexes
(dense exact, lexical and hybrid, top-k of each), comparing the ranked ids.

The query set is taken from the source itself (the vectors of a deterministic
sample of its points), so no embedding model is needed to verify a copy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from retrieval.index.base import Hit, IndexPoint, SearchMode, SparseVector, VectorIndex


@dataclass(frozen=True, slots=True)
class Query:
    """One query of a verification set: a dense and a sparse vector."""

    dense: list[float]
    sparse: SparseVector


@dataclass
class Verification:
    """What :func:`verify_copy` found. ``ok`` when counts match and every ranking is identical."""

    source_count: int
    target_count: int
    queries: int
    k: int
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.source_count == self.target_count and not self.mismatches


def copy_points(
    source: VectorIndex,
    target: VectorIndex,
    *,
    batch: int = 256,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Upsert every point of ``source`` into ``target`` (whose collection must exist).

    ``on_batch`` gets the number of points of each batch written (a progress bar).
    Returns the number of points copied.
    """
    copied = 0
    pending: list[IndexPoint] = []
    for point in source.export(batch):
        pending.append(point)
        if len(pending) >= batch:
            target.upsert(pending)
            copied += len(pending)
            if on_batch is not None:
                on_batch(len(pending))
            pending = []
    if pending:
        target.upsert(pending)
        copied += len(pending)
        if on_batch is not None:
            on_batch(len(pending))
    return copied


def sample_queries(index: VectorIndex, n: int, *, seed: int = 0) -> list[Query]:
    """``n`` queries made of the vectors of a deterministic sample of ``index``'s points."""
    ids = sorted(hit.id for hit in index.scroll(with_payload=False))
    chosen = set(random.Random(seed).sample(ids, min(n, len(ids))))  # noqa: S311 (sampling, not secrets)
    return [Query(p.dense, p.sparse) for p in index.export() if p.id in chosen]


def _tied(a: float, b: float) -> bool:
    # Engines sum floats in different orders: equal up to float noise is equal.
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)


def same_ranking(a: list[Hit], b: list[Hit]) -> bool:
    """Whether two top-k lists rank alike: the same scores, and the same ids per score.

    Engines order equal scores differently, and a tie at the k-th place may keep
    different points; so ids are compared as a set within each run of equal scores,
    and the run tied with the last hit is compared by size only.
    """
    if len(a) != len(b) or not all(_tied(x.score, y.score) for x, y in zip(a, b, strict=True)):
        return False
    start = 0
    while start < len(a):
        end = start + 1
        while end < len(a) and _tied(a[end].score, a[start].score):
            end += 1
        last_run = end == len(a)
        if not last_run and {h.id for h in a[start:end]} != {h.id for h in b[start:end]}:
            return False
        start = end
    return True


def verify_copy(
    source: VectorIndex,
    target: VectorIndex,
    queries: list[Query],
    *,
    k: int = 10,
    modes: tuple[SearchMode, ...] = ("dense", "lexical"),
) -> Verification:
    """Compare counts and the top-``k`` of every query in each of ``modes``.

    Dense search is exact on both sides (no HNSW approximation), so a faithful copy
    ranks identically: the same ids with the same scores (see :func:`same_ranking`).
    Hybrid is off by default: it fuses the two rankings checked, and where lexical
    scores tie (common on short chunks) the engines' tie order changes the fused ranks.
    """
    report = Verification(source.count(), target.count(), len(queries), k)
    for i, q in enumerate(queries):
        for mode in modes:
            ranked = [
                index.query(
                    dense=q.dense, sparse=q.sparse, flt=None, limit=k, mode=mode, exact=True
                )
                for index in (source, target)
            ]
            if not same_ranking(*ranked):
                ids = [[h.id[:8] for h in hits] for hits in ranked]
                report.mismatches.append(f"query {i} ({mode}): {ids[0]} != {ids[1]}")
    return report
