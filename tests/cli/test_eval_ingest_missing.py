"""`deepwell eval run --ingest-missing`: an empty corpus gets the dataset's documents, as public."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from cli import eval_cmd
from core import Settings, make_engine
from ingest import DocState, Registry


def test_ingests_the_documents_as_public(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = clean_env / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Revenue\n\nRevenue grew 12% to $5 million in the quarter.\n")
    (docs / "b.md").write_text("# Costs\n\nOperating costs fell to $3 million in the quarter.\n")
    settings = Settings()
    eval_cmd._ingest(settings, docs)
    engine = make_engine(settings)
    try:
        rows = Registry(engine).documents()
    finally:
        engine.dispose()
    assert sorted(Path(r.source_uri).name for r in rows) == ["a.md", "b.md"]
    assert {r.state for r in rows} == {DocState.indexed}
    assert all(r.acl == ["*"] for r in rows)
    assert "ingest summary" in capsys.readouterr().out


def test_an_empty_folder_exits_1(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (clean_env / "docs").mkdir()
    with pytest.raises(typer.Exit) as exited:
        eval_cmd._ingest(Settings(), clean_env / "docs")
    assert exited.value.exit_code == 1
    assert "nothing to ingest" in capsys.readouterr().err
