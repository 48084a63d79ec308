"""Near duplicates across Celery workers: real ``deepwell worker`` processes on a real Redis.

Worker A ingests a document and exits; worker B, another process with its own embedded
index, then ingests a near copy of it. B flags its chunk as a near duplicate of A's: the
signatures A kept are in the shared database (ingest.signatures), not in A's memory.
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

from core import Principal, Settings, ensure_schema, make_engine
from ingest.jobs_celery import CeleryJobQueue
from ingest.sources import doc_id_for
from retrieval import Filter, MatchValue, open_index

REPO = Path(__file__).resolve().parents[2]
CALLER = Principal(user="ann", tenant="acme", groups=("ops",))
#: About 80 words; the near copy changes its last word (one shingle of ~78).
PASSAGE = (
    "The regional warehouse in Tampere received forty pallets of insulated cable on "
    "Monday morning, and the night shift counted every reel against the delivery note "
    "before the trucks left. Two reels were damaged in transit, so the supplier agreed to "
    "replace them free of charge within ten working days, and the site manager asked the "
    "planning team to move the Oulu installation back by one week so that the crews would "
    "not wait on site for missing material during the first phase of the project in spring"
)


class Workers:
    """One database and queue; worker processes with an embedded index each."""

    def __init__(self, root: Path, broker: str) -> None:
        self.root = root
        self.settings = Settings(
            data_dir=root / "data", queue={"backend": "celery", "broker_url": broker}
        )
        self.engine = make_engine(self.settings)
        ensure_schema(self.engine, self.settings)
        self.jobs = CeleryJobQueue(self.settings, self.engine)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DEEPWELL_") or k == "DEEPWELL_MODELS__CACHE_DIR"
        } | {
            "DEEPWELL_DATA_DIR": str(root / "data"),
            "DEEPWELL_QUEUE__BACKEND": "celery",
            "DEEPWELL_QUEUE__BROKER_URL": broker,
        }

    def index_path(self, name: str) -> Path:
        return self.root / f"index-{name}"

    def ingest_with(self, name: str, filename: str, text: str) -> str:
        """Start worker ``name``, ingest one document with it, stop it; the doc_id."""
        log = (self.root / f"worker-{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", "--concurrency", "1"],
            env=self.env | {"DEEPWELL_INDEX__PATH": str(self.index_path(name))},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            uri = f"upload://acme/{filename}"
            doc_id = doc_id_for("acme", uri)
            path = self.jobs.store_upload(doc_id, filename, text.encode())
            job = self.jobs.submit_upload(
                CALLER,
                None,
                doc_id=doc_id,
                path=path,
                filename=filename,
                source_uri=uri,
                acl=["group:ops"],
                metadata={},
            )
            self._wait(job.job_id, name)
            return doc_id
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
            log.close()

    def _wait(self, job_id: str, name: str, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.jobs.get(job_id)
            if row is not None and row.status in ("done", "failed"):
                assert row.status == "done", row.error
                return
            time.sleep(0.2)
        tail = (self.root / f"worker-{name}.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"job not finished in {timeout} s; worker {name} log:\n{tail}")

    def payloads(self, name: str, doc_id: str) -> list[dict[str, object]]:
        """The payloads of ``doc_id``'s points in worker ``name``'s index (it has exited)."""
        index = open_index(
            Settings(data_dir=self.root / "data", index={"path": self.index_path(name)})
        )
        try:
            points = index.scroll(Filter(must=[MatchValue("doc_id", doc_id)]), with_payload=True)
            return [dict(p.payload) for p in points]
        finally:
            index.close()

    def close(self) -> None:
        self.jobs.close()
        self.engine.dispose()


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[Workers]:
    made = Workers(tmp_path, redis_url)
    yield made
    made.close()


def test_a_near_duplicate_is_found_across_documents_parsed_by_different_workers(
    workers: Workers,
) -> None:
    first = workers.ingest_with("a", "tampere.md", PASSAGE + "\n")
    second = workers.ingest_with(
        "b", "tampere-copy.md", PASSAGE.removesuffix("spring") + "summer\n"
    )
    # Each document went through its own worker process: its points are in that index only.
    assert len(workers.payloads("a", first)) == 1
    assert workers.payloads("b", first) == []
    (copy,) = workers.payloads("b", second)
    assert copy["near_duplicate_of"] == f"{first}#0"
