"""Ingestion: sources → parse → chunk → clean → embed → write; job queues and their workers.

The front door: other packages import these names from ``ingest``, never its modules.
Each name is imported from its module on first use, so ``import ingest`` loads no
parser, model or database driver.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.chunking import ChunkLimits, TableGrid
    from ingest.cleaning import CleaningOptions
    from ingest.filetypes import InputLimits
    from ingest.jobs import DeadLetterRow, JobQueue, JobRow
    from ingest.jobs_celery import (
        QUEUE_NAME,
        TASK_NAME,
        CeleryJobQueue,
        InlineParser,
        UploadBlobRow,
        WorkerRuntime,
        make_celery,
        run_document,
        set_runtime,
    )
    from ingest.local import collect_documents, ingest_documents
    from ingest.pipeline import DocOutcome, Ingestor, IngestSummary
    from ingest.registry import DocState, DocumentRow, Registry
    from ingest.report import build_report
    from ingest.sources import SourceDocument, doc_id_for, normalize_acl
    from ingest.work import ParseJob, token_counter

#: Where each public name lives. Imported on first use.
_EXPORTS: dict[str, tuple[str, str]] = {
    "SourceDocument": ("ingest.sources", "SourceDocument"),
    "doc_id_for": ("ingest.sources", "doc_id_for"),
    "normalize_acl": ("ingest.sources", "normalize_acl"),
    "InputLimits": ("ingest.filetypes", "InputLimits"),
    "ParseJob": ("ingest.work", "ParseJob"),
    "token_counter": ("ingest.work", "token_counter"),
    "ChunkLimits": ("ingest.chunking", "ChunkLimits"),
    "TableGrid": ("ingest.chunking", "TableGrid"),
    "CleaningOptions": ("ingest.cleaning", "CleaningOptions"),
    "DocOutcome": ("ingest.pipeline", "DocOutcome"),
    "IngestSummary": ("ingest.pipeline", "IngestSummary"),
    "Ingestor": ("ingest.pipeline", "Ingestor"),
    "collect_documents": ("ingest.local", "collect_documents"),
    "ingest_documents": ("ingest.local", "ingest_documents"),
    "DocState": ("ingest.registry", "DocState"),
    "DocumentRow": ("ingest.registry", "DocumentRow"),
    "Registry": ("ingest.registry", "Registry"),
    "build_report": ("ingest.report", "build_report"),
    "DeadLetterRow": ("ingest.jobs", "DeadLetterRow"),
    "JobQueue": ("ingest.jobs", "JobQueue"),
    "JobRow": ("ingest.jobs", "JobRow"),
    "QUEUE_NAME": ("ingest.jobs_celery", "QUEUE_NAME"),
    "TASK_NAME": ("ingest.jobs_celery", "TASK_NAME"),
    "CeleryJobQueue": ("ingest.jobs_celery", "CeleryJobQueue"),
    "InlineParser": ("ingest.jobs_celery", "InlineParser"),
    "UploadBlobRow": ("ingest.jobs_celery", "UploadBlobRow"),
    "WorkerRuntime": ("ingest.jobs_celery", "WorkerRuntime"),
    "make_celery": ("ingest.jobs_celery", "make_celery"),
    "run_document": ("ingest.jobs_celery", "run_document"),
    "set_runtime": ("ingest.jobs_celery", "set_runtime"),
}

__all__ = [
    "QUEUE_NAME",
    "TASK_NAME",
    "CeleryJobQueue",
    "ChunkLimits",
    "CleaningOptions",
    "DeadLetterRow",
    "DocOutcome",
    "DocState",
    "DocumentRow",
    "IngestSummary",
    "Ingestor",
    "InlineParser",
    "InputLimits",
    "JobQueue",
    "JobRow",
    "ParseJob",
    "Registry",
    "SourceDocument",
    "TableGrid",
    "UploadBlobRow",
    "WorkerRuntime",
    "build_report",
    "collect_documents",
    "doc_id_for",
    "ingest_documents",
    "make_celery",
    "normalize_acl",
    "run_document",
    "set_runtime",
    "token_counter",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ingest' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(import_module(module), attr)
    globals()[name] = value  # resolved once
    return value
