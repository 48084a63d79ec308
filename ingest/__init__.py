"""Ingestion: sources → parse → chunk → clean → embed → write; job queues and their workers.

The front door: other packages import these names from ``ingest``, never its modules.
Each name is imported from its module on first use, so ``import ingest`` loads no
parser, model or database driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import lazy_exports

if TYPE_CHECKING:
    from ingest.chunking import ChunkLimits, TableGrid
    from ingest.cleaning import CleaningOptions
    from ingest.filetypes import InputLimits
    from ingest.jobs import DeadLetterRow, JobQueue, JobRow, failure_reason
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
    from ingest.local import Store, collect_documents, ingest_documents
    from ingest.pipeline import DocOutcome, Ingestor, IngestSummary
    from ingest.queues import make_job_queue
    from ingest.registry import DocState, DocumentRow, Registry, source_file
    from ingest.report import build_report
    from ingest.sources import SourceDocument, doc_id_for, normalize_acl
    from ingest.work import ParseJob, token_counter

#: Where each public name lives. Imported on first use.
_EXPORTS = {
    "SourceDocument": "ingest.sources",
    "doc_id_for": "ingest.sources",
    "normalize_acl": "ingest.sources",
    "InputLimits": "ingest.filetypes",
    "ParseJob": "ingest.work",
    "token_counter": "ingest.work",
    "ChunkLimits": "ingest.chunking",
    "TableGrid": "ingest.chunking",
    "CleaningOptions": "ingest.cleaning",
    "DocOutcome": "ingest.pipeline",
    "IngestSummary": "ingest.pipeline",
    "Ingestor": "ingest.pipeline",
    "collect_documents": "ingest.local",
    "ingest_documents": "ingest.local",
    "Store": "ingest.local",
    "make_job_queue": "ingest.queues",
    "DocState": "ingest.registry",
    "DocumentRow": "ingest.registry",
    "Registry": "ingest.registry",
    "source_file": "ingest.registry",
    "build_report": "ingest.report",
    "DeadLetterRow": "ingest.jobs",
    "JobQueue": "ingest.jobs",
    "JobRow": "ingest.jobs",
    "failure_reason": "ingest.jobs",
    "QUEUE_NAME": "ingest.jobs_celery",
    "TASK_NAME": "ingest.jobs_celery",
    "CeleryJobQueue": "ingest.jobs_celery",
    "InlineParser": "ingest.jobs_celery",
    "UploadBlobRow": "ingest.jobs_celery",
    "WorkerRuntime": "ingest.jobs_celery",
    "make_celery": "ingest.jobs_celery",
    "run_document": "ingest.jobs_celery",
    "set_runtime": "ingest.jobs_celery",
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
    "Store",
    "TableGrid",
    "UploadBlobRow",
    "WorkerRuntime",
    "build_report",
    "collect_documents",
    "doc_id_for",
    "failure_reason",
    "ingest_documents",
    "make_celery",
    "make_job_queue",
    "normalize_acl",
    "run_document",
    "set_runtime",
    "source_file",
    "token_counter",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
