"""An ingest run on the terminal: open the services, a progress bar, the summary table.

Shared by ``deepwell ingest`` and ``deepwell eval run --ingest-missing``; the work itself
is :func:`ingest.local.ingest_documents`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cli.common import console, domain_errors, err_console
from core import Settings

if TYPE_CHECKING:  # the pipeline pulls in torch and the engines: imported when a command runs
    from ingest import DocOutcome, IngestSummary, SourceDocument, Store


@contextmanager
def open_services(settings: Settings) -> Iterator[Store]:
    """The index, registry and embedder of ``settings`` (no LLM), closed on exit."""
    from ingest import Store

    with domain_errors():
        store = Store.open(settings)
    with store:
        yield store


def run_ingest(
    settings: Settings,
    docs: Sequence[SourceDocument],
    *,
    prune_prefix: str | None = None,
    force: bool = False,
    as_json: bool = False,
) -> None:
    """Ingest ``docs`` with a progress bar, then print the summary (a table or JSON).

    :raises typer.Exit: 1 when a document failed (or on a domain error).
    """
    from ingest import ingest_documents

    with (
        open_services(settings) as services,
        _progress(len(docs)) as advance,
        domain_errors(),
    ):
        summary = ingest_documents(
            settings,
            docs,
            index=services.index,
            registry=services.registry,
            embedder=services.embedder,
            prune_prefix=prune_prefix,
            force=force,
            on_outcome=advance,
        )
    if as_json:
        console.print_json(json.dumps(_summary_dict(summary)))
    else:
        _print_summary(summary)
    if summary.by_status("failed"):
        raise typer.Exit(1)


@contextmanager
def _progress(total: int) -> Iterator[Callable[[DocOutcome], None]]:
    progress = Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("docs  {task.fields[pages]} pages  {task.fields[chunks]} chunks"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    task = progress.add_task("ingest", total=total, pages=0, chunks=0, rate="")
    totals = {"pages": 0, "chunks": 0}

    def advance(outcome: DocOutcome) -> None:
        totals["pages"] += outcome.pages
        totals["chunks"] += outcome.chunks
        elapsed = progress.tasks[task].elapsed or 0.0
        rate = f"{totals['pages'] / elapsed:.1f} pages/s" if elapsed and totals["pages"] else ""
        progress.update(task, advance=1, rate=rate, pages=totals["pages"], chunks=totals["chunks"])

    with progress:
        yield advance


def _summary_dict(summary: IngestSummary) -> dict[str, object]:
    return {
        "indexed": len(summary.by_status("indexed")),
        "unchanged": len(summary.by_status("unchanged")),
        "failed": len(summary.by_status("failed")),
        "deleted": len(summary.by_status("deleted")),
        "pages": summary.pages,
        "chunks": summary.chunks,
        "dropped": dict(summary.dropped),
        "flagged": dict(summary.cleaning.flagged),
        "stage_seconds": {k: round(v, 3) for k, v in summary.stage_seconds.items()},
        "wall_seconds": round(summary.wall_seconds, 3),
        "failures": [
            {"source_uri": o.source_uri, "error": o.error} for o in summary.by_status("failed")
        ],
    }


def _print_summary(summary: IngestSummary) -> None:
    data = _summary_dict(summary)
    table = Table("", "", title="ingest summary", show_header=False)
    for key in ("indexed", "unchanged", "failed", "deleted", "pages", "chunks"):
        table.add_row(key, str(data[key]))
    dropped = summary.dropped
    table.add_row("dropped", ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "none")
    flagged = summary.cleaning.flagged
    if flagged:
        table.add_row("flagged", ", ".join(f"{k} {v}" for k, v in sorted(flagged.items())))
    stages = summary.stage_seconds
    table.add_row("seconds by stage", ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    table.add_row("wall seconds", f"{summary.wall_seconds:.1f}")
    console.print(table)
    for o in summary.by_status("failed"):
        console.print(f"[red]failed[/red] {o.source_uri}: {o.error}")
