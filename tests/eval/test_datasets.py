"""Question-set loaders and the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from core import NotFoundError, Settings
from eval.datasets import (
    DatasetError,
    DatasetRegistry,
    EvalItem,
    load,
    load_csv,
    load_jsonl,
    load_sec_10q,
    save_jsonl,
)

SEC_HEADER = "Question,Source Docs,Question Type,Source Chunk Type,Answer\n"


def test_sec_format_with_bom_and_multiline_answers(tmp_path: Path) -> None:
    path = tmp_path / "qna.csv"
    body = (
        SEC_HEADER
        + 'What were net sales?,*2023 Q3 AAPL*,Single-Doc Single-Chunk RAG,Table,"Net sales were '
        '$81,797 million.\n\nSOURCE(S): 2023 Q3 AAPL.pdf"\n'
        + 'Compare margins,"*AAPL*, *MSFT*",Multi-Doc RAG,Text,Margins fell.\n'
    )
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    data = load(path)
    assert [i.qid for i in data.items] == ["q001", "q002"]
    first, second = data.items
    assert first.question == "What were net sales?"  # the BOM is not part of the first column
    assert first.sources == ("*2023 Q3 AAPL*",)
    assert "SOURCE(S)" in first.reference
    assert first.chunk_type == "Table"
    assert second.sources == ("*AAPL*", "*MSFT*")
    assert data.question_types == ["Multi-Doc RAG", "Single-Doc Single-Chunk RAG"]
    assert second.reference_docs(["2023 Q1 AAPL.pdf", "2023 Q1 MSFT.pdf", "x.pdf"]) == {
        "2023 Q1 AAPL.pdf",
        "2023 Q1 MSFT.pdf",
    }


def test_version_is_a_content_hash(tmp_path: Path) -> None:
    path = tmp_path / "qna.csv"
    path.write_text(SEC_HEADER + "Q?,*A*,t,Text,yes\n", encoding="utf-8")
    v1 = load_sec_10q(path).version
    assert load_sec_10q(path).version == v1
    path.write_text(SEC_HEADER + "Q?,*A*,t,Text,no\n", encoding="utf-8")
    assert load_sec_10q(path).version != v1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (SEC_HEADER + ",*A*,t,Text,yes\n", "question 1: empty question"),
        (SEC_HEADER + "Q?,*A*,t,Text,\n", "question 1: no reference answer"),
        (SEC_HEADER + "Q?,,t,Text,yes\n", "question 1: no Source Docs"),
        (SEC_HEADER + "Q?,*A*,t,Text,yes,extra\n", "record 2: more cells"),
        ("Question,Answer\nQ?,yes\n", "missing column(s) Source Docs, Question Type"),
    ],
)
def test_bad_sec_rows_are_clear_errors(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "qna.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_sec_10q(path)


def test_generic_csv_and_jsonl_round_trip(tmp_path: Path) -> None:
    csv_path = tmp_path / "set.csv"
    csv_path.write_text(
        "id,question,answer,sources,pages,passages,question_type\n"
        "x1,Who?,Bob,a.pdf;b.pdf,3;4,first passage||second passage,single\n",
        encoding="utf-8",
    )
    data = load_csv(csv_path, "set")
    item = data.items[0]
    assert item == EvalItem(
        "x1",
        "Who?",
        "Bob",
        ("a.pdf", "b.pdf"),
        "single",
        None,
        (3, 4),
        ("first passage", "second passage"),
    )
    out = tmp_path / "set.jsonl"
    save_jsonl(data, out)
    again = load_jsonl(out, "set")
    assert again.items == data.items
    assert again.version == data.version


def test_jsonl_bad_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"question": "Q", "answer": "A"}) + "\n{not json\n")
    with pytest.raises(DatasetError, match="line 2: not JSON"):
        load_jsonl(path, "set")
    path.write_text(json.dumps({"question": "Q", "answer": "A", "pages": ["x"]}) + "\n")
    with pytest.raises(DatasetError, match="line 1: pages must be integers"):
        load_jsonl(path, "set")


def test_registry_registers_lists_and_finds_the_builtin_set(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "sec-10q").mkdir(parents=True)
    (shared / "sec-10q" / "qna_data.csv").write_text(SEC_HEADER + "Q?,*A*,t,Text,yes\n")
    settings = Settings(data_dir=tmp_path / "data", eval={"data_dir": shared})
    registry = DatasetRegistry(create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"), settings)
    registry.create_schema()
    mine = tmp_path / "mine.jsonl"
    mine.write_text(json.dumps({"question": "Q", "answer": "A"}) + "\n")
    info = registry.register("mine", mine)
    assert (info.format, info.items) == ("jsonl", 1)
    assert [(i.name, i.builtin) for i in registry.list()] == [("mine", False), ("sec-10q", True)]
    assert registry.get("sec-10q").items[0].sources == ("*A*",)
    assert registry.get("mine").version == info.version
    with pytest.raises(NotFoundError, match="deepwell eval dataset register"):
        registry.get("nope")
    with pytest.raises(DatasetError, match="no such file"):
        registry.register("gone", tmp_path / "missing.csv")


def test_the_real_sec_set_loads(sec_dir: Path) -> None:
    data = load_sec_10q(sec_dir / "qna_data.csv")
    assert len(data.items) == 195
    assert len(data.question_types) == 3
    assert all(i.sources for i in data.items)
