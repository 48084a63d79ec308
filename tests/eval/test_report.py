"""The HTML report and the CLI tables of a fake run: structure, self-containment, 80 columns."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from eval.report import best_systems, render_report
from eval.results import RunResult
from eval.run import summarize

SYSTEMS = ["hybrid", "closed-book", "rag", "finetuned", "finetuned+rag"]


def fake_run(run_id: str = "20260101-000000-aaaaaa", shift: float = 0.0) -> RunResult:
    questions = []
    for n, qtype in enumerate(["single", "multi", "table"] * 2):
        outputs = {}
        for s in SYSTEMS:
            metrics: dict[str, float] = {"latency_ms": 10.0 + n}
            if s in ("hybrid", "rag", "finetuned+rag"):
                metrics |= {"hit@5": float(n % 2), "mrr": 0.5, "ndcg@10": 0.4 + shift}
            if s != "hybrid":
                base = 0.3 if s.startswith("finetuned") else 0.6
                metrics |= {"semantic_similarity": base + shift, "figure_match": 0.0}
                metrics |= {"prompt_tokens": 50.0, "completion_tokens": 20.0, "no_answer": 0.0}
            outputs[s] = {
                "answer": None if s == "hybrid" else f"<b>answer {n}</b> by {s}",
                "ranked_docs": ["a.pdf"],
                "contexts": [f"context {n}"],
                "citations": [],
                "error": None,
                "metrics": metrics,
            }
        questions.append(
            {
                "qid": f"q{n}",
                "question": f"Question {n}?",
                "type": qtype,
                "reference": "ref",
                "sources": ["*a*"],
                "reference_docs": ["a.pdf"],
                "outputs": outputs,
            }
        )
    result = RunResult(
        run_id=run_id,
        created_at="2026-01-01T00:00:00+00:00",
        dataset={"name": "fake", "version": "v1", "items": 6, "selected": 6, "quick": True},
        systems=SYSTEMS,
        config={"eval": {"model": "m"}, "llm_backend": "local"},
        config_hash="abc",
        git_rev="rev",
        questions=questions,
        stage_seconds={"finetune": 12.5, "total": 30.0},
        extra={
            "finetune": {"key": "k", "cached": False, "seconds": 12.5, "chunks": 4, "qa_pairs": 8}
            | {"steps": 6, "first_loss": 3.0, "last_loss": 1.5}
        },
    )
    summarize(result, samples=100)
    return result


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_report_structure() -> None:
    run = fake_run()
    earlier = [
        {
            "run_id": "20251231-000000-bbbbbb",
            "created_at": "x",
            "summary": fake_run(shift=-0.1).summary,
        }
        | {"accepted": True}
    ]
    html = render_report(run, earlier)
    parser = _Structure()
    parser.feed(html)
    tags = parser.tags
    tables = [a.get("class") for t, a in tags if t == "table"]
    assert tables[:2] == ["comparison", "bytype"]
    comparison = html.split('<table class="comparison">')[1].split("</table>")[0]
    header = comparison.split("</tr>")[0]
    assert re.findall(r"<th>([^<]+)</th>", header) == SYSTEMS  # systems across
    for group in ("retrieval (document level)", "answers", "cost per question"):
        assert group in comparison
    assert 'class="best"' in comparison  # closed-book / rag beat the fine-tuned on similarity
    figures = [a for t, a in tags if t == "figure"]
    assert len(figures) >= 5  # two families, key metrics by type, the trend
    assert "trend over runs" in html
    assert html.count("<svg") == len(figures)
    assert html.count('<details class="question">') == 6
    assert "&lt;b&gt;answer 0&lt;/b&gt;" in html  # answers are escaped
    assert "trained in 12 s" in html
    assert re.search(r"(src|href)=\"https?:", html) is None  # self-contained


def test_best_systems_respects_direction() -> None:
    best = best_systems(fake_run())
    assert best["semantic_similarity"] == {"closed-book", "rag"}
    assert "hit@5" not in best  # every retrieving system shares the retriever: no best
    assert "no_answer" not in best
