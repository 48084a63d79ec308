"""The per-document work done in parsing worker processes: parse → strip furniture → chunk.

Everything here is picklable and runs in a fresh (spawned) process, so a document
that hangs, crashes or exhausts memory takes down its worker, not the ingest job.
Cross-document steps (de-duplication, embedding, writing) stay in the one writer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import core  # noqa: F401  (telemetry off in the worker before unstructured is imported)
from core import IngestError, configure_logging
from ingest.chunking import ChunkDraft, ChunkLimits, chunk_elements
from ingest.cleaning import CleaningOptions, strip_page_furniture
from ingest.docmeta import FIRST_PAGES, MAX_BODY_CHARS, extract_docmeta
from ingest.filetypes import InputLimits, check_chunks
from ingest.parsing import ParsedDocument, PdfParser, Strategy, parse
from ingest.parsing import warm_up as warm_up_parser
from ingest.progress import listening


@dataclass(frozen=True)
class ParseJob:
    """What a worker needs to prepare one document."""

    doc_id: str
    filename: str
    path: Path | None
    data: bytes | None
    strategy: Strategy
    limits: ChunkLimits
    cleaning: CleaningOptions
    max_bytes: int | None
    tokenizer_file: Path | None = None  # the embedder's tokenizer: chunks must fit its window
    max_tokens: int = 256
    input_limits: InputLimits = field(default_factory=InputLimits.from_settings)
    pdf_parser: PdfParser = "pdfium"
    progress_file: Path | None = None  # where the pages read are written (ingest.progress)


@dataclass
class PreparedDocument:
    """A document parsed and chunked, ready for the writer."""

    doc_id: str
    file_type: str
    mime_type: str
    title: str | None
    pages: int
    chunks: list[ChunkDraft]
    removed: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    quality: dict[str, Any] | None = None  # ingest.quality.ParseQuality.as_dict()
    docmeta: dict[str, Any] | None = None  # ingest.docmeta.DocMeta.as_payload(); None: nothing
    parse_s: float = 0.0
    chunk_s: float = 0.0


#: Tokens kept free in each chunk for the heading path the embedders read before it.
SECTION_TOKENS = 32


@cache
def token_counter(tokenizer_file: Path) -> Callable[[str], int]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    # The file may carry the model's padding/truncation settings; a counter needs neither.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return lambda text: len(tokenizer.encode(text).ids)  # special tokens included


def init_worker(memory_limit_mb: int | None, log_level: str, log_format: str) -> None:
    """Worker start-up: log like the parent, cap the address space, load the parsers once."""
    configure_logging(log_level, log_format)  # type: ignore[arg-type]
    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warm_up_parser()


def prepare(job: ParseJob) -> PreparedDocument:
    """Parse, strip page furniture and chunk one document, within ``job.input_limits``.

    Whatever happens, the memory the document took is handed back to the system before
    this returns (:func:`release_memory`), so a worker that failed a large document does
    not keep its peak for the next one.

    Raises:
        IngestError: the document cannot be parsed or is over a limit (the reason says
            which); raised without the parser's traceback, whose frames hold the document.
    """
    try:
        with listening(job.progress_file):
            prepared = _prepare(job)
    except IngestError as exc:
        failure = IngestError(str(exc))
    except MemoryError:
        failure = IngestError(
            f"{job.filename}: ran out of memory while parsing (ingest.worker_memory_mb)"
        )
    else:
        release_memory()
        return prepared
    release_memory()  # the failed document's frames are gone now
    raise failure


def _prepare(job: ParseJob) -> PreparedDocument:
    source: Path | bytes
    if job.data is not None:
        source = job.data
    elif job.path is not None:
        source = job.path
    else:
        raise IngestError(f"{job.filename}: nothing to read")
    parsed = parse(
        source,
        filename=job.filename,
        strategy=job.strategy,
        max_bytes=job.max_bytes,
        limits=job.input_limits,
        pdf_parser=job.pdf_parser,
    )
    started = time.perf_counter()
    docmeta = document_metadata(parsed, source)
    stripped, removed = strip_page_furniture(parsed, job.cleaning)
    limits, count = job.limits, None
    if job.tokenizer_file is not None:
        count = token_counter(job.tokenizer_file)
        # The embedders read "file > title > section" before the chunk (pipeline.embed_text).
        budget = job.max_tokens - count(f"{job.filename} {parsed.title or ''}") - SECTION_TOKENS
        limits = replace(limits, max_tokens=max(64, budget))
    chunks = chunk_elements(stripped.elements, limits, count_tokens=count)
    check_chunks(job.filename, len(chunks), job.input_limits)
    return PreparedDocument(
        doc_id=job.doc_id,
        file_type=parsed.file_type,
        mime_type=parsed.mime_type,
        title=parsed.title,
        pages=parsed.page_count or 0,
        chunks=chunks,
        removed=removed,
        warnings=list(parsed.warnings),
        quality=parsed.quality.as_dict() if parsed.quality else None,
        docmeta=docmeta,
        parse_s=parsed.parse_seconds,
        chunk_s=time.perf_counter() - started,
    )


#: Without page numbers (DOCX, HTML, text), this much text stands for the first pages.
FIRST_PAGES_CHARS = 15_000


def document_metadata(parsed: ParsedDocument, source: Path | bytes) -> dict[str, Any] | None:
    """The document's issuer, type and period (:func:`ingest.docmeta.extract_docmeta`) as
    stored in its chunks' payloads; None when none of them could be read.

    Read from the parsed text (before page furniture is stripped: a cover page is often
    all furniture), the parser's title, the PDF's own metadata and the file name.
    """
    first: list[str] = []
    body: list[str] = []
    size = first_size = 0
    for el in parsed.elements:
        if size >= MAX_BODY_CHARS:
            break
        body.append(el.text)
        size += len(el.text) + 1
        on_first = el.page_number is not None and el.page_number <= FIRST_PAGES
        if on_first or (el.page_number is None and first_size < FIRST_PAGES_CHARS):
            first.append(el.text)
            first_size += len(el.text) + 1
    meta = extract_docmeta(
        filename=parsed.filename,
        first_pages="\n".join(first),
        body="\n".join(body),
        title=parsed.title,
        file_metadata=_pdf_info(source) if parsed.file_type == "pdf" else None,
    )
    return None if meta.is_empty() else meta.as_payload()


def _pdf_info(source: Path | bytes) -> dict[str, str]:
    """A PDF's info dictionary (Title, Subject, Keywords, Author, …); empty if unreadable."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]  # ships no type information

    try:
        pdf = pdfium.PdfDocument(source)
    except pdfium.PdfiumError:
        return {}
    try:
        return {k: str(v) for k, v in pdf.get_metadata_dict(skip_empty=True).items()}
    finally:
        pdf.close()


def release_memory() -> None:
    """Free what a document left behind: a garbage collection, then glibc's free lists
    back to the system (``malloc_trim(0)``; a no-op where the C library has none)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    return trim
