"""Ingest throughput of the Celery queue backend with 1, 2 and 4 worker processes.

Run: ``.venv/bin/python -m bench.queue_throughput [--docs DIR] [--limit N] [--workers 1,2,4]``.

The scaled stack, for real: PostgreSQL (job rows, registry, upload bytes) and Redis (the
broker) started from their Debian binaries (``testkit``, as the tests start them),
the uploads submitted through :class:`~ingest.jobs_celery.CeleryJobQueue` exactly as the API
does, and N ``celery worker`` processes (solo pool, one per process) running the ingest
task. The corpus: ``--generated`` markdown reports (default 40), or the first ``--limit``
PDFs of ``--docs`` (e.g. ../shared/data/sec-10q/docs).

**Each worker process writes to its own embedded index** (``index.path`` per worker):
the embedded engine admits one process, and no Qdrant server runs here. So this measures
parse + chunk + embed scaling with a per-worker, uncontended writer; a shared Qdrant
server would add its own write cost (bench/queue_sim.py models that writer). Near-duplicate
detection is off (it searches the index, which here is per worker). Each worker gets
``cores // N`` onnxruntime threads (at least 1), as a deployment on one machine would.

The clock starts after every worker has loaded its models and is consuming, and stops
when the last job is done. Per-document stage seconds come from the registry (each
worker records them), and are written to ``--out`` (JSON) for bench/queue_sim.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import core  # noqa: F401  (first: telemetry off before third-party imports)
from core import Settings

STAGES = ("parse", "chunk", "clean", "embed", "write")
READY = "BENCH-WORKER-READY"


def generated_corpus(n: int) -> list[tuple[str, bytes]]:
    """``n`` markdown reports of ~25 sections each: distinct numbers, so no two chunks match."""
    docs = []
    for i in range(n):
        parts = [f"# Operations report {i}\n"]
        for j in range(25):
            parts.append(
                f"## Region {j} of unit {i}\n\nUnit {i} shipped {i * 1000 + j * 37} orders in "
                f"region {j} this quarter, {j % 9 + 1} percent above plan. Returns stood at "
                f"{(i + j) % 7} per thousand; the backlog of model {i * 31 + j} was cleared in "
                f"{j % 5 + 2} weeks after the supplier in district {i + j * 3} doubled output. "
                f"Staff turnover was {(i * j) % 11} percent and overtime fell by {j % 4 + 1} hours."
            )
        docs.append((f"report-{i:03d}.md", "\n\n".join(parts).encode()))
    return docs


def pdf_corpus(folder: Path, limit: int) -> list[tuple[str, bytes]]:
    files = sorted(folder.glob("*.pdf"))[:limit]
    return [(p.name, p.read_bytes()) for p in files]


# --- a worker process -----------------------------------------------------------------------


def worker_main(name: str) -> None:
    """One worker process: build the runtime (models loaded) first, then consume."""
    from celery.signals import worker_ready

    from ingest.jobs_celery import QUEUE_NAME, WorkerRuntime, make_celery, set_runtime

    settings = Settings()
    runtime = WorkerRuntime.build(settings)
    runtime.ingestor.embedder.warm_up()
    set_runtime(runtime)

    @worker_ready.connect  # type: ignore[untyped-decorator]
    def _ready(**_: Any) -> None:
        print(READY, flush=True)

    app = make_celery(settings, worker=True)
    app.worker_main(
        [
            "worker",
            "--concurrency=1",
            "--pool=solo",
            "--loglevel=WARNING",
            f"--queues={QUEUE_NAME}",
            f"--hostname={name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


# --- the driver -----------------------------------------------------------------------------


def run_once(
    n: int, corpus: list[tuple[str, bytes]], work: Path, db_url: str, broker: str
) -> dict[str, Any]:
    """Ingest ``corpus`` with ``n`` worker processes; the measured numbers."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from core.migrate import ensure_schema
    from core.types import Principal
    from ingest.jobs import JobRow
    from ingest.jobs_celery import CeleryJobQueue
    from ingest.registry import DocState, DocumentRow
    from ingest.sources import doc_id_for

    root = work / f"n{n}"
    root.mkdir(parents=True)
    threads = max(1, (os.cpu_count() or 1) // n)
    queue = {"backend": "celery", "broker_url": broker}
    settings = Settings(data_dir=root / "data", database={"url": db_url}, queue=queue)
    engine = make_engine(settings)
    ensure_schema(engine, settings)
    jobs = CeleryJobQueue(settings, engine)
    base = {k: v for k, v in os.environ.items() if not k.startswith("DEEPWELL_")}
    if "DEEPWELL_MODELS__CACHE_DIR" in os.environ:
        base["DEEPWELL_MODELS__CACHE_DIR"] = os.environ["DEEPWELL_MODELS__CACHE_DIR"]
    procs: list[subprocess.Popen[str]] = []
    logs: list[Path] = []
    try:
        for i in range(n):
            env = base | {
                "DEEPWELL_DATA_DIR": str(root / "data"),
                "DEEPWELL_DATABASE__URL": db_url,
                "DEEPWELL_QUEUE__BACKEND": "celery",
                "DEEPWELL_QUEUE__BROKER_URL": broker,
                "DEEPWELL_INDEX__PATH": str(root / f"index-w{i}"),
                "DEEPWELL_EMBEDDING__THREADS": str(threads),
                "DEEPWELL_INGEST__NEAR_DUPLICATES": "off",
                "DEEPWELL_LOG_LEVEL": "warning",
            }
            log = root / f"worker-{i}.log"
            logs.append(log)
            with log.open("w") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bench.queue_throughput", "--worker", f"w{i}"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        text=True,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 300
        while not all(READY in p.read_text(errors="replace") for p in logs):
            for proc, log in zip(procs, logs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"worker exited: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("workers not ready in 300 s")
            time.sleep(0.2)

        caller = Principal(user="bench", tenant="bench", groups=())
        started = time.perf_counter()
        job_ids = []
        for name, data in corpus:
            uri = f"upload://bench/{name}"
            doc_id = doc_id_for("bench", uri)
            path = jobs.store_upload(doc_id, name, data)
            job = jobs.submit_upload(
                caller,
                None,
                doc_id=doc_id,
                path=path,
                filename=name,
                source_uri=uri,
                acl=["*"],
                metadata={},
            )
            job_ids.append(job.job_id)
        submitted = time.perf_counter() - started
        while True:
            with Session(engine) as s:
                rows = s.scalars(select(JobRow).where(JobRow.job_id.in_(job_ids))).all()
                if all(r.status not in ("queued", "running") for r in rows):
                    break
            if time.perf_counter() - started > 600:
                raise RuntimeError("jobs not done in 600 s")
            time.sleep(0.05)
        wall = time.perf_counter() - started
        failed = [r.error for r in rows if r.status != "done"]
        with Session(engine) as s:
            docs = s.scalars(select(DocumentRow).where(DocumentRow.state == DocState.indexed)).all()
            per_doc = [
                {
                    "pages": d.pages,
                    "chunks": len(d.chunk_ids),
                    **{k: float(d.timings.get(k, 0.0)) for k in STAGES},
                }
                for d in docs
            ]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        jobs.close()
        engine.dispose()
    pages = sum(d["pages"] for d in per_doc)
    return {
        "workers": n,
        "threads_per_worker": threads,
        "docs": len(per_doc),
        "failed": failed,
        "pages": pages,
        "chunks": sum(d["chunks"] for d in per_doc),
        "wall_s": wall,
        "submit_s": submitted,
        "docs_per_s": len(per_doc) / wall,
        "pages_per_s": pages / wall,
        "stage_s_per_doc": {k: sum(d[k] for d in per_doc) / max(1, len(per_doc)) for k in STAGES},
        "per_doc": per_doc,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, help="a folder of PDFs (default: generated markdown)")
    parser.add_argument("--limit", type=int, default=6, help="PDFs taken from --docs")
    parser.add_argument("--generated", type=int, default=40, help="generated markdown documents")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts")
    parser.add_argument("--out", type=Path, default=Path(".deepwell/bench/queue_throughput.json"))
    parser.add_argument("--worker", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0

    from core import configure_logging
    from testkit import (
        REDIS_MISSING,
        find_redis_server,
        postgres_unavailable,
        throwaway_postgres,
        throwaway_redis,
    )

    configure_logging("warning")
    if args.docs:
        corpus = pdf_corpus(args.docs, args.limit)
        label = f"{len(corpus)} PDFs from {args.docs}"
    else:
        corpus = generated_corpus(args.generated)
        label = f"{len(corpus)} generated markdown reports"
    if not corpus:
        print("no documents", file=sys.stderr)
        return 2
    counts = [int(x) for x in args.workers.split(",")]
    redis_bin = find_redis_server()
    reason = postgres_unavailable() or (None if redis_bin else REDIS_MISSING)
    if reason is not None:
        print(f"needs PostgreSQL and Redis: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="deepwell-qbench-"))
    results = []
    try:
        with throwaway_postgres() as pg, throwaway_redis(redis_bin) as redis:
            print(
                f"corpus: {label}; {os.cpu_count()} cores; Celery solo workers on Redis and "
                "PostgreSQL; ONE EMBEDDED INDEX PER WORKER (parse+chunk+embed, own writer)"
            )
            for n in counts:
                res = run_once(n, corpus, work, pg.create_database(), redis.url)
                results.append(res)
                if res["failed"]:
                    print(f"  N={n}: {len(res['failed'])} failed: {res['failed'][:3]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = results[0]
    print(
        f"{'N':>3} {'thr':>4} {'docs':>5} {'pages':>6} {'chunks':>7} {'wall s':>7} "
        f"{'docs/s':>7} {'pages/s':>8} {'× N=1':>6}  per-doc s (parse/chunk/embed/write)"
    )
    for r in results:
        st = r["stage_s_per_doc"]
        print(
            f"{r['workers']:>3} {r['threads_per_worker']:>4} {r['docs']:>5} {r['pages']:>6} "
            f"{r['chunks']:>7} {r['wall_s']:>7.2f} {r['docs_per_s']:>7.2f} "
            f"{r['pages_per_s']:>8.2f} {r['docs_per_s'] / base['docs_per_s']:>6.2f}  "
            f"{st['parse']:.3f}/{st['chunk']:.3f}/{st['embed']:.3f}/{st['write']:.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"corpus": label, "cores": os.cpu_count(), "runs": results}))
    print(f"wrote {args.out} (bench/queue_sim.py reads it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
