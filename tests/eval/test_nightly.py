"""`deepwell eval` end to end on a tiny generated corpus with the extractive backend (no model).

Covers: dataset registration, runs through retrieval-only and answering systems
(ACL applied), results and report files, the history, accepting a baseline, and
the gate: a degraded configuration (nothing retrieved) makes `eval nightly` exit
non-zero naming the metrics that dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from eval.history import regressions
from tests.eval.corpus import build_index, write_questions


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval-corpus")
    build_index(root / "data")
    write_questions(root / "tiny.jsonl")
    return root


@pytest.fixture
def cli(clean_env: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    data = clean_env / "data"
    import shutil

    shutil.copytree(corpus / "data", data)
    env = {
        "DEEPWELL_DATA_DIR": str(data),
        "DEEPWELL_LLM__BACKEND": "extractive",
        "DEEPWELL_EVAL__DATA_DIR": str(clean_env / "no-shared-data"),
        "DEEPWELL_EVAL__DATASET": "tiny",
        "DEEPWELL_EVAL__SYSTEMS": '["hybrid", "lexical", "rag", "closed-book"]',
        "DEEPWELL_EVAL__BOOTSTRAP_SAMPLES": "200",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    done = runner.invoke(app, ["eval", "dataset", "register", "tiny", str(corpus / "tiny.jsonl")])
    assert done.exit_code == 0, done.output
    return runner


def _runs(data: Path) -> list[Path]:
    return sorted((data / "eval" / "runs").iterdir())


def test_run_writes_results_and_report(cli: CliRunner, clean_env: Path) -> None:
    listed = cli.invoke(app, ["eval", "dataset", "list"])
    assert "tiny" in listed.output
    assert "sec-10q" not in listed.output  # no shared data here
    done = cli.invoke(app, ["eval", "run", "--systems", "hybrid,dense,rag,closed-book"])
    assert done.exit_code == 0, done.output
    (folder,) = _runs(clean_env / "data")
    results = json.loads((folder / "results.json").read_text())
    summary = results["summary"]
    assert summary["hybrid"]["hit@5"]["mean"] == 1.0
    assert summary["rag"]["hit@5"]["mean"] == 1.0
    assert "hit@5" not in summary["closed-book"]
    assert summary["rag"]["figure_match"]["mean"] > summary["closed-book"]["figure_match"]["mean"]
    assert "semantic_similarity" in summary["rag"]
    assert "context_recall" in summary["rag"]  # a1 has a reference passage
    assert "string_presence" in summary["rag"]  # short references
    assert results["dataset"]["selected"] == 5
    text = (folder / "results.json").read_text()
    assert "9,999" not in text  # the chunk only user:ceo may read never reached a system
    html = (folder / "report.html").read_text()
    assert '<table class="comparison">' in html
    assert html.count("<svg") >= 3
    assert html.count('<details class="question">') == 5
    assert "Acme widget revenue was $4,210 million" in html  # contexts in the drill-down
    assert re.search(r"(src|href)=\"https?:", html) is None  # self-contained: nothing fetched


def test_quick_sample_is_stratified(
    cli: CliRunner, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPWELL_EVAL__QUICK_PER_TYPE", "1")
    done = cli.invoke(app, ["eval", "run", "--quick", "--systems", "lexical"])
    assert done.exit_code == 0, done.output
    (folder,) = _runs(clean_env / "data")
    results = json.loads((folder / "results.json").read_text())
    assert sorted(q["type"] for q in results["questions"]) == ["multi", "single", "table"]


def test_nightly_gate(cli: CliRunner, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = cli.invoke(app, ["eval", "nightly", "--full"])
    assert first.exit_code == 0, first.output
    assert "no accepted baseline yet" in first.output
    run_id = _runs(clean_env / "data")[0].name
    accepted = cli.invoke(app, ["eval", "accept", run_id])
    assert accepted.exit_code == 0, accepted.output

    same = cli.invoke(app, ["eval", "nightly", "--full"])
    assert same.exit_code == 0, same.output
    assert "no score dropped" in same.output

    monkeypatch.setenv("DEEPWELL_EVAL__RETRIEVE_LIMIT", "0")  # degraded: top-k 0
    worse = cli.invoke(app, ["eval", "nightly", "--full"])
    assert worse.exit_code == 1, worse.output
    assert f"dropped vs {run_id}" in worse.output
    for name in ("hybrid hit@5", "hybrid ndcg@10", "lexical mrr", "rag figure_match"):
        assert name in worse.output
    assert "closed-book" not in worse.output.split("dropped vs")[1]  # closed-book did not change

    history = cli.invoke(app, ["eval", "history"])
    assert history.output.count("tiny@") == 3


def test_regressions_respect_tolerances_and_direction() -> None:
    def est(mean: float) -> dict[str, float]:
        return {"mean": mean, "low": mean, "high": mean, "n": 10}

    base = {"rag": {"hit@5": est(0.8), "mrr": est(0.6), "no_answer": est(0.1), "gone": est(1.0)}}
    now = {"rag": {"hit@5": est(0.74), "mrr": est(0.58), "no_answer": est(0.3)}}
    found = regressions(now, base, tolerance=0.05, tolerances={"mrr": 0.01})
    assert [(r.metric, round(r.drop, 3)) for r in found] == [
        ("hit@5", 0.06),
        ("mrr", 0.02),
        ("no_answer", 0.2),  # lower is better: a rise is a drop
    ]
    assert "rag hit@5: 0.800 -> 0.740" in found[0].describe()
    assert regressions(base, base, tolerance=0.0) == []


def test_empty_corpus_says_what_to_run(
    clean_env: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPWELL_DATA_DIR", str(clean_env / "empty"))
    monkeypatch.setenv("DEEPWELL_LLM__BACKEND", "extractive")
    monkeypatch.setenv("DEEPWELL_EVAL__DATA_DIR", str(clean_env / "no-shared-data"))
    runner = CliRunner()
    path = corpus / "tiny.jsonl"
    assert runner.invoke(app, ["eval", "dataset", "register", "tiny", str(path)]).exit_code == 0
    done = runner.invoke(app, ["eval", "run", "--dataset", "tiny", "--systems", "hybrid"])
    assert done.exit_code == 1
    message = " ".join(done.output.split())
    assert "can read no document" in message
    assert "deepwell ingest DOCS --acl '*'" in message  # no docs folder next to tiny.jsonl
    assert "--ingest-missing" in message
    closed = runner.invoke(app, ["eval", "run", "--dataset", "tiny", "--systems", "closed-book"])
    assert closed.exit_code == 0, closed.output  # closed-book needs no corpus
