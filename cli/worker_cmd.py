"""``deepwell worker``: a Celery worker running ingest tasks (the scaled deployment)."""

from __future__ import annotations

from typing import Literal

import typer

from cli.common import console, load_settings

Pool = Literal["prefork", "solo"]


def worker(
    concurrency: int = typer.Option(
        1, "--concurrency", "-c", min=1, help="Worker processes (prefork pool)."
    ),
    pool: str = typer.Option(
        "prefork",
        help="prefork: child processes, time limits enforced, a killed child's task is "
        "redelivered; solo: the task runs in this process (debugging).",
    ),
    loglevel: str = typer.Option("info", help="Celery's log level."),
) -> None:
    """Run ingest tasks from queue.broker_url until stopped (Ctrl-C: finish, then exit).

    Every worker process opens the configured index: use the `qdrant` server backend
    for more than one process; the embedded index admits one (`--concurrency 1`).
    """
    from ingest import QUEUE_NAME, make_celery

    if pool not in ("prefork", "solo"):
        raise typer.BadParameter("pool must be prefork or solo")
    settings = load_settings(quiet=False)
    if settings.index.backend == "edge" and concurrency > 1:
        console.print(
            "[red]refusing to start:[/red] the embedded index admits one process; "
            "use --concurrency 1 or index.backend = 'qdrant'"
        )
        raise typer.Exit(2)
    app = make_celery(settings, worker=True)
    console.print(f"deepwell worker: {concurrency} × {pool} on queue {QUEUE_NAME}")
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--loglevel={loglevel.upper()}",
            f"--queues={QUEUE_NAME}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
