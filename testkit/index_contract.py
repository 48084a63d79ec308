"""The vector-index contract kit: backends, a small corpus, a reference filter evaluator.

The contract suite (``tests/retrieval/index``) runs against every backend kind in
:data:`BACKEND_KINDS`; its fixtures are thin wrappers over :class:`Backend`. A new backend,
or a benchmark that needs an index with known rankings, uses the same pieces.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient

from retrieval.index import (
    DatetimeRange,
    EdgeIndex,
    Filter,
    HasId,
    IndexPoint,
    IsEmpty,
    MatchAny,
    MatchPrefix,
    MatchValue,
    QdrantClientIndex,
    Range,
    VectorIndex,
    encode_documents,
)
from retrieval.index.filters import Condition

DIM = 32

#: The embedded engine, qdrant-client's local mode, a live Qdrant server (needs a URL).
BACKEND_KINDS = ("edge", "local", "server")


@dataclass
class Backend:
    """Opens indexes of one kind at one location; closes (and drops) them at teardown."""

    kind: str
    root: Path
    collection: str
    url: str | None = None
    opened: list[VectorIndex] = field(default_factory=list)

    def open(self) -> VectorIndex:
        """A new index object on the same location (a reopen, after close)."""
        index: VectorIndex
        if self.kind == "edge":
            index = EdgeIndex(self.root / "edge", self.collection)
        elif self.kind == "local":
            index = QdrantClientIndex.connect(self.collection, path=self.root / "qdrant-local")
        else:
            index = QdrantClientIndex.connect(self.collection, url=self.url)
        self.opened.append(index)
        return index

    def teardown(self) -> None:
        for index in self.opened:
            index.close()
        if self.kind == "server":
            client = QdrantClient(url=self.url)
            client.delete_collection(self.collection)
            client.close()


# --- the corpus ------------------------------------------------------------------------


def pid(n: int) -> str:
    """A deterministic point id, as a caller would compute one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"deepwell-test/{n}"))


def unit(vec: np.ndarray[Any, np.dtype[np.float64]]) -> list[float]:
    return [float(x) for x in vec / np.linalg.norm(vec)]


QUERY_DIRECTION = unit(np.random.default_rng(7).normal(size=DIM))

# (key, text, cosine with QUERY_DIRECTION or None for a random vector, payload extras).
# Random vectors in 32 dimensions have |cosine| < 0.6 with the query, by a wide margin.
DOCS: list[tuple[str, str, float | None, dict[str, Any]]] = [
    # Dense-only winner: its vector is the query; its words are not.
    ("dense_top", "Quarterly revenue rose on strong iPhone sales in Asia.", 1.0, {}),
    # Both lists rank it second: hybrid fusion must put it first.
    ("both", "The tungsten ledger recorded a small quarterly revenue gain.", 0.8, {}),
    # Lexical-only winner (the query words, repeated, in a short text); last in dense order.
    ("lex_top", "Tungsten ledger: tungsten ledger entries.", -0.9, {}),
    ("d3", "Gross margin decreased due to higher component costs.", None, {}),
    ("d4", "The board approved a share repurchase program.", None, {}),
    ("d5", "Data center revenue grew faster than gaming revenue.", None, {}),
    ("d6", "Operating expenses increased for research and development.", None, {}),
    ("d7", "Inventory write-downs affected results this quarter.", None, {}),
    ("d8", "Cloud services drove most of the growth in the segment.", None, {}),
    ("d9", "Foreign exchange rates reduced reported net sales.", None, {}),
    ("d10", "Litigation reserves were adjusted after the settlement.", None, {}),
    ("d11", "Advertising revenue was flat compared with last year.", None, {}),
]
LEXICAL_QUERY = "tungsten ledger"
TENANTS = ("acme", "globex")


def _vector(rng: np.random.Generator, cosine: float | None) -> list[float]:
    noise = rng.normal(size=DIM)
    if cosine is None:
        return unit(noise)
    q = np.array(QUERY_DIRECTION)
    orth = noise - noise.dot(q) * q
    orth /= np.linalg.norm(orth)
    return unit(cosine * q + np.sqrt(1 - cosine**2) * orth)


def corpus() -> list[IndexPoint]:
    """Twelve chunks with known dense/lexical rankings and varied payloads."""
    rng = np.random.default_rng(11)
    sparse = encode_documents([text for _, text, _, _ in DOCS])
    points = []
    for n, ((key, text, cosine, extra), sv) in enumerate(zip(DOCS, sparse, strict=True)):
        payload: dict[str, Any] = {
            "key": key,
            "doc_id": f"doc-{n // 3}",  # three chunks per document
            "chunk_index": n % 3,
            "text": text,
            "source_uri": f"file:///docs/{n // 3}.pdf",
            "tenant": TENANTS[n % 2],
            "acl": ["group:finance"] if n % 3 == 0 else ["user:ann", "group:legal"],
            "page_start": n * 10,
            "ingested_at": f"2024-03-{n + 1:02d}T12:00:00Z",
            **extra,
        }
        if n % 4 == 0:
            payload["acl"] = [*payload["acl"], "*"]
        if n == 5:
            payload["section"] = []  # empty list: IsEmpty must match it
        else:
            payload["section"] = ["Results", f"Part {n}"]
        points.append(IndexPoint(pid(n), _vector(rng, cosine), sv, payload))
    return points


def key_of(hit_payload: dict[str, Any]) -> str:
    return str(hit_payload["key"])


# --- a reference evaluator of the filter language ---------------------------------------


def _values(payload: dict[str, Any], key: str) -> list[Any]:
    node: Any = payload
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    if node is None:
        return []
    return list(node) if isinstance(node, list) else [node]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def matches(flt: Filter, point: IndexPoint) -> bool:
    """What the filter language means, in plain Python, for checking both engines."""
    return (
        all(_holds(c, point) for c in flt.must)
        and (not flt.should or any(_holds(c, point) for c in flt.should))
        and not any(_holds(c, point) for c in flt.must_not)
    )


def _holds(cond: Condition, point: IndexPoint) -> bool:  # noqa: PLR0911  (one return per kind)
    match cond:
        case MatchValue(key=key, value=value):
            return value in _values(point.payload, key)
        case MatchAny(key=key, values=values):
            return bool(set(values) & set(_values(point.payload, key)))
        case MatchPrefix(key=key, prefix=prefix):
            return any(
                isinstance(v, str) and v.startswith(prefix) for v in _values(point.payload, key)
            )
        case Range(key=key, gte=gte, gt=gt, lte=lte, lt=lt):
            nums = [v for v in _values(point.payload, key) if isinstance(v, int | float)]
            return any(
                (gte is None or v >= gte)
                and (gt is None or v > gt)
                and (lte is None or v <= lte)
                and (lt is None or v < lt)
                for v in nums
            )
        case DatetimeRange(key=key, gte=gte, gt=gt, lte=lte, lt=lt):
            stamps = [_instant(v) for v in _values(point.payload, key) if isinstance(v, str)]
            return any(
                (gte is None or v >= _instant(gte))
                and (gt is None or v > _instant(gt))
                and (lte is None or v <= _instant(lte))
                and (lt is None or v < _instant(lt))
                for v in stamps
            )
        case IsEmpty(key=key):
            return not _values(point.payload, key)
        case HasId(ids=ids):
            return point.id in ids
        case Filter():
            return matches(cond, point)
    raise AssertionError(cond)
