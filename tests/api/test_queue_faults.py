"""Faults with real ``deepwell worker`` processes on a real Redis.

A worker killed with SIGKILL in the middle of a document, and a Redis restart during
ingestion: every document ends indexed exactly once (points = registry chunk ids, one
job count per document). The worker owns the embedded index while it runs; the test
opens the index only after the last worker has exited (the index admits one process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import Principal, Settings, ensure_schema, make_engine
from ingest import CeleryJobQueue, DocState, DocumentRow, doc_id_for
from retrieval import Filter, MatchValue, open_index
from testkit import RedisServer

CALLER = Principal(user="ann", tenant="acme", groups=("finance",))


def _doc(i: int, sections: int) -> bytes:
    return "\n\n".join(
        f"## Part {j} of report {i}\n\nRegion {j} of unit {i} sold {i * 100 + j} units "
        f"of model {j * 13 + i}, {j % 7 + 2} percent above plan, with returns of {j % 5}."
        for j in range(sections)
    ).encode()


class Cluster:
    """A data directory, its database and queue, and worker processes started on demand."""

    def __init__(self, root: Path, broker: str) -> None:
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DEEPWELL_") or k == "DEEPWELL_MODELS__CACHE_DIR"
        }
        self.env |= {
            "DEEPWELL_DATA_DIR": str(root / "data"),
            "DEEPWELL_QUEUE__BACKEND": "celery",
            "DEEPWELL_QUEUE__BROKER_URL": broker,
            "DEEPWELL_QUEUE__VISIBILITY_TIMEOUT_S": "3",  # a lost worker's task returns fast
            "DEEPWELL_QUEUE__RETRY_BACKOFF_S": "0.5",
            "DEEPWELL_INGEST__NEAR_DUPLICATES": "off",
        }
        self.root = root
        self.settings = Settings(
            data_dir=root / "data",
            queue={"backend": "celery", "broker_url": broker, "visibility_timeout_s": 3},
        )
        self.engine = make_engine(self.settings)
        ensure_schema(self.engine, self.settings)
        self.jobs = CeleryJobQueue(self.settings, self.engine)
        self.log = open(root / "worker.log", "ab")  # noqa: SIM115  (closed in close())

    def worker(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "cli", "worker", "--concurrency", "1"]
        return subprocess.Popen(
            cmd,
            env=self.env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as a whole
        )

    def upload(self, i: int, sections: int) -> str:
        name = f"report-{i}.md"
        uri = f"upload://acme/{name}"
        doc_id = doc_id_for("acme", uri)
        path = self.jobs.store_upload(doc_id, name, _doc(i, sections))
        return self.jobs.submit_upload(
            CALLER,
            None,
            doc_id=doc_id,
            path=path,
            filename=name,
            source_uri=uri,
            acl=["group:finance"],
            metadata={},
        ).job_id

    def states(self) -> dict[str, DocState]:
        with Session(self.engine) as s:
            return {r.doc_id: r.state for r in s.scalars(select(DocumentRow))}

    def wait_done(self, job_ids: list[str], timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            rows = [self.jobs.get(j) for j in job_ids]
            if all(r is not None and r.status in ("done", "failed") for r in rows):
                return time.monotonic() - started
            time.sleep(0.2)
        tail = (self.root / "worker.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"jobs not finished in {timeout} s; worker log:\n{tail}")

    def check_exactly_once(self, job_ids: list[str]) -> int:
        """Every job done, each document counted once, points = the registry's chunk ids."""
        rows = [self.jobs.get(j) for j in job_ids]
        assert all(r is not None and r.status == "done" for r in rows), [
            (r.status, r.error) for r in rows if r is not None
        ]
        assert all(r is not None and r.processed == 1 for r in rows)
        index = open_index(self.settings)  # the workers have exited: ours alone now
        try:
            total = 0
            with Session(self.engine) as s:
                docs = s.scalars(select(DocumentRow)).all()
            assert len(docs) == len(job_ids)
            for doc in docs:
                assert doc.state == DocState.indexed
                points = index.count(Filter(must=[MatchValue("doc_id", doc.doc_id)]))
                assert points == len(doc.chunk_ids) > 0
                total += points
            assert index.count() == total  # nothing left over from an interrupted write
            return total
        finally:
            index.close()

    def close(self) -> None:
        self.jobs.close()
        self.engine.dispose()
        self.log.close()


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    made = Cluster(tmp_path, redis_url)
    yield made
    made.close()


def test_a_worker_killed_mid_document_loses_and_duplicates_nothing(cluster: Cluster) -> None:
    jobs = [cluster.upload(i, sections=120 if i == 0 else 10) for i in range(4)]
    doc0 = doc_id_for("acme", "upload://acme/report-0.md")
    first = cluster.worker()
    try:
        deadline = time.monotonic() + 90
        while cluster.states().get(doc0) != DocState.discovered:  # the pipeline has begun it
            assert time.monotonic() < deadline, "the worker never started the document"
            assert first.poll() is None, "the worker exited"
            time.sleep(0.05)
        in_flight = sum(
            1 for j in jobs if (r := cluster.jobs.get(j)) is not None and r.status != "done"
        )
        _stop(first, signal.SIGKILL)  # parent and pool child, no chance to clean up
        killed_at = time.monotonic()
        second = cluster.worker()
        recovered = cluster.wait_done(jobs, timeout=120)
        print(f"\nSIGKILL: {in_flight} documents in flight, all done {recovered:.1f} s later")
        assert time.monotonic() - killed_at < 120
    finally:
        _stop(first, signal.SIGKILL)
        if "second" in locals():
            _stop(second)
    points = cluster.check_exactly_once(jobs)
    print(f"points {points}")


def test_a_redis_restart_during_ingestion_loses_and_duplicates_nothing(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    jobs = [cluster.upload(i, sections=40) for i in range(6)]
    worker = cluster.worker()
    try:
        deadline = time.monotonic() + 90
        while not any(s == DocState.indexed for s in cluster.states().values()):
            assert time.monotonic() < deadline, "nothing was indexed"
            assert worker.poll() is None, "the worker exited"
            time.sleep(0.05)
        indexed = sum(1 for s in cluster.states().values() if s == DocState.indexed)
        redis_server.stop()
        down = time.monotonic()
        time.sleep(2.0)
        redis_server.start()
        recovered = cluster.wait_done(jobs, timeout=120)
        print(
            f"\nRedis restart: {len(jobs) - indexed} of {len(jobs)} documents in flight, "
            f"all done {time.monotonic() - down:.1f} s after Redis stopped ({recovered:.1f} s "
            "after it was back)"
        )
    finally:
        _stop(worker)
    cluster.check_exactly_once(jobs)
