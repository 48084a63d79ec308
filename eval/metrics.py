"""Metric functions over plain data: retrieval ranks, reference figures, bootstrap intervals.

Retrieval is scored at the document level against the reference sources (what the
SEC questions give). ``ranked`` is the file name of each retrieved chunk, best
first (a document may appear several times); ``relevant`` the reference documents.

- hit@k: some chunk among the first k is from a reference document;
- recall@k: the share of the reference documents found among the first k chunks;
- MRR: 1 / rank of the first chunk from a reference document (0 when none);
- nDCG@k: binary gain for the *first* chunk of each reference document (a document
  counts once), discounted by log2(rank + 1), over the ideal of min(|relevant|, k).

The ragas metrics (answers against references) live in :mod:`eval.scoring`.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def hit_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 when a reference document is among the first ``k`` results, else 0.0."""
    return float(any(name in relevant for name in ranked[:k]))


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """The share of ``relevant`` found among the first ``k`` results (0.0 when none are)."""
    if not relevant:
        return 0.0
    return len(set(relevant) & set(ranked[:k])) / len(set(relevant))


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """1 / the rank of the first relevant result; 0.0 when there is none."""
    for rank, name in enumerate(ranked, start=1):
        if name in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """Binary nDCG@k with each relevant document counted at its first rank only."""
    wanted = set(relevant)
    if not wanted or k <= 0:
        return 0.0
    seen: set[str] = set()
    dcg = 0.0
    for rank, name in enumerate(ranked[:k], start=1):
        if name in wanted and name not in seen:
            seen.add(name)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


def retrieval_scores(
    ranked: Sequence[str], relevant: Collection[str], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """hit@k and recall@k for each k, MRR and nDCG@10 of one question."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"hit@{k}"] = hit_at_k(ranked, relevant, k)
        out[f"recall@{k}"] = recall_at_k(ranked, relevant, k)
    out["mrr"] = reciprocal_rank(ranked, relevant)
    out["ndcg@10"] = ndcg_at_k(ranked, relevant, 10)
    return out


# --- reference figures -------------------------------------------------------------------


def figures(text: str) -> set[str]:
    """The significant digits of each figure of ``text`` (years and one-digit numbers left out).

    ``$23,198 million`` and ``$23.198 billion`` both give ``23198``.
    """
    out = set()
    for raw in _NUMBER.findall(text):
        plain = raw.replace(",", "").rstrip(".")
        if re.fullmatch(r"(19|20)\d\d", plain):
            continue
        digits = plain.replace(".", "").strip("0")
        if len(digits) >= 2:
            out.add(digits)
    return out


def reference_figures(reference: str) -> set[str]:
    """The figures of a reference answer, its ``SOURCE(S):`` trailer left out."""
    return figures(reference.partition("SOURCE(S)")[0])


def figure_match(answer: str, reference: str) -> bool:
    """Whether ``answer`` states one of the reference's figures (to its 3 leading digits)."""
    ref = reference_figures(reference)
    got = figures(answer)
    return any(
        a.startswith(r) or r.startswith(a) for r in ref for a in got if min(len(a), len(r)) >= 3
    )


def figure_recall(answer: str, reference: str) -> float | None:
    """The share of the reference's figures the answer states; None when it has none."""
    ref = {r for r in reference_figures(reference) if len(r) >= 3}
    if not ref:
        return None
    got = figures(answer)
    found = sum(any(a.startswith(r) or r.startswith(a) for a in got if len(a) >= 3) for r in ref)
    return found / len(ref)


# --- aggregation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A mean over questions with a bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_ci(
    values: Sequence[float], *, samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap interval (deterministic for a seed).

    Raises ValueError on an empty sequence.
    """
    if not values:
        raise ValueError("bootstrap_ci needs at least one value")
    n = len(values)
    mean = statistics.fmean(values)
    if n == 1 or min(values) == max(values):
        return Estimate(mean, mean, mean, n)
    rng = random.Random(seed)  # noqa: S311  (resampling, not a secret)
    means = sorted(statistics.fmean(rng.choices(values, k=n)) for _ in range(samples))
    tail = (1.0 - confidence) / 2
    low = means[max(0, math.floor(tail * samples))]
    high = means[min(samples - 1, math.ceil((1.0 - tail) * samples) - 1)]
    return Estimate(mean, low, high, n)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
