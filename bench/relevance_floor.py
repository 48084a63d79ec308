"""Where to set ``llm.min_relevance``: best dense similarity of SEC vs off-topic questions.

Run from the repository root on an ingested data dir (``bench.retrieval --ingest-into DIR``
makes one)::

    .venv/bin/python -m bench.relevance_floor --data-dir DIR

Every question is searched as the answer path searches it (the settings' hybrid
search, ``search.top_k`` hits); its relevance is the best dense cosine similarity among
the retrieved chunks, which is what the answer path compares with ``llm.min_relevance``.
Printed: the distribution of that score over the 195 SEC 10-Q questions and over 20
questions the filings cannot answer (cooking, sport, travel, ...), and for candidate
floors how many SEC questions would lose their context (answered "not found" without a
model call) and how many off-topic questions would be spared a model call.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import core  # noqa: F401  (first: telemetry off before third-party imports)
from bench.retrieval import READER, load_questions, open_deepwell
from core import Settings, configure_logging
from core.models import configured_embedding
from eval.metrics import percentile
from retrieval.answer import relevance
from retrieval.embedding import make_embedder
from retrieval.search import Searcher

#: Questions no SEC 10-Q filing answers, some with finance-sounding words on purpose.
OFF_TOPIC = [
    "How long should I knead bread dough by hand?",
    "What is a good substitute for buttermilk in pancakes?",
    "How do you make a classic French omelette?",
    "At what temperature should I roast a whole chicken?",
    "Who won the 2018 FIFA World Cup final?",
    "How many players are on the field in an American football team?",
    "What is the offside rule in soccer?",
    "Which club has won the most UEFA Champions League titles?",
    "How do I get from Paris to Lyon by train?",
    "What is the best time of year to visit Kyoto?",
    "How tall is Mount Kilimanjaro?",
    "What is the capital of Australia?",
    "How often should I water a fiddle-leaf fig?",
    "How do I fix a leaking kitchen faucet?",
    "What are the symptoms of the common cold?",
    "Who wrote the novel Pride and Prejudice?",
    "How many moons does Jupiter have?",
    "How do I train my puppy to sit?",
    "What is the rule for a touchdown in American football?",
    "How much sugar goes into a lemon meringue pie?",
]

#: In-domain questions as people type them: short, no issuer or filing named. Not part of
#: the SEC set; printed to show the margin a floor leaves for terse questions.
TERSE = [
    "What was the revenue?",
    "gross margin",
    "How much cash does the company hold?",
    "What are the main risk factors?",
    "iPhone sales",
    "data center revenue",
    "How much was spent on research and development?",
    "share repurchases",
    "effective tax rate",
    "operating income last quarter",
]

FLOORS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def scores(searcher: Searcher, questions: Sequence[str]) -> list[float]:
    out = []
    for q in questions:
        best = relevance(searcher.search(q, READER).chunks)
        out.append(-1.0 if best is None else best)
    return out


def describe(name: str, values: Sequence[float]) -> str:
    ordered = sorted(values)
    return (
        f"{name:<22} n={len(values):>3}  min {ordered[0]:.3f}  p5 {percentile(ordered, 0.05):.3f}  "
        f"p50 {percentile(ordered, 0.5):.3f}  p95 {percentile(ordered, 0.95):.3f}  "
        f"max {ordered[-1]:.3f}"
    )


def main() -> None:
    settings = Settings()
    sec = settings.eval.data_dir / "sec-10q"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="An ingested data dir (read).")
    ap.add_argument("--docs", type=Path, default=sec / "docs")
    ap.add_argument("--questions", type=Path, default=sec / "qna_data.csv")
    args = ap.parse_args()
    configure_logging("warning")
    questions = [q.text for q in load_questions(args.questions, args.docs)]
    embedder = make_embedder(settings, configured_embedding(settings))
    embedder.warm_up()
    work = Path(tempfile.mkdtemp(prefix="deepwell-bench-floor-"))
    try:
        opened = argparse.Namespace(data_dir=args.data_dir, ingest_into=None, pdf_parser=None)
        index = open_deepwell(opened, work, embedder)
        searcher = Searcher(index, embedder, settings.search)
        searcher.search("warm-up query", READER)
        sec_scores = scores(searcher, questions)
        off_scores = scores(searcher, OFF_TOPIC)
        terse_scores = scores(searcher, TERSE)
        index.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"best dense cosine among the retrieved chunks (search.mode={settings.search.mode}, "
        f"fusion={settings.search.fusion}, top_k={settings.search.top_k}, "
        f"embedder {settings.embedding.model})"
    )
    print(describe("SEC 10-Q questions", sec_scores))
    print(describe("terse SEC questions", terse_scores))
    print(describe("off-topic questions", off_scores))
    print(
        f"\n{'floor':>6}  {'SEC questions losing context':>28}  {'terse losing':>12}  "
        f"{'off-topic spared the model':>26}"
    )
    for floor in FLOORS:
        lost = sum(s < floor for s in sec_scores)
        terse = sum(s < floor for s in terse_scores)
        spared = sum(s < floor for s in off_scores)
        print(
            f"{floor:>6.2f}  {lost:>24}/{len(sec_scores)}  {terse:>9}/{len(terse_scores)}  "
            f"{spared:>23}/{len(off_scores)}"
        )
    print(f"\nsettings' llm.min_relevance: {settings.llm.min_relevance}")
    lowest = sorted(zip(sec_scores, questions, strict=True))[:5]
    print("lowest SEC questions:", *(f"  {s:.3f}  {q}" for s, q in lowest), sep="\n")
    print(
        "terse SEC questions:",
        *(f"  {s:.3f}  {q}" for s, q in zip(terse_scores, TERSE, strict=True)),
        sep="\n",
    )
    highest = sorted(zip(off_scores, OFF_TOPIC, strict=True))[-5:]
    print("highest off-topic questions:", *(f"  {s:.3f}  {q}" for s, q in highest), sep="\n")


if __name__ == "__main__":
    sys.exit(main())
