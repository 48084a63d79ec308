"""``deepwell ingest`` and ``deepwell documents``: put documents in, see and remove them."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from cli.common import console, domain_errors, err_console, load_settings
from cli.ingest_run import open_services, run_ingest

documents_app = typer.Typer(help="List, show and delete ingested documents.", no_args_is_help=True)


class StateChoice(StrEnum):
    discovered = "discovered"
    parsed = "parsed"
    indexed = "indexed"
    failed = "failed"


def ingest(
    paths: list[Path] = typer.Argument(..., help="Folders (recursive) and files to ingest."),
    acl: list[str] = typer.Option(
        None,
        "--acl",
        help="Who may read: user:ID, group:ID or '*' (repeat). Default: ingest.default_acl.",
    ),
    tenant: str = typer.Option(
        None, help="Tenant of the documents (default: ingest.default_tenant)."
    ),
    include: list[str] = typer.Option(None, help="Only paths matching these globs (repeat)."),
    exclude: list[str] = typer.Option(None, help="Skip paths matching these globs (repeat)."),
    prune: bool = typer.Option(False, help="Delete documents under PATH that no longer exist."),
    force: bool = typer.Option(
        False, help="Re-index unchanged documents too (and retry failed ones)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest documents: parse, chunk, clean, embed and index them, incrementally."""
    from ingest import collect_documents

    settings = load_settings()
    with domain_errors():
        docs = collect_documents(
            settings, paths, acl=acl, tenant=tenant, include=include or (), exclude=exclude or ()
        )
    if not docs:
        err_console.print("nothing to ingest: no files matched")
        raise typer.Exit(1)
    prune_prefix = None
    if prune:
        if len(paths) != 1 or not paths[0].is_dir():
            err_console.print("--prune needs exactly one folder")
            raise typer.Exit(2)
        prune_prefix = paths[0].resolve().as_uri() + "/"
    run_ingest(settings, docs, prune_prefix=prune_prefix, force=force, as_json=as_json)


# --- documents ---------------------------------------------------------------------------


@documents_app.command("list")
def list_documents(
    tenant: str = typer.Option(None, help="Only this tenant."),
    state: StateChoice = typer.Option(None, help="Only documents in this state."),
    limit: int = typer.Option(100, help="At most this many."),
) -> None:
    """Documents in the registry, with their state."""
    from ingest import DocState

    settings = load_settings()
    with open_services(settings) as services:
        rows = services.registry.documents(
            tenant=tenant, states=[DocState(state)] if state else None, limit=limit
        )
    table = Table(
        "doc_id", "state", "type", "pages", "chunks", "version", "issuer", "period", "source"
    )
    for r in rows:
        style = "red" if r.state == DocState.failed else ""
        table.add_row(
            r.doc_id,
            f"[{style}]{r.state}[/{style}]" if style else str(r.state),
            r.file_type or "",
            str(r.pages),
            str(len(r.chunk_ids)),
            str(r.version),
            " ".join(filter(None, [r.issuer, r.doc_type])),
            r.period or "",
            r.source_uri,
        )
    console.print(table)


@documents_app.command("show")
def show_document(doc_id: str) -> None:
    """Everything the registry knows about one document."""
    settings = load_settings()
    with open_services(settings) as services:
        row = services.registry.get(doc_id)
    if row is None:
        err_console.print(f"no document {doc_id}")
        raise typer.Exit(1)
    data = row.as_dict()
    data["chunk_count"] = len(data.pop("chunk_ids"))
    console.print_json(json.dumps(data, default=str))


@documents_app.command("delete")
def delete_document(doc_id: str) -> None:
    """Remove a document's chunks from the index and forget it."""
    from ingest import Ingestor

    settings = load_settings()
    with open_services(settings) as services:
        ingestor = Ingestor(
            settings, index=services.index, registry=services.registry, embedder=services.embedder
        )
        found = ingestor.delete(doc_id)
    if not found:
        err_console.print(f"no document {doc_id}")
        raise typer.Exit(1)
    console.print(f"deleted {doc_id}")


def _words(text: str) -> int:
    return len(text.split())


# --- corpus ------------------------------------------------------------------------------

corpus_app = typer.Typer(help="Facts about the ingested corpus.", no_args_is_help=True)


@corpus_app.command("report")
def corpus_report(
    tenant: str = typer.Option(None, help="Only this tenant."),
    as_json: bool = typer.Option(False, "--json", help="Print the data card as JSON."),
) -> None:
    """A data card: documents, pages, chunks and tokens by tenant, type and source;
    dropped and duplicate shares; parse quality (tables, OCRed and empty pages, documents
    that look badly extracted); parse failures."""
    from ingest import build_report, token_counter
    from retrieval import Filter, MatchValue

    settings = load_settings()
    with open_services(settings) as services:
        tokenizer_file = services.embedder.model_info.path / "tokenizer.json"
        count = token_counter(tokenizer_file) if tokenizer_file.is_file() else _words

        def texts(doc_id: str) -> list[str]:
            flt = Filter(must=[MatchValue("doc_id", doc_id)])
            return [str(h.payload.get("text", "")) for h in services.index.scroll(flt)]

        report = build_report(services.registry.documents(tenant=tenant), texts, count)
    data = report.as_dict()
    if as_json:
        console.print_json(json.dumps(data))
        return
    head = Table("", "", title="corpus", show_header=False)
    for key in ("documents", "indexed", "failed", "pages", "chunks", "tokens"):
        head.add_row(key, f"{data[key]:,}")
    before = report.chunks_before_cleaning
    for reason, n in sorted(report.dropped.items()):
        share = f" ({n / before:.1%} of chunks)" if reason in data["dropped"] and before else ""
        head.add_row(f"dropped: {reason}", f"{n:,}{share}")
    for key, label in (
        ("tables", "tables"),
        ("pages_ocr", "pages OCRed"),
        ("empty_pages", "empty pages"),
    ):
        head.add_row(f"parse: {label}", f"{data['parse_quality'][key]:,}")
    head.add_row("parse: suspect documents", f"{len(report.suspect):,}")
    console.print(head)
    for title in ("by_tenant", "by_type", "by_source", "by_issuer", "by_doc_type"):
        table = Table(title.replace("_", " "), "documents", "failed", "pages", "chunks", "tokens")
        for name, g in data[title].items():
            table.add_row(
                name, *(f"{g[k]:,}" for k in ("documents", "failed", "pages", "chunks", "tokens"))
            )
        console.print(table)
    if report.metadata:
        table = Table("source", "issuer", "type", "period", title="document metadata")
        for uri, issuer, doc_type, period in report.metadata:
            table.add_row(uri, issuer or "", doc_type or "", period or "")
        console.print(table)
    for uri, error in report.failures:
        console.print(f"[red]failed[/red] {uri}: {error}")
    for uri, reasons in report.suspect:
        console.print(f"[yellow]suspect parse[/yellow] {uri}: {reasons}")
    for uri, pages in report.ocr:
        console.print(f"OCRed {uri}: {_page_ranges(pages)}")


def _page_ranges(pages: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``pages 1-3, 7``."""
    spans: list[list[int]] = []
    for p in sorted(pages):
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    parts = [f"{a}-{b}" if b > a else str(a) for a, b in spans]
    return ("page " if len(pages) == 1 else "pages ") + ", ".join(parts)
