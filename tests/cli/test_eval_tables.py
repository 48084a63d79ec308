"""`deepwell eval`'s result tables: every system and metric shown, within the terminal's width."""

from __future__ import annotations

from rich.console import Console

from cli.eval_cmd import _tables
from tests.eval.test_report import fake_run


def test_cli_tables_fit_80_columns_without_a_terminal() -> None:
    run = fake_run()
    console = Console(width=80, record=True, force_terminal=False)
    for table in _tables(run, 80):
        console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text  # nothing cropped
    for name in ("hybrid", "closed-", "rag", "finetuned", "+rag", "semantic_similarity", "p50 s"):
        assert name in text

    narrow = _tables(run, 50)
    assert len(narrow) > 1  # systems split over several tables
    console = Console(width=50, record=True)
    for table in narrow:
        console.print(table)
    assert max(len(line) for line in console.export_text().splitlines()) <= 50
