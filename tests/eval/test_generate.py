"""Synthetic test sets: quality filter, de-duplication, anchoring, writers, the CLI end to end."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from eval.datasets import load_jsonl
from eval.generate import (
    ExtractiveWriter,
    Kind,
    LLMWriter,
    SourceChunk,
    anchor,
    generate,
    is_duplicate,
    is_table,
    parse_reply,
    reject_reason,
    write_jsonl,
)
from tests.eval.corpus import build_index
from tests.retrieval.answer_testkit import ScriptedLLM

FILLER = " The company also discussed other matters of its business in the period."
TEXT_A = "Acme widget revenue was $4,210 million in the first quarter." + FILLER * 3
TEXT_B = "Acme operating income increased to $1,020 million in the first quarter." + FILLER * 3
TEXT_C = "Bolt cloud revenue was $870 million, up 12% from a year ago." + FILLER * 3
TABLE = "Net sales 81,797 82,959 Cost of sales 45,384 47,074 Gross margin 36,413 35,885 " * 3
CHUNKS = [
    SourceChunk("a1", "d-acme", "2023 Q1 ACME.pdf", TEXT_A, 0, 3),
    SourceChunk("a2", "d-acme", "2023 Q1 ACME.pdf", TEXT_B, 1, 4),
    SourceChunk("b1", "d-bolt", "2023 Q1 BOLT.pdf", TEXT_C, 0, 2),
    SourceChunk("t1", "d-acme", "2023 Q1 ACME.pdf", TABLE, 2, 5),
]


@pytest.mark.parametrize(
    ("question", "answer", "reason"),
    [
        ("What was Acme widget revenue in the first quarter?", "$4,210 million", None),
        ("What was Acme widget revenue in the first quarter?", "$4,999 million", "figure"),
        ("What was Acme widget revenue?", "Zebra unicorns flew north yesterday", "not in source"),
        ("Acme widget revenue", "$4,210 million", "malformed question"),
        ("What was Acme widget revenue in the first quarter?", "", "malformed answer"),
        (
            "Was Acme widget revenue $4,210 million in the first quarter?",
            "Acme widget revenue was $4,210 million",
            None,  # shorter than the question but not contained verbatim
        ),
        (
            "Is it true that acme widget revenue was $4,210 million?",
            "widget revenue was $4,210 million",
            "gives",
        ),
    ],
)
def test_reject_reason(question: str, answer: str, reason: str | None) -> None:
    found = reject_reason(question, answer, [TEXT_A])
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found


def test_duplicates_by_ngrams_and_by_similarity() -> None:
    kept = ["What was Acme widget revenue in the first quarter of 2023?"]
    assert is_duplicate("What was Acme widget revenue in the first quarter of 2023 ?", kept)
    assert not is_duplicate("How many employees did Acme have at the end of 2023?", kept)
    always_similar = lambda q, ks: 0.99  # noqa: E731
    assert is_duplicate("Something else entirely?", kept, similar=always_similar)
    assert not is_duplicate("Something else entirely?", [], similar=always_similar)


def test_anchor_names_the_documents() -> None:
    assert anchor("What was revenue?", ["2023 Q1 ACME.pdf"]) == (
        "In the 2023 Q1 ACME filing, what was revenue?"
    )
    named = "What was ACME revenue in 2023 Q1?"
    assert anchor(named, ["2023 Q1 ACME.pdf"]) == named
    assert anchor("How did revenue compare?", ["2023 Q1 ACME.pdf", "2023 Q1 BOLT.pdf"]).startswith(
        "In the 2023 Q1 ACME and 2023 Q1 BOLT filings, how"
    )


def test_table_detection_falls_back_to_figure_density() -> None:
    assert is_table(CHUNKS[3])
    assert not is_table(CHUNKS[0])
    assert is_table(SourceChunk("x", "d", "f.pdf", "short", element_types=("Table",)))


def test_parse_reply() -> None:
    assert parse_reply("Sure!\nQuestion: What was X?\nAnswer: 42 units\nMore text") == (
        "What was X?",
        "42 units",
    )
    assert parse_reply("**Question:** What?\n**Answer:** yes") == ("What?", "yes")
    assert parse_reply("no structure here") is None
    assert parse_reply("What was X in 2023?\nA: 42 units") == ("What was X in 2023?", "42 units")
    assert parse_reply("What was X?") is None  # no answer line


def test_extractive_generation_covers_kinds_and_keeps_sources(tmp_path: Path) -> None:
    report = generate(CHUNKS, ExtractiveWriter(), 6, seed=1)
    kinds = {i.kind for i in report.items}
    assert kinds == {"single-hop", "multi-hop", "table"}
    for item in report.items:
        assert reject_reason(item.question, item.answer, item.passages) is None
        assert set(item.chunk_ids) <= {c.id for c in CHUNKS}
        assert len(item.chunk_ids) == (2 if item.kind == "multi-hop" else 1)
        assert item.doc_ids
        assert item.pages
    questions = [i.question for i in report.items]
    assert len(set(questions)) == len(questions)
    assert generate(CHUNKS, ExtractiveWriter(), 6, seed=1).items == report.items  # deterministic

    path = write_jsonl(report.items, tmp_path / "synth.jsonl")
    dataset = load_jsonl(path, "synth")
    assert len(dataset.items) == len(report.items)
    first = dataset.items[0]
    assert first.passages
    assert first.sources
    assert first.matches(report.items[0].docs[0])
    raw = json.loads(path.read_text().splitlines()[0])
    assert raw["chunk_ids"] == list(report.items[0].chunk_ids)
    assert raw["doc_ids"]


def test_llm_writer_output_is_filtered() -> None:
    replies = [
        "Question: What was Acme widget revenue in the first quarter?\nAnswer: $4,210 million",
        "Question: What was Acme widget revenue in the first quarter?\nAnswer: $4,210 million",
        "Question: What was the revenue?\nAnswer: $9,999 million",  # not in the source
        "I cannot do that.",
    ] * 3

    class Writer(LLMWriter):
        def write(self, kind: Kind, chunks: Sequence[SourceChunk]) -> tuple[str, str] | None:
            assert kind == "single-hop"
            return super().write(kind, chunks[:1])

    llm = ScriptedLLM(replies)
    report = generate(CHUNKS[:1], Writer(llm), 3, kinds=("single-hop",), max_attempts=4)
    assert [i.question for i in report.items] == [
        "In the 2023 Q1 ACME filing, what was Acme widget revenue in the first quarter?"
    ]
    assert report.rejected == {"duplicate": 1, "figure not in source": 1, "writer gave nothing": 1}
    system, user = llm.prompts[0]
    assert "Question:" in system.content
    assert "Excerpt 1 (from the 2023 Q1 ACME filing)" in user.content


def test_cli_generate_registers_a_dataset(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = clean_env / "data"
    build_index(data)
    for key, value in {
        "DEEPWELL_DATA_DIR": str(data),
        "DEEPWELL_LLM__BACKEND": "extractive",
        "DEEPWELL_EVAL__DATA_DIR": str(clean_env / "no-shared-data"),
    }.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    done = runner.invoke(
        app, ["eval", "generate", "synth", "--n", "3", "--kinds", "single-hop,multi-hop"]
    )
    assert done.exit_code == 0, done.output
    assert "registered synth:" in done.output
    path = data / "eval" / "datasets" / "synth.jsonl"
    text = path.read_text()
    assert "9,999" not in text  # the chunk only user:ceo may read is never a source
    listed = runner.invoke(app, ["eval", "dataset", "list"])
    assert "synth" in listed.output
    bad = runner.invoke(app, ["eval", "generate", "x", "--kinds", "riddles"])
    assert bad.exit_code == 2
    shutil.rmtree(data)
