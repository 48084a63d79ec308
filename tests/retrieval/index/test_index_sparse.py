"""The lexical encoder: stable term ids, BM25 weights, and its documented assumptions."""

from __future__ import annotations

import math
import struct
import subprocess
import sys

import pytest

from core import ConfigError
from retrieval.index import Bm25Encoder, SparseVector, encode_documents, encode_query
from retrieval.index.sparse import DEFAULT_AVG_LEN


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """Reference MurmurHash3 (x86, 32-bit), to pin the term-id scheme independently."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h, tail_len = seed, len(data) % 4
    for (block,) in struct.iter_unpack("<I", data[: len(data) - tail_len]):
        k = (block * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
        h = ((((h << 13) | (h >> 19)) & mask) * 5 + 0xE6546B64) & mask
    k = int.from_bytes(data[len(data) - tail_len :], "little")
    if tail_len:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
    h ^= len(data)
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = ((h ^ (h >> shift)) * mult) & mask
    return h ^ (h >> 16)


def term_id(stem: str) -> int:
    signed = murmur3_32(stem.encode())
    return abs(signed - (1 << 32) if signed >= 1 << 31 else signed)


def bm25_tf(tf: int, doc_len: int, k: float = 1.2, b: float = 0.75) -> float:
    return tf * (k + 1) / (tf + k * (1 - b + b * doc_len / DEFAULT_AVG_LEN))


@pytest.mark.parametrize(
    ("text", "stems"),
    [
        ("fox", ["fox"]),
        ("Foxes", ["fox"]),
        ("Quick quarterly revenues", ["quick", "quarter", "revenu"]),
        ("the and of", []),
    ],
)
def test_term_ids_are_murmur3_of_lowercased_english_stems(text: str, stems: list[str]) -> None:
    assert encode_query(text).indices == sorted(term_id(s) for s in stems)


def test_query_vectors_weigh_each_distinct_term_once() -> None:
    vec = encode_query("revenue Revenue REVENUES grew")
    assert vec.indices == sorted([term_id("revenu"), term_id("grew")])
    assert vec.values == [1.0, 1.0]


def test_document_weights_follow_bm25_term_frequency_saturation() -> None:
    (once,) = encode_documents(["ledger entries"])
    assert once.values == pytest.approx([bm25_tf(1, 2)] * 2, rel=1e-6)
    (twice,) = encode_documents(["ledger ledger entries"])
    weights = dict(zip(twice.indices, twice.values, strict=True))
    assert weights[term_id("ledger")] == pytest.approx(bm25_tf(2, 3), rel=1e-6)
    assert weights[term_id("ledger")] > weights[term_id("entri")]
    # Longer documents weigh the same term frequency less.
    (long,) = encode_documents(["ledger " + " ".join(f"word{i}" for i in range(200))])
    assert dict(zip(long.indices, long.values, strict=True))[term_id("ledger")] < once.values[0]


def test_vectors_are_deterministic_across_processes() -> None:
    text = "Data center revenue grew 409% year over year — naïve café, 東京."
    here = encode_documents([text])[0]
    code = (
        "import core, json; from retrieval.index import encode_documents as e; "
        f"v = e([{text!r}])[0]; print(json.dumps([v.indices, v.values]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == f"[{here.indices}, {here.values}]".replace("'", '"')


def test_empty_and_stopword_texts_give_empty_vectors() -> None:
    assert encode_documents(["", "the of and"]) == [SparseVector([], []), SparseVector([], [])]
    assert encode_query("") == SparseVector([], [])


def test_encoder_parameters_are_validated_and_signed() -> None:
    with pytest.raises(ConfigError):
        Bm25Encoder(avg_len=0)
    with pytest.raises(ConfigError):
        Bm25Encoder(b=1.5)
    default, short = Bm25Encoder(), Bm25Encoder(avg_len=16)
    assert default.signature != short.signature
    assert "avg_len=64.0" in default.signature
    (a,) = default.encode_documents(["ledger entries today"])
    (b,) = short.encode_documents(["ledger entries today"])
    assert a.indices == b.indices
    assert all(x > y for x, y in zip(a.values, b.values, strict=True))
    assert all(math.isfinite(v) and v > 0 for v in a.values)
