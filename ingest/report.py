"""The corpus data card: what is in the index, where it came from, and what was left out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ingest.registry import DocState, DocumentRow


@dataclass
class Group:
    """Totals of one slice of the corpus (a tenant, a file type, a source)."""

    documents: int = 0
    failed: int = 0
    pages: int = 0
    chunks: int = 0
    tokens: int = 0


@dataclass
class CorpusReport:
    """Aggregates over registry rows and the indexed chunk texts."""

    documents: int = 0
    indexed: int = 0
    failed: int = 0
    pages: int = 0
    chunks: int = 0
    tokens: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    by_tenant: dict[str, Group] = field(default_factory=lambda: defaultdict(Group))
    by_type: dict[str, Group] = field(default_factory=lambda: defaultdict(Group))
    by_source: dict[str, Group] = field(default_factory=lambda: defaultdict(Group))
    #: Indexed documents by the issuer and document type ingest read (ingest.docmeta);
    #: "unknown" where none was read.
    by_issuer: dict[str, Group] = field(default_factory=lambda: defaultdict(Group))
    by_doc_type: dict[str, Group] = field(default_factory=lambda: defaultdict(Group))
    #: Every indexed document's metadata: (source_uri, issuer, doc_type, period).
    metadata: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: Parse quality over the indexed documents that recorded it (ingest.quality).
    tables: int = 0
    pages_ocr: int = 0
    empty_pages: int = 0
    suspect: list[tuple[str, str]] = field(default_factory=list)  # (source_uri, reasons)
    ocr: list[tuple[str, list[int]]] = field(default_factory=list)  # (source_uri, OCRed pages)

    @property
    def chunks_before_cleaning(self) -> int:
        """Chunks produced by chunking, before cleaning dropped any (furniture excluded)."""
        chunk_drops = {"uninformative", "exact_duplicate", "near_duplicate"}
        return self.chunks + sum(n for r, n in self.dropped.items() if r in chunk_drops)

    def share(self, reason: str) -> float:
        """Dropped chunks of ``reason`` as a share of the chunks before cleaning."""
        total = self.chunks_before_cleaning
        return self.dropped[reason] / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        def groups(d: dict[str, Group]) -> dict[str, dict[str, int]]:
            return {k: vars(v) for k, v in sorted(d.items())}

        return {
            "documents": self.documents,
            "indexed": self.indexed,
            "failed": self.failed,
            "pages": self.pages,
            "chunks": self.chunks,
            "tokens": self.tokens,
            "dropped": dict(self.dropped),
            "duplicate_share": round(self.share("exact_duplicate"), 4),
            "near_duplicate_share": round(self.share("near_duplicate"), 4),
            "uninformative_share": round(self.share("uninformative"), 4),
            "by_tenant": groups(self.by_tenant),
            "by_type": groups(self.by_type),
            "by_source": groups(self.by_source),
            "by_issuer": groups(self.by_issuer),
            "by_doc_type": groups(self.by_doc_type),
            "document_metadata": [
                {"source_uri": u, "issuer": i, "doc_type": t, "period": p}
                for u, i, t, p in self.metadata
            ],
            "failures": [{"source_uri": u, "error": e} for u, e in self.failures],
            "parse_quality": {
                "tables": self.tables,
                "pages_ocr": self.pages_ocr,
                "empty_pages": self.empty_pages,
                "suspect": [{"source_uri": u, "reasons": r} for u, r in self.suspect],
                "ocr": [{"source_uri": u, "pages": p} for u, p in self.ocr],
            },
        }


def source_of(uri: str) -> str:
    """The source a document came from: its folder, or the upload tenant."""
    scheme, _, rest = uri.partition("://")
    if scheme == "file":
        return "file://" + rest.rsplit("/", 1)[0]
    return f"{scheme}://{rest.split('/', 1)[0]}"


def build_report(
    rows: Iterable[DocumentRow],
    chunk_texts: Callable[[str], list[str]],
    count_tokens: Callable[[str], int],
) -> CorpusReport:
    """Aggregate ``rows``; ``chunk_texts(doc_id)`` gives an indexed document's chunk texts."""
    report = CorpusReport()
    for row in rows:
        report.documents += 1
        file_type = row.file_type or "unknown"
        groups = (
            report.by_tenant[row.tenant],
            report.by_type[file_type],
            report.by_source[source_of(row.source_uri)],
        )
        if row.state == DocState.failed:
            report.failed += 1
            report.failures.append((row.source_uri, row.error or ""))
            for g in groups:
                g.documents += 1
                g.failed += 1
            continue
        tokens = sum(count_tokens(t) for t in chunk_texts(row.doc_id))
        report.indexed += row.state == DocState.indexed
        report.pages += row.pages
        report.chunks += len(row.chunk_ids)
        report.tokens += tokens
        report.dropped.update(row.dropped or {})
        _add_quality(report, row)
        if row.issuer or row.doc_type or row.period:
            report.metadata.append((row.source_uri, row.issuer, row.doc_type, row.period))
        described = (
            report.by_issuer[row.issuer or "unknown"],
            report.by_doc_type[row.doc_type or "unknown"],
        )
        for g in (*groups, *described):
            g.documents += 1
            g.pages += row.pages
            g.chunks += len(row.chunk_ids)
            g.tokens += tokens
    return report


def _add_quality(report: CorpusReport, row: DocumentRow) -> None:
    """Add a document's parse-quality signals; a suspect one is listed with its reasons."""
    quality = row.quality or {}
    report.tables += int(quality.get("tables", 0))
    report.pages_ocr += int(quality.get("pages_ocr", 0))
    report.empty_pages += len(quality.get("empty_pages", []))
    if quality.get("ocr_pages"):
        report.ocr.append((row.source_uri, [int(p) for p in quality["ocr_pages"]]))
    if quality.get("verdict") == "suspect":
        report.suspect.append((row.source_uri, "; ".join(quality.get("reasons", []))))
