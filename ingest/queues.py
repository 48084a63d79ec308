"""Choosing the ingest job queue by ``queue.backend``: the in-process thread or Celery.

Both are a :class:`~ingest.jobs.JobQueue`; :func:`make_job_queue` looks the name up in
:data:`QUEUE_BACKENDS` (:func:`core.choose_backend`), as the index, embedder and LLM are
chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from core import Settings, choose_backend
from ingest.jobs import JobQueue

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.pipeline import DocOutcome, Ingestor


class QueueFactory(Protocol):
    """Builds a queue backend; :class:`JobQueue` itself is one."""

    def __call__(
        self,
        settings: Settings,
        engine: Engine,
        make_ingestor: Callable[[], Ingestor],
        *,
        on_outcome: Callable[[DocOutcome], None] | None = None,
        after_jobs: Callable[[], None] | None = None,
    ) -> JobQueue: ...


def _celery(
    settings: Settings,
    engine: Engine,
    make_ingestor: Callable[[], Ingestor],
    *,
    on_outcome: Callable[[DocOutcome], None] | None = None,
    after_jobs: Callable[[], None] | None = None,
) -> JobQueue:
    """Documents run on ``deepwell worker`` processes, which build their own ingestors and
    optimize their own index: the in-process hooks have nothing to run here."""
    from ingest.jobs_celery import CeleryJobQueue  # Celery loads only when chosen

    return CeleryJobQueue(settings, engine)


#: The job queues by ``queue.backend`` name.
QUEUE_BACKENDS: dict[str, QueueFactory] = {"inprocess": JobQueue, "celery": _celery}


def make_job_queue(
    settings: Settings,
    engine: Engine,
    make_ingestor: Callable[[], Ingestor],
    *,
    on_outcome: Callable[[DocOutcome], None] | None = None,
    after_jobs: Callable[[], None] | None = None,
) -> JobQueue:
    """The job queue ``queue.backend`` names, not started yet (see :meth:`JobQueue.start`).

    :param make_ingestor: builds the in-process worker's ingestor on its first job.
    :param on_outcome: sees each document's outcome (in-process only).
    :param after_jobs: runs when the in-process queue drains after a change.
    :raises core.errors.ConfigError: no queue backend of that name (the valid ones listed).
    """
    build = choose_backend("queue.backend", settings.queue.backend, QUEUE_BACKENDS)
    return build(settings, engine, make_ingestor, on_outcome=on_outcome, after_jobs=after_jobs)
