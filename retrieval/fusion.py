"""Rank fusion and result shaping: pure functions over ranked lists.

The default hybrid search fuses inside the engine (RRF or DBSF, one query). These
functions serve the options that need more than the engine offers through the
index interface: weighted RRF over a dense and a lexical ranking fetched
separately, and a cap on hits per document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import TypeVar

from core import InvalidInputError
from retrieval.types import RetrievedChunk

K = TypeVar("K", bound=Hashable)

#: The default RRF rank constant (``search.rrf_k`` in the settings).
DEFAULT_RRF_K = 10


def weighted_rrf(
    rankings: Sequence[Sequence[K]], weights: Sequence[float], *, k: int = DEFAULT_RRF_K
) -> list[tuple[K, float]]:
    """Fuse rankings (best first) into one: ``(key, score)`` pairs, best first.

    ``score(key) = sum over rankings of w / (k + rank)``, rank from 0. With every
    weight 1 this is the engine's RRF score, so the two paths agree exactly. A weight
    multiplies a ranking's whole contribution; Qdrant's own weighted RRF divides the
    rank instead (``1 / ((rank + 1) / w + k - 1)``), which barely moves anything
    at k = 60 (weights 1.8 : 0.2 still give the lexical first hit 93% of the dense
    first hit's score), so it is not used here. Equal scores keep the order in
    which keys were first seen (rankings in the order given): deterministic.

    Raises :class:`InvalidInputError` for mismatched lengths, negative weights, or
    ``k`` < 1.
    """
    if len(rankings) != len(weights):
        raise InvalidInputError(f"{len(rankings)} rankings but {len(weights)} weights")
    if any(w < 0 for w in weights):
        raise InvalidInputError(f"RRF weights must not be negative, got {list(weights)}")
    if k < 1:
        raise InvalidInputError(f"RRF k must be at least 1, got {k}")
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if weight == 0:
            continue
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    # sorted() is stable: ties stay in first-seen order.
    return sorted(scores.items(), key=lambda item: -item[1])


def rrf_weights(dense_weight: float) -> tuple[float, float]:
    """(dense, lexical) RRF weights for a dense share in [0, 1]; 0.5 gives (1, 1), plain RRF."""
    if not 0.0 <= dense_weight <= 1.0:
        raise InvalidInputError(f"dense_weight must lie in [0, 1], got {dense_weight}")
    return 2.0 * dense_weight, 2.0 * (1.0 - dense_weight)


def diversify(
    chunks: Sequence[RetrievedChunk], max_per_document: int | None, limit: int
) -> list[RetrievedChunk]:
    """The first ``limit`` chunks in the given order, at most ``max_per_document`` per document.

    Chunks over a document's cap are skipped, not moved: the order of what is kept
    is the order given. ``None`` means no cap.
    """
    if limit < 1:
        raise InvalidInputError(f"limit must be at least 1, got {limit}")
    if max_per_document is not None and max_per_document < 1:
        raise InvalidInputError(f"max_per_document must be at least 1, got {max_per_document}")
    kept: list[RetrievedChunk] = []
    per_doc: Counter[str] = Counter()
    for chunk in chunks:
        if len(kept) == limit:
            break
        if max_per_document is not None and per_doc[chunk.doc_id] >= max_per_document:
            continue
        per_doc[chunk.doc_id] += 1
        kept.append(chunk)
    return kept
