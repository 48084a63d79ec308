"""Table fidelity on SEC 10-Q filings: does one chunk hold a row's label AND its value?

Run from the repository root: ``.venv/bin/python -m bench.tables [--docs DIR]
[--triples FILE] [--parsers NAME ...] [--misses]``.

``bench/data/sec_table_triples.csv`` holds (file, page, statement, row label, column,
value) triples read by hand from the rendered pages of income statements, balance sheets
and cash-flow statements of five issuers' filings (never from a parser's output). For
each PDF parser the bench prepares each filing exactly as an ingest worker does
(``ingest.work.prepare``: parse, strip page furniture, chunk to the embedder's window)
and counts a triple as kept when some line of some chunk of that filing contains the
label and the value (the figure alone, with digit boundaries: ``21,213`` is not found
inside ``121,213``). It prints, per parser, the share of triples kept and pages/s of
the parse step on one core. Needs the SEC corpus (``eval.data_dir``/sec-10q/docs);
without it the bench says so and exits.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import core  # noqa: F401  (first: telemetry off before third-party imports)
from core import Settings, configure_logging
from core.errors import DeepwellError
from core.models import configured_embedding
from ingest.chunking import ChunkLimits
from ingest.cleaning import CleaningOptions
from ingest.parsing import PdfParser
from ingest.work import ParseJob, PreparedDocument, prepare

TRIPLES = Path(__file__).parent / "data" / "sec_table_triples.csv"

#: Parser configurations compared: name → ``ingest.pdf_parser``.
PARSERS: dict[str, PdfParser] = {"unstructured-fast": "unstructured", "pdfium-layout": "pdfium"}


@dataclass(frozen=True)
class Triple:
    """A figure read by hand: in ``file`` (page ``page``), row ``label``, column ``column``."""

    file: str
    page: int
    statement: str
    label: str
    column: str
    value: str


@dataclass
class Result:
    """One parser's outcome over the triples' filings."""

    parser: str
    kept: int = 0
    total: int = 0
    pages: int = 0
    parse_s: float = 0.0
    prepare_s: float = 0.0
    misses: list[Triple] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.kept / self.total if self.total else 0.0


def load_triples(path: Path) -> list[Triple]:
    """The triples of a CSV file with columns file, page, statement, label, column, value."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            Triple(r["file"], int(r["page"]), r["statement"], r["label"], r["column"], r["value"])
            for r in csv.DictReader(fh)
        ]


def _norm(text: str) -> str:
    """Lower case, straight quotes, one space between words."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    return " ".join(text.lower().split())


def value_pattern(value: str) -> re.Pattern[str]:
    """The figure of ``value`` ("(1,056)" → 1,056), not part of a longer number."""
    figure = value.strip().strip("$()").strip()
    return re.compile(rf"(?<![\d.,]){re.escape(figure)}(?![\d]|[.,]\d)")


def kept(triple: Triple, chunk_texts: Sequence[str]) -> bool:
    """True when one line of one chunk holds the triple's label and value."""
    label, figure = _norm(triple.label), value_pattern(triple.value)
    return any(
        label in _norm(line) and figure.search(line)
        for text in chunk_texts
        for line in text.splitlines()
    )


def prepare_file(
    path: Path, parser: PdfParser, settings: Settings, tokenizer: Path | None
) -> PreparedDocument:
    """Parse and chunk one filing the way an ingest worker does."""
    ing = settings.ingest
    job = ParseJob(
        doc_id=path.name,
        filename=path.name,
        path=path,
        data=None,
        strategy="fast",
        limits=ChunkLimits.from_settings(ing),
        cleaning=CleaningOptions(near_duplicates=ing.near_duplicates),
        max_bytes=None,
        tokenizer_file=tokenizer,
        pdf_parser=parser,
    )
    return prepare(job)


def run(
    docs: Path, triples: Sequence[Triple], parsers: Sequence[str], tokenizer: Path | None
) -> list[Result]:
    """Each parser over each filing named by the triples."""
    settings = Settings()
    files = sorted({t.file for t in triples})
    results = []
    for name in parsers:
        result = Result(name)
        for file in files:
            started = time.perf_counter()
            doc = prepare_file(docs / file, PARSERS[name], settings, tokenizer)
            result.prepare_s += time.perf_counter() - started
            result.parse_s += doc.parse_s
            result.pages += doc.pages
            texts = [c.text for c in doc.chunks]
            for t in (t for t in triples if t.file == file):
                result.total += 1
                if kept(t, texts):
                    result.kept += 1
                else:
                    result.misses.append(t)
            print(f"  {name:18} {file:22} {doc.pages:4} pages {doc.parse_s:6.1f} s", flush=True)
        results.append(result)
    return results


def report(results: Sequence[Result], *, misses: bool) -> str:
    """The side-by-side table (and, asked, each parser's missed triples)."""
    lines = [
        f"{'parser':18} {'kept':>9} {'share':>6} {'pages':>6} {'parse s':>8} {'pages/s':>8} "
        f"{'prepare pages/s':>16}"
    ]
    for r in results:
        lines.append(
            f"{r.parser:18} {r.kept:>4}/{r.total:<4} {r.share:6.3f} {r.pages:6} {r.parse_s:8.1f} "
            f"{r.pages / r.parse_s if r.parse_s else 0:8.1f} "
            f"{r.pages / r.prepare_s if r.prepare_s else 0:16.1f}"
        )
    if misses:
        for r in results:
            lines.append(f"\nmissed by {r.parser}:")
            lines += [f"  {t.file} p{t.page}: {t.label!r} = {t.value}" for t in r.misses]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging("warning")
    settings = Settings()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=Path, default=settings.eval.data_dir / "sec-10q" / "docs")
    ap.add_argument("--triples", type=Path, default=TRIPLES)
    ap.add_argument("--parsers", nargs="+", choices=sorted(PARSERS), default=list(PARSERS))
    ap.add_argument("--misses", action="store_true", help="list the triples each parser lost")
    args = ap.parse_args(argv)
    triples = load_triples(args.triples)
    missing = sorted({t.file for t in triples if not (args.docs / t.file).is_file()})
    if missing:
        print(
            f"skipped: the SEC filings are not at {args.docs} (missing {', '.join(missing)}); "
            "pass --docs or set DEEPWELL_EVAL__DATA_DIR"
        )
        return 0
    tokenizer: Path | None = None
    try:
        found = configured_embedding(settings).path / "tokenizer.json"
        tokenizer = found if found.is_file() else None
    except DeepwellError as exc:
        print(f"note: no embedder tokenizer ({exc}); chunks are sized by characters only")
    print(f"{len(triples)} triples from {len({t.file for t in triples})} filings")
    results = run(args.docs, triples, args.parsers, tokenizer)
    print(report(results, misses=args.misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
