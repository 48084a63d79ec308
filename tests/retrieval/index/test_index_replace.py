"""replace(): a new version of a document becomes visible in one step, on every backend."""

from __future__ import annotations

import threading
import uuid

import numpy as np

from retrieval.index import IndexPoint, MatchValue, SparseVector, VectorIndex
from retrieval.index.filters import Filter
from testkit.index_contract import DIM

PER_VERSION = 40


def _version(doc: str, version: int) -> list[IndexPoint]:
    rng = np.random.default_rng(version)
    return [
        IndexPoint(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc}/{version}/{i}")),
            dense=[float(x) for x in rng.normal(size=DIM)],
            sparse=SparseVector([i + 1], [1.0]),
            payload={"doc_id": doc, "doc_version": version},
        )
        for i in range(PER_VERSION)
    ]


def test_replace_swaps_versions_and_drops_stale(index: VectorIndex) -> None:
    v1, v2 = _version("d", 1), _version("d", 2)
    index.upsert(v1)
    index.replace(v2, [p.id for p in v1])
    hits = list(index.scroll(Filter(must=[MatchValue("doc_id", "d")])))
    assert {h.payload["doc_version"] for h in hits} == {2}
    assert len(hits) == PER_VERSION


def test_replace_keeps_rewritten_ids(index: VectorIndex) -> None:
    v1 = _version("d", 1)
    index.upsert(v1)
    index.replace(v1[:10], [p.id for p in v1])  # same ids rewritten: those stay
    assert index.count() == 10


def test_readers_never_see_both_versions_or_neither(index: VectorIndex) -> None:
    """Readers count the document's points while a writer flips versions back and forth."""
    versions = [_version("d", 1), _version("d", 2)]
    index.upsert(versions[0])
    flt = Filter(must=[MatchValue("doc_id", "d")])
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(index.count(flt))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for flip in range(1, 25):
            new, old = versions[flip % 2], versions[(flip + 1) % 2]
            index.replace(new, [p.id for p in old])
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert seen, "readers ran"
    assert set(seen) == {PER_VERSION}
