"""Metric functions on hand-made cases, and the bootstrap interval."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    bootstrap_ci,
    figure_match,
    figure_recall,
    figures,
    hit_at_k,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    retrieval_scores,
)

RANKED = ["x", "a", "x", "b", "a", "y"]
RELEVANT = {"a", "b", "c"}


def test_hit_recall_mrr() -> None:
    assert hit_at_k(RANKED, RELEVANT, 1) == 0.0
    assert hit_at_k(RANKED, RELEVANT, 2) == 1.0
    assert recall_at_k(RANKED, RELEVANT, 2) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, RELEVANT, 10) == pytest.approx(2 / 3)
    assert reciprocal_rank(RANKED, RELEVANT) == 0.5
    assert reciprocal_rank(["x"], RELEVANT) == 0.0
    assert recall_at_k(RANKED, set(), 5) == 0.0


def test_ndcg_counts_each_document_once() -> None:
    # gains at ranks 2 (a) and 4 (b); a again at rank 5 counts nothing; ideal: 3 relevant.
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKED, RELEVANT, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["a", "b", "c"], RELEVANT, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "a", "a"], {"a"}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], {"a"}, 1) == 0.0
    assert ndcg_at_k(["x", "a"], set(), 10) == 0.0


def test_retrieval_scores_keys() -> None:
    scores = retrieval_scores(RANKED, RELEVANT, (1, 5))
    assert scores == {
        "hit@1": 0.0,
        "recall@1": 0.0,
        "hit@5": 1.0,
        "recall@5": pytest.approx(2 / 3),
        "mrr": 0.5,
        "ndcg@10": pytest.approx(ndcg_at_k(RANKED, RELEVANT, 10)),
    }


def test_figures_match_across_units() -> None:
    assert figures("Net sales were $23,198 million in 2023, up 7%.") == {"23198"}
    assert figure_match("It was $23.198 billion [1].", "Sales: $23,198 million.")
    assert not figure_match("It was $24 billion.", "Sales: $23,198 million.")
    ref = "Revenue $4,210 million and $4,980 million.\nSOURCE(S): 2023 Q1 X.pdf 1,234"
    assert figure_recall("Revenue was $4,210 million.", ref) == 0.5
    assert figure_recall("anything", "No figures here.") is None


def test_bootstrap_ci() -> None:
    values = [0.0, 1.0] * 50
    est = bootstrap_ci(values, samples=2000, seed=1)
    assert est.mean == 0.5
    assert est.n == 100
    assert 0.38 < est.low < 0.5 < est.high < 0.62  # ~±1.96 * 0.05
    assert bootstrap_ci(values, samples=2000, seed=1) == est  # deterministic
    assert bootstrap_ci([0.7, 0.7, 0.7]).low == pytest.approx(0.7)
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci([])
