"""Near duplicates by MinHash: signatures of a text's word shingles, LSH bands, an index.

Two chunks are near duplicates when the Jaccard similarity of their sets of word
3-shingles (of the normalized text) is high. :func:`minhash` estimates it with a
signature of ``num_perm`` values (fixed seeds: signatures compare across processes and
runs); :func:`band_keys` cuts a signature into LSH bands, so an index compares a new
signature only with those that share a band. :class:`NearDuplicateIndex` keeps them in
memory; ingestion keeps them in the registry database (:mod:`ingest.signatures`). Both
are a :class:`SignatureIndex`, what :func:`ingest.cleaning.clean_chunks` looks up.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Mapping
from typing import Protocol

import numpy as np
import numpy.typing as npt

_MERSENNE = 4294967311  # smallest prime above 2**32: (a*x + b) stays below 2**64


def normalize_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: what "the same text" means here."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _rng_params(num_perm: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    # Fixed seed: signatures must be comparable across processes and runs.
    rng = np.random.default_rng(20240611)
    a = rng.integers(1, 2**32 - 1, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 2**32 - 1, size=num_perm, dtype=np.uint64)
    return a, b


_PARAMS: dict[int, tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]] = {}


def minhash(text: str, num_perm: int = 128, shingle_words: int = 3) -> npt.NDArray[np.uint64]:
    """MinHash signature of the set of word ``shingle_words``-grams of ``text``."""
    words = re.findall(r"\w+", normalize_text(text))
    k = min(shingle_words, len(words)) or 1
    shingles = {" ".join(words[i : i + k]) for i in range(max(1, len(words) - k + 1))}
    x = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in shingles), dtype=np.uint64)
    if num_perm not in _PARAMS:
        _PARAMS[num_perm] = _rng_params(num_perm)
    a, b = _PARAMS[num_perm]
    hashed = (a[:, None] * x[None, :] + b[:, None]) % np.uint64(_MERSENNE)
    signature: npt.NDArray[np.uint64] = hashed.min(axis=1)
    return signature


def estimate_jaccard(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> float:
    """Share of equal MinHash values: an unbiased estimate of the Jaccard similarity."""
    return float(np.mean(a == b))


def band_keys(sig: npt.NDArray[np.uint64], rows: int) -> list[tuple[int, bytes]]:
    """The LSH bands of ``sig``: ``(band number, its rows' bytes)``. Two signatures that
    share a band are candidates; ``rows`` per band sets the similarity they catch."""
    return [
        (band, sig[band * rows : (band + 1) * rows].tobytes()) for band in range(len(sig) // rows)
    ]


def most_similar(
    sig: npt.NDArray[np.uint64],
    candidates: Mapping[str, npt.NDArray[np.uint64]],
    threshold: float,
) -> str | None:
    """The key of the candidate most similar to ``sig`` at or above ``threshold`` (of equals,
    the last in key order), or None."""
    best, best_sim = None, threshold
    for key in sorted(candidates):
        sim = estimate_jaccard(sig, candidates[key])
        if sim >= best_sim:
            best, best_sim = key, sim
    return best


class SignatureIndex(Protocol):
    """Where :func:`clean_chunks` looks up and stores the signatures of kept chunks."""

    @property
    def num_perm(self) -> int: ...

    def query(self, sig: npt.NDArray[np.uint64], threshold: float) -> str | None:
        """The key of the most similar stored signature at or above ``threshold``."""
        ...

    def add(self, key: str, sig: npt.NDArray[np.uint64]) -> None:
        """Store ``sig`` under ``key``."""
        ...


class NearDuplicateIndex:
    """MinHash signatures in LSH buckets, in memory, to find near duplicates without
    comparing all pairs.

    Keys are ``"<doc_id>#<chunk_index>"``. Keep one per tenant and access scope to catch
    near duplicates across documents; ``discard_document`` before a new version. Ingestion
    keeps them in the registry database instead (:mod:`ingest.signatures`), where every
    worker sees them.
    """

    def __init__(self, num_perm: int = 128, rows: int = 8) -> None:
        if num_perm % rows:
            raise ValueError("num_perm must be a multiple of rows")
        self.num_perm, self.rows = num_perm, rows
        self._signatures: dict[str, npt.NDArray[np.uint64]] = {}
        self._buckets: dict[tuple[int, bytes], list[str]] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def candidates(self, sig: npt.NDArray[np.uint64]) -> dict[str, npt.NDArray[np.uint64]]:
        """The stored signatures that share a band with ``sig``, by key."""
        keys = {key for band in band_keys(sig, self.rows) for key in self._buckets.get(band, ())}
        return {key: self._signatures[key] for key in keys}

    def query(self, sig: npt.NDArray[np.uint64], threshold: float) -> str | None:
        """The key of the most similar stored signature at or above ``threshold``."""
        return most_similar(sig, self.candidates(sig), threshold)

    def discard_document(self, doc_id: str) -> int:
        """Forget every signature of ``doc_id`` (before re-ingesting a new version of it).

        Returns:
            How many signatures were removed.
        """
        prefix = f"{doc_id}#"
        gone = [key for key in self._signatures if key.startswith(prefix)]
        for key in gone:
            for band in band_keys(self._signatures.pop(key), self.rows):
                self._buckets[band].remove(key)
        return len(gone)

    def add(self, key: str, sig: npt.NDArray[np.uint64]) -> None:
        """Store ``sig`` under ``key``."""
        self._signatures[key] = sig
        for band in band_keys(sig, self.rows):
            self._buckets.setdefault(band, []).append(key)
