"""Helpers of the search tests: a tiny deterministic embedder, chunk payloads, both backends.

Imported by name (pytest puts this directory on ``sys.path``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from core import Chunk
from retrieval.index import (
    EdgeIndex,
    IndexPoint,
    QdrantClientIndex,
    VectorIndex,
    encode_documents,
)

DIM = 16
BACKENDS = ("edge", "local")
_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Bag of hashed words → a unit vector: texts sharing words lie close, no model needed."""

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim

    def vector(self, text: str) -> list[float]:
        vec = np.zeros(self.dim)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            n = int.from_bytes(digest, "big")
            vec[n % self.dim] += 1.0 if (n >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0:
            vec[0], norm = 1.0, 1.0
        return [float(x) for x in vec / norm]

    def embed_query(self, text: str) -> list[float]:
        return self.vector(text)


def point_id(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"deepwell-search-test/{key}"))


def payload(
    doc_id: str,
    chunk_index: int,
    text: str,
    *,
    tenant: str = "acme",
    acl: Sequence[str] = ("*",),
    doc_version: int = 1,
    file_type: str = "pdf",
    ingested_at: str = "2024-03-01T12:00:00+00:00",
    metadata: dict[str, Any] | None = None,
    source_uri: str | None = None,
) -> dict[str, Any]:
    """A payload as the writer stores it: a :class:`core.Chunk` record's payload."""
    return Chunk(
        doc_id=doc_id,
        chunk_index=chunk_index,
        text=text,
        doc_version=doc_version,
        source_uri=source_uri or f"file:///docs/{tenant}/{doc_id}.{file_type}",
        title=f"Title of {doc_id}",
        filename=f"{doc_id}.{file_type}",
        file_type=file_type,
        section=["Part I"],
        page_start=chunk_index + 1,
        page_end=chunk_index + 1,
        element_types=["NarrativeText"],
        content_sha256=hashlib.sha256(text.encode()).hexdigest(),
        acl=list(acl),
        tenant=tenant,
        ingested_at=ingested_at,
        pipeline_signature="test",
        metadata=dict(metadata or {}),
    ).to_payload()


def points(payloads: Sequence[dict[str, Any]], embedder: HashEmbedder) -> list[IndexPoint]:
    """Index points for payloads: hashed dense vectors and real BM25 sparse vectors."""
    texts = [p["text"] for p in payloads]
    sparse = encode_documents(texts)
    return [
        IndexPoint(
            point_id(f"{p['tenant']}/{p['doc_id']}/{p['doc_version']}/{p['chunk_index']}"),
            embedder.vector(p["text"]),
            sv,
            p,
        )
        for p, sv in zip(payloads, sparse, strict=True)
    ]


def open_backend(kind: str, root: Path, dim: int = DIM) -> VectorIndex:
    """A fresh, empty index of one backend kind."""
    index: VectorIndex
    if kind == "edge":
        index = EdgeIndex(root / "edge", "search-test")
    else:
        index = QdrantClientIndex.connect("search-test", url=":memory:")
    index.ensure_collection(dim)
    return index


@contextmanager
def loaded_index(
    kind: str, root: Path, payloads: Sequence[dict[str, Any]], embedder: HashEmbedder
) -> Iterator[VectorIndex]:
    index = open_backend(kind, root)
    try:
        index.upsert(points(payloads, embedder))
        yield index
    finally:
        index.close()
