"""The reranker interface and the cross-encoder implementation.

No cross-encoder weights ship here, so the real-model test loads the packaged
MiniLM embedding model as a cross-encoder (sentence-transformers adds an untrained
one-score head): its scores mean nothing, but loading offline, scoring every pair
and reordering by score are the code paths a real reranker takes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core import Chunk, ConfigError, ModelError, Settings, configured_embedding
from retrieval.rerank import CrossEncoderReranker, Reranker, rerank_input
from retrieval.types import RetrievedChunk


def chunk(i: int, text: str) -> RetrievedChunk:
    record = Chunk(
        doc_id="d",
        chunk_index=i,
        text=text,
        title="2023 Q3 AAPL",
        source_uri="file:///d.pdf",
        section=["Item 2", "Net sales"],
    )
    return RetrievedChunk(id=f"c{i}", score=0.0, record=record)


def test_missing_model_path_is_a_clear_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such directory.*none ships"):
        CrossEncoderReranker(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        CrossEncoderReranker(tmp_path / "empty")


def test_a_broken_model_directory_fails_at_warm_up(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    reranker = CrossEncoderReranker(tmp_path)
    with pytest.raises(ModelError, match="cannot load cross-encoder"):
        reranker.warm_up()


def test_rerank_input_carries_title_and_section() -> None:
    assert (
        rerank_input(chunk(0, "Revenue rose."))
        == "2023 Q3 AAPL > Item 2 > Net sales\nRevenue rose."
    )


def test_cross_encoder_scores_and_reorders_every_candidate() -> None:
    model_dir = configured_embedding(Settings()).path
    reranker = CrossEncoderReranker(model_dir, max_length=64)
    assert isinstance(reranker, Reranker)
    chunks = [chunk(i, t) for i, t in enumerate(["iPhone net sales", "lease terms", "tax rate"])]
    out = reranker.rerank("What were iPhone net sales?", chunks)
    assert sorted(c.id for c in out) == ["c0", "c1", "c2"]
    scores = [c.score for c in out]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == 3  # real, distinct scores, not the zeros they came with
    assert reranker.rerank("anything", []) == []
