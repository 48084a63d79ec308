"""``deepwell ingest``, ``deepwell documents`` and ``deepwell corpus``: put documents in,
see and remove them, describe the corpus.

Each opens the store, or, while a server runs on the data directory (or ``--url`` names
one), goes through its API (:mod:`cli.remote`) as the API key's user and prints the same
way: ``ingest`` then uploads the files and follows the server's jobs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cli import remote
from cli.common import URL, console, domain_errors, err_console, load_settings, server_client
from cli.ingest_run import open_services, run_ingest
from core import Settings

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
    url: str = URL,
) -> None:
    """Ingest documents: parse, chunk, clean, embed and index them, incrementally."""
    from ingest import collect_documents

    settings = load_settings()
    client = server_client(settings, url)
    if client is not None and (prune or force or tenant):
        err_console.print(
            f"--prune, --force and --tenant work on the store itself; the server at {client.url} "
            "takes uploads (in the API key's tenant): stop the server to use them"
        )
        raise typer.Exit(2)
    with domain_errors():
        docs = collect_documents(
            settings, paths, acl=acl, tenant=tenant, include=include or (), exclude=exclude or ()
        )
    if not docs:
        err_console.print("nothing to ingest: no files matched")
        raise typer.Exit(1)
    if client is not None:  # a server holds the store: upload to it
        with client, domain_errors():
            summary = remote.upload_documents(client, docs)
        data = summary.as_dict()
        if as_json:
            console.print_json(json.dumps(data))
        else:
            _print_uploaded(data)
        if data["failed"]:
            raise typer.Exit(1)
        return
    prune_prefix = None
    if prune:
        if len(paths) != 1 or not paths[0].is_dir():
            err_console.print("--prune needs exactly one folder")
            raise typer.Exit(2)
        prune_prefix = paths[0].resolve().as_uri() + "/"
    run_ingest(settings, docs, prune_prefix=prune_prefix, force=force, as_json=as_json)


def _print_uploaded(data: dict[str, Any]) -> None:
    table = Table("", "", title="ingest summary (server)", show_header=False)
    for key in ("indexed", "unchanged", "failed", "chunks"):
        table.add_row(key, str(data[key]))
    table.add_row("wall seconds", f"{data['wall_seconds']:.1f}")
    console.print(table)
    for f in data["failures"]:
        console.print(f"[red]failed[/red] {f['source_uri']}: {f['error']}")


# --- documents ---------------------------------------------------------------------------


@documents_app.command("list")
def list_documents(
    tenant: str = typer.Option(None, help="Only this tenant."),
    state: StateChoice = typer.Option(None, help="Only documents in this state."),
    limit: int = typer.Option(100, help="At most this many."),
    url: str = URL,
) -> None:
    """Documents in the registry, with their state."""
    from ingest import DocState

    settings = load_settings()
    client = server_client(settings, url)
    if client is not None:  # the documents the API key may read, in its tenant
        with client, domain_errors():
            _only_own_tenant(tenant, client.get("/v1/me")["tenant"])
            rows = remote.documents(client, state=state.value if state else None, limit=limit)
        # The API's `state` is in the library's words (ready, ...); `stage` is the registry's.
        _print_documents([r | {"state": r.get("stage") or r["state"]} for r in rows])
        return
    with open_services(settings) as services:
        found = services.registry.documents(
            tenant=tenant, states=[DocState(state)] if state else None, limit=limit
        )
    rows = [r.as_dict() | {"chunks": len(r.chunk_ids)} for r in found]
    _print_documents(rows)


def _only_own_tenant(asked: str | None, own: str) -> None:
    if asked and asked != own:
        err_console.print(
            f"--tenant {asked}: through the server you see your API key's tenant ({own}) only"
        )
        raise typer.Exit(2)


def _print_documents(rows: Sequence[dict[str, Any]]) -> None:
    table = Table(
        "doc_id", "state", "type", "pages", "chunks", "version", "issuer", "period", "source"
    )
    for r in rows:
        state = str(r["state"])
        table.add_row(
            r["doc_id"],
            f"[red]{state}[/red]" if state == "failed" else state,
            r["file_type"] or "",
            str(r["pages"] or 0),
            str(r["chunks"]),
            str(r["version"] or 0),
            " ".join(filter(None, [r["issuer"], r["doc_type"]])),
            r["period"] or "",
            r["source_uri"] or "",
        )
    console.print(table)


@documents_app.command("show")
def show_document(doc_id: str, url: str = URL) -> None:
    """Everything the registry knows about one document."""
    settings = load_settings()
    client = server_client(settings, url)
    data: dict[str, Any] | None
    if client is not None:
        with client, domain_errors():
            data = remote.document(client, doc_id)
        if data is not None:
            data["chunk_count"] = data.pop("chunks")
    else:
        with open_services(settings) as services:
            row = services.registry.get(doc_id)
        data = None if row is None else row.as_dict()
        if data is not None:
            data["chunk_count"] = len(data.pop("chunk_ids"))
    if data is None:
        err_console.print(f"no document {doc_id}")
        raise typer.Exit(1)
    console.print_json(json.dumps(data, default=str))


@documents_app.command("delete")
def delete_document(doc_id: str, url: str = URL) -> None:
    """Remove a document's chunks from the index and forget it."""
    settings = load_settings()
    client = server_client(settings, url)
    if client is not None:
        with client, domain_errors():
            found = remote.delete_document(client, doc_id)
    else:
        found = _delete_local(settings, doc_id)
    if not found:
        err_console.print(f"no document {doc_id}")
        raise typer.Exit(1)
    console.print(f"deleted {doc_id}")


def _delete_local(settings: Settings, doc_id: str) -> bool:
    from ingest import Ingestor

    with open_services(settings) as services:
        ingestor = Ingestor(
            settings, index=services.index, registry=services.registry, embedder=services.embedder
        )
        found: bool = ingestor.delete(doc_id)
    return found


def _words(text: str) -> int:
    return len(text.split())


# --- corpus ------------------------------------------------------------------------------

corpus_app = typer.Typer(help="Facts about the ingested corpus.", no_args_is_help=True)


@corpus_app.command("report")
def corpus_report(
    tenant: str = typer.Option(None, help="Only this tenant."),
    as_json: bool = typer.Option(False, "--json", help="Print the data card as JSON."),
    url: str = URL,
) -> None:
    """A data card: documents, pages, chunks and tokens by tenant, type and source;
    dropped and duplicate shares; parse quality (tables, OCRed and empty pages, documents
    that look badly extracted); parse failures."""
    from ingest import build_report, token_counter
    from retrieval import Filter, MatchValue

    settings = load_settings()
    client = server_client(settings, url)
    if client is not None:  # the API key's tenant (admin role)
        with client, domain_errors():
            _only_own_tenant(tenant, client.get("/v1/me")["tenant"])
            data = remote.corpus_report(client)
    else:
        with open_services(settings) as services:
            tokenizer_file = services.embedder.model_info.path / "tokenizer.json"
            count = token_counter(tokenizer_file) if tokenizer_file.is_file() else _words

            def texts(doc_id: str) -> list[str]:
                flt = Filter(must=[MatchValue("doc_id", doc_id)])
                return [str(h.payload.get("text", "")) for h in services.index.scroll(flt)]

            data = build_report(services.registry.documents(tenant=tenant), texts, count).as_dict()
    if as_json:
        console.print_json(json.dumps(data))
        return
    _print_report(data)


#: What cleaning drops per chunk (``ingest.CorpusReport.chunks_before_cleaning`` counts them).
_CHUNK_DROPS = ("uninformative", "exact_duplicate", "near_duplicate")


def _print_report(data: dict[str, Any]) -> None:
    """The data card (:meth:`ingest.CorpusReport.as_dict`) as tables."""
    head = Table("", "", title="corpus", show_header=False)
    for key in ("documents", "indexed", "failed", "pages", "chunks", "tokens"):
        head.add_row(key, f"{data[key]:,}")
    dropped: dict[str, int] = data["dropped"]
    before = data["chunks"] + sum(n for r, n in dropped.items() if r in _CHUNK_DROPS)
    for reason, n in sorted(dropped.items()):
        share = f" ({n / before:.1%} of chunks)" if before else ""
        head.add_row(f"dropped: {reason}", f"{n:,}{share}")
    quality = data["parse_quality"]
    for key, label in (
        ("tables", "tables"),
        ("pages_ocr", "pages OCRed"),
        ("empty_pages", "empty pages"),
    ):
        head.add_row(f"parse: {label}", f"{quality[key]:,}")
    head.add_row("parse: suspect documents", f"{len(quality['suspect']):,}")
    console.print(head)
    for title in ("by_tenant", "by_type", "by_source", "by_issuer", "by_doc_type"):
        table = Table(title.replace("_", " "), "documents", "failed", "pages", "chunks", "tokens")
        for name, g in data[title].items():
            table.add_row(
                name, *(f"{g[k]:,}" for k in ("documents", "failed", "pages", "chunks", "tokens"))
            )
        console.print(table)
    if data["document_metadata"]:
        table = Table("source", "issuer", "type", "period", title="document metadata")
        for m in data["document_metadata"]:
            table.add_row(
                m["source_uri"], m["issuer"] or "", m["doc_type"] or "", m["period"] or ""
            )
        console.print(table)
    for f in data["failures"]:
        console.print(f"[red]failed[/red] {f['source_uri']}: {f['error']}")
    for s in quality["suspect"]:
        console.print(f"[yellow]suspect parse[/yellow] {s['source_uri']}: {s['reasons']}")
    for o in quality["ocr"]:
        console.print(f"OCRed {o['source_uri']}: {_page_ranges(o['pages'])}")


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
