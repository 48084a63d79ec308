"""The answer metrics of :class:`eval.scoring.AnswerScorer` on hand-computed cases.

The ragas metrics run for real; only the embedder behind semantic similarity is
a table of fixed vectors, so the expected cosine can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from eval.datasets import EvalItem
from eval.metrics import percentile
from eval.scoring import AnswerScorer, clean_reference


class _Vectors:
    """An embedder that maps known texts to fixed vectors (the rest to a third axis)."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def _one(self, text: str) -> list[float]:
        return self.table.get(text, [0.0, 0.0, 1.0])

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


REFERENCE = "Total revenue was 5 million dollars"
ANSWER = "Revenue was 5 million"
A = "Net sales of iPhone were 39,669 million dollars in the third quarter of 2023."
B = "Operating expenses grew because of higher research and development headcount."
X = "The company leases office space in Cupertino under long-term agreements."


@pytest.fixture(scope="module")
def scorer() -> AnswerScorer:
    table = {REFERENCE: [1.0, 0.0, 0.0], ANSWER: [0.6, 0.8, 0.0]}
    return AnswerScorer(_Vectors(table))  # type: ignore[arg-type]


def _item(reference: str = REFERENCE, passages: Sequence[str] = ()) -> EvalItem:
    return EvalItem("q1", "What was total revenue?", reference, passages=tuple(passages))


def test_rouge_l_is_the_lcs_f_measure(scorer: AnswerScorer) -> None:
    # LCS "revenue was 5 million" = 4 tokens; precision 4/4, recall 4/6 -> F = 2*1*(2/3)/(5/3).
    scores = scorer.score(_item(), ANSWER, [])
    assert scores["rouge_l"] == pytest.approx(0.8)
    assert scorer.score(_item(), "Nothing in common here", [])["rouge_l"] == 0.0


def test_semantic_similarity_is_the_cosine(scorer: AnswerScorer) -> None:
    # (1, 0, 0) . (0.6, 0.8, 0) = 0.6, both unit length.
    assert scorer.score(_item(), ANSWER, [])["semantic_similarity"] == pytest.approx(0.6)
    assert scorer.score(_item(), REFERENCE, [])["semantic_similarity"] == pytest.approx(1.0)


def test_string_presence_only_for_short_references(scorer: AnswerScorer) -> None:
    short = _item(reference="$4,210 million")
    assert scorer.score(short, "It was $4,210 million [1].", [])["string_presence"] == 1.0
    assert scorer.score(short, "It was $4,211 million [1].", [])["string_presence"] == 0.0
    long = _item(reference="word " * 9)
    assert "string_presence" not in scorer.score(long, "word", [])


def test_figure_metrics_and_sec_trailer(scorer: AnswerScorer) -> None:
    ref = "Sales were $23,198 million and $4,980 million.\nSOURCE(S): 2023 Q1 X.pdf"
    assert clean_reference(ref) == "Sales were $23,198 million and $4,980 million."
    scores = scorer.score(_item(reference=ref), "Sales were $23.198 billion [1].", [])
    assert scores["figure_match"] == 1.0  # one reference figure is stated (across units)
    assert scores["figure_recall"] == 0.5  # one of two
    no_figures = scorer.score(_item(reference="Demand for phones rose."), "It rose.", [])
    assert "figure_match" not in no_figures
    assert "figure_recall" not in no_figures


def test_context_recall_counts_reference_passages_found(scorer: AnswerScorer) -> None:
    item = _item(passages=[A, B])
    # A is retrieved verbatim (similarity 1), B by nothing like it: 1 of 2.
    assert scorer.score(item, ANSWER, [X, A])["context_recall"] == pytest.approx(0.5)
    assert scorer.score(item, ANSWER, [B, A])["context_recall"] == pytest.approx(1.0)


def test_context_precision_is_average_precision_over_ranks(scorer: AnswerScorer) -> None:
    item = _item(passages=[A])
    # relevant at rank 1 only: AP = (1/1) / 1 = 1; at rank 2 only: (1/2) / 1 = 0.5.
    assert scorer.score(item, ANSWER, [A, X])["context_precision"] == pytest.approx(1.0)
    assert scorer.score(item, ANSWER, [X, A])["context_precision"] == pytest.approx(0.5)
    # ranks 1 and 3 relevant: (1/1 + 2/3) / 2.
    two = _item(passages=[A, B])
    assert scorer.score(two, ANSWER, [A, X, B])["context_precision"] == pytest.approx(5 / 6)


def test_context_metrics_need_passages_and_contexts(scorer: AnswerScorer) -> None:
    assert "context_recall" not in scorer.score(_item(), ANSWER, [A])  # no reference passages
    no_contexts = scorer.score(_item(passages=[A]), ANSWER, [])  # closed-book
    assert "context_recall" not in no_contexts
    assert "context_precision" not in no_contexts


def test_no_judge_means_no_judged_metrics(scorer: AnswerScorer) -> None:
    scores = scorer.score(_item(passages=[A]), ANSWER, [A])
    assert not {"faithfulness", "answer_relevancy", "factual_correctness"} & scores.keys()
    assert "faithfulness" not in scorer.metric_names


def test_percentile_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 1.0) == 5.0
    assert percentile(values, 0.95) == 5.0  # rank round(0.95 * 4) = 4
    assert percentile([], 0.5) == 0.0
