"""Cited answers on SEC 10-Q questions, per answer backend: quality and speed side by side.

Run from the repository root on an ingested SEC 10-Q data directory::

    .venv/bin/python -m bench.answers --data-dir DIR [--models NAME ...] [--questions 10]

Every system answers the same questions from the same retrieved context (hybrid
search as one reader, ``search.top_k`` passages). The baseline is the
``extractive`` backend (no model: the best cited sentences), measured in the same
run. Per system:

- in context: a reference figure is in the passages the answer was given (so a miss
  there is retrieval's, not the reader's);
- figure match: the answer states a figure of the reference answer (digits compared
  without separators, so ``$23,198 million`` matches ``$23.198 billion``);
- cited: the answer cites at least one passage with a valid ``[n]``;
- no answer: the answer is the fixed "do not contain the answer" sentence;
- unsupported: the answer states a figure found nowhere in its context;
- time to first token, decode tokens/s and total seconds per answer (medians), and
  the model's load time.

The questions are the single-chunk questions whose reference answer states a
figure, taken evenly across the set (deterministic), so the figure check means
something. This is how the default local model was chosen (see README).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import core  # noqa: F401  (first: telemetry off before third-party imports)
from core import Principal, Settings, configure_logging
from core.models import CATALOG
from eval.datasets import load_sec_10q
from eval.metrics import figure_match, reference_figures
from retrieval.search import Searcher, SearchResult

READER = Principal(user="bench", tenant="default")


@dataclass(frozen=True)
class Question:
    qid: int
    text: str
    reference: str


@dataclass
class Tally:
    name: str
    load_s: float = 0.0
    rows: list[dict[str, object]] = field(default_factory=list)


def load_questions(path: Path, n: int) -> list[Question]:
    """``n`` single-chunk questions with a figure in the reference, spread evenly over the file."""
    pool = [
        Question(i, item.question, item.reference)
        for i, item in enumerate(load_sec_10q(path).items)
        if item.question_type.startswith("Single-Doc Single-Chunk")
        and reference_figures(item.reference)
    ]
    step = max(1, len(pool) // n)
    return pool[::step][:n]


class _Recording:
    """A searcher that remembers the texts of its last result (what the context was built from)."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self.texts: dict[str, str] = {}

    def search(self, query: str, principal: Principal, **kwargs: Any) -> SearchResult:
        result = self.searcher.search(query, principal, **kwargs)
        self.texts = {c.id: c.text for c in result.chunks}
        return result


def run_system(settings: Settings, questions: list[Question], name: str) -> Tally:
    from api.services import Services
    from retrieval.answer import Answerer
    from retrieval.llm import get_llm

    tally = Tally(name)
    services = Services.start(settings, with_llm=settings.llm.backend == "local")
    llm = get_llm(settings)
    try:
        started = time.perf_counter()
        llm.warm_up()
        tally.load_s = time.perf_counter() - started
        searcher = _Recording(Searcher.from_settings(settings, services.index, services.embedder))
        answerer = Answerer(searcher, llm, settings)
        for q in questions:
            r = answerer.answer(q.text, READER)
            packed = " ".join(searcher.texts.get(c.chunk_id, "") for c in r.context)
            tally.rows.append(
                {
                    "qid": q.qid,
                    "answer": r.answer,
                    "match": figure_match(r.answer, q.reference),
                    "in_context": figure_match(packed, q.reference),
                    "cited": bool(r.citations),
                    "no_answer": r.no_answer,
                    "unsupported": bool(r.unsupported_numbers),
                    "ttft_s": (r.timings.get("ttft_ms") or 0.0) / 1000,
                    "total_s": r.timings["total_ms"] / 1000,
                    "tok_s": (r.tokens_per_s or 0.0) if r.timings.get("ttft_ms") else 0.0,
                    "prompt_tokens": r.prompt_tokens,
                }
            )
            print(f"  {name} q{q.qid}: {r.answer[:110]!r}", flush=True)
    finally:
        llm.close()
        services.close()
    return tally


def _median(tally: Tally, key: str) -> float:
    values = [float(str(r[key])) for r in tally.rows]
    return statistics.median(values) if values else 0.0


def _count(tally: Tally, key: str) -> str:
    return f"{sum(bool(r[key]) for r in tally.rows)}/{len(tally.rows)}"


def main() -> None:
    sec = Settings().eval.data_dir / "sec-10q"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="An ingested SEC 10-Q data dir.")
    ap.add_argument("--questions-csv", type=Path, default=sec / "qna_data.csv")
    ap.add_argument("--questions", type=int, default=10, help="How many questions.")
    ap.add_argument(
        "--models",
        nargs="+",
        default=[name for name, spec in CATALOG.items() if spec.kind == "llm"],
        help="Local models to compare (names of `deepwell models list`).",
    )
    args = ap.parse_args()
    configure_logging("warning")
    questions = load_questions(args.questions_csv, args.questions)
    print(f"{len(questions)} questions: {[q.qid for q in questions]}")

    tallies = []
    systems = [("extractive", None), *(("local", m) for m in args.models)]
    for backend, model in systems:
        # a benchmark measures slowness rather than failing on it: no answer time limit
        llm = {"backend": backend, "timeout_s": 3600} | ({"model": model} if model else {})
        settings = Settings(data_dir=args.data_dir, llm=llm)
        tallies.append(run_system(settings, questions, model or backend))

    head = (
        f"{'system':30} {'in ctx':>7} {'figure':>7} {'cited':>6} {'no ans':>6} {'unsup':>6} "
        f"{'ttft s':>7} {'tok/s':>6} {'total s':>8} {'load s':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for t in tallies:
        print(
            f"{t.name:30} {_count(t, 'in_context'):>7} {_count(t, 'match'):>7} "
            f"{_count(t, 'cited'):>6} "
            f"{_count(t, 'no_answer'):>6} {_count(t, 'unsupported'):>6} "
            f"{_median(t, 'ttft_s'):7.2f} {_median(t, 'tok_s'):6.1f} "
            f"{_median(t, 'total_s'):8.2f} {t.load_s:7.2f}"
        )
    print(
        f"(medians over {len(questions)} questions; prompt tokens median "
        f"{_median(tallies[-1], 'prompt_tokens'):.0f})"
    )


if __name__ == "__main__":
    main()
