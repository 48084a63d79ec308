"""Lexical (BM25-style) sparse vectors for texts, computed in-process with no model files.

Both index backends store the vectors made here, so lexical search behaves the
same on the embedded engine and on a Qdrant server.

The encoder is qdrant-edge's ``Bm25`` (Rust, offline): it lowercases, splits on
word boundaries (Unicode-aware), drops English stopwords, applies the Snowball
English stemmer, and maps each stem to ``abs(murmur3_32(stem))`` as a signed 32-bit
hash — the scheme of fastembed's ``Qdrant/bm25``, so indices are stable across
processes, machines and releases that keep that scheme.

- A document gets the BM25 term-frequency part per stem,
  ``tf * (k + 1) / (tf + k * (1 - b + b * doc_len / avg_len))``.
- A query gets weight 1.0 per distinct stem.
- The IDF part is applied by the engine at query time (the collection's sparse
  vector has Qdrant's IDF modifier), over the points in the collection.

``avg_len`` is the expected document length in tokens after stopword removal. The
default chunking (``ingest.chunk_max_chars`` 1000, about 540 characters a chunk on
average) gives about 50-60 such tokens per chunk, so :data:`DEFAULT_AVG_LEN` is 64,
not the library's 256 (which would treat every chunk as short and flatten the
length normalization). Changing it changes every stored vector: it is part of
:attr:`Bm25Encoder.signature`, which belongs in the ingest pipeline signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import qdrant_edge as qe

from core import ConfigError
from retrieval.index.base import SparseVector

DEFAULT_K = 1.2
DEFAULT_B = 0.75
DEFAULT_AVG_LEN = 64.0


class Bm25Encoder:
    """BM25 document and query vectors with fixed parameters (English text)."""

    def __init__(
        self, *, k: float = DEFAULT_K, b: float = DEFAULT_B, avg_len: float = DEFAULT_AVG_LEN
    ) -> None:
        if avg_len <= 0 or not 0.0 <= b <= 1.0 or k < 0:
            raise ConfigError(f"invalid BM25 parameters k={k} b={b} avg_len={avg_len}")
        self.k, self.b, self.avg_len = k, b, avg_len
        self._model = qe.Bm25(qe.Bm25Config(k=k, b=b, avg_len=avg_len, language="english"))

    @property
    def signature(self) -> str:
        """Names everything that shapes the stored vectors; a change means re-indexing."""
        return f"bm25-edge/english/murmur3/k={self.k}/b={self.b}/avg_len={self.avg_len}"

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """Document-side vectors (term-frequency weights), one per text."""
        return [_convert(self._model.embed_document(text)) for text in texts]

    def encode_query(self, text: str) -> SparseVector:
        """Query-side vector: 1.0 per distinct stem; empty when only stopwords remain."""
        return _convert(self._model.embed_query(text))


def _convert(vec: qe.SparseVector) -> SparseVector:
    return SparseVector(indices=list(vec.indices), values=[float(v) for v in vec.values])


@lru_cache(maxsize=1)
def default_encoder() -> Bm25Encoder:
    """The process-wide encoder with the default parameters (built on first use)."""
    return Bm25Encoder()


def encode_documents(texts: Sequence[str]) -> list[SparseVector]:
    """Document-side sparse vectors with the default parameters."""
    return default_encoder().encode_documents(texts)


def encode_query(text: str) -> SparseVector:
    """Query-side sparse vector with the default parameters."""
    return default_encoder().encode_query(text)
