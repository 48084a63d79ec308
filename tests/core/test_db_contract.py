"""The database contract: the same tests against SQLite and a real PostgreSQL server.

Every store on ``core.db.Base`` is exercised through its public methods (document
registry, API keys, answers/feedback/conversations, ingest jobs), after the schema
is built by the migrations (``alembic upgrade head``), never by ``create_all``.
PostgreSQL runs from Debian's binaries (``testkit.pgserver``); it skips where they are missing.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from api import KeyStore
from core import AuthenticationError, NotFoundError, Settings
from core.db import make_engine
from core.migrate import current_revision, head_revision, upgrade_schema
from core.types import Principal
from ingest import DocState, JobQueue, Registry
from retrieval import AnswerResult, Records, SqlConversationStore, Turn

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each backend."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    settings = Settings(data_dir=tmp_path / "data", database={"url": url})
    made = make_engine(settings)
    upgrade_schema(made)
    yield made
    made.dispose()


ANN = Principal(user="ann", groups=("eng",), tenant="acme", role="writer")
BOB = Principal(user="bob", tenant="acme")


def _parallel(n: int, work: Callable[[int], Any]) -> list[BaseException]:
    """Run ``work(i)`` for i in range(n) on n threads at once; the exceptions raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        try:
            work(i)
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


# --- schema -------------------------------------------------------------------------------


def test_migrated_to_head_and_upgrade_is_idempotent(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert upgrade_schema(engine) is False


def test_concurrent_upgrades_of_a_fresh_database_migrate_once(
    request: pytest.FixtureRequest, tmp_path: Path, engine: Engine
) -> None:
    # A second, empty database of the same backend, migrated by two "replicas" at once.
    if engine.dialect.name == "postgresql":
        settings = Settings(data_dir=tmp_path, database={"url": request.getfixturevalue("pg_url")})
    else:
        settings = Settings(data_dir=tmp_path / "fresh")
    fresh = make_engine(settings)
    try:
        errors = _parallel(2, lambda _: upgrade_schema(fresh))
        assert errors == []
        assert current_revision(fresh) == head_revision()
    finally:
        fresh.dispose()


# --- the document registry ----------------------------------------------------------------


def test_registry_round_trip(engine: Engine) -> None:
    reg = Registry(engine)
    reg.upsert(
        "d1",
        tenant="acme",
        source_uri="file:///a/one.md",
        filename="one.md",
        state=DocState.parsed,
        acl=["group:eng"],
        meta={"lang": "en", "n": 1},
        timings={"parse": 0.5},
    )
    reg.upsert(
        "d2",
        tenant="acme",
        source_uri="file:///b/two.md",
        filename="two.md",
        state=DocState.failed,
        error="boom",
    )
    reg.upsert(
        "d3",
        tenant="other",
        source_uri="file:///a/three.md",
        filename="three.md",
        state=DocState.parsed,
    )
    row = reg.get("d1")
    assert row is not None
    assert (row.acl, row.meta, row.timings) == (
        ["group:eng"],
        {"lang": "en", "n": 1},
        {"parse": 0.5},
    )
    assert row.updated_at.tzinfo is not None or engine.dialect.name == "sqlite"
    assert [r.doc_id for r in reg.documents(tenant="acme")] == ["d1", "d2"]
    assert [r.doc_id for r in reg.documents(states=[DocState.failed])] == ["d2"]
    assert [r.doc_id for r in reg.documents(uri_prefix="file:///a/")] == ["d1", "d3"]
    assert [r.doc_id for r in reg.documents(limit=1, offset=1)] == ["d3"]  # by source_uri
    # LIKE wildcards in the prefix are literal.
    assert reg.documents(uri_prefix="file:///%") == []

    reg.commit_indexed("d1", owned=["k1", "k2"], duplicates={"k9": "d3"}, chunk_ids=["c1", "c2"])
    row = reg.get("d1")
    assert row is not None
    assert row.state is DocState.indexed
    assert row.indexed_at is not None
    assert reg.owners("acme", ["k1", "k2", "k3"]) == {"k1": "d1", "k2": "d1"}
    assert reg.owners("other", ["k1"]) == {}
    assert reg.dependents("d3") == ["d1"]
    reg.release("d1")
    assert reg.owners("acme", ["k1"]) == {}
    reg.remove("d1")
    assert reg.get("d1") is None
    assert reg.dependents("d3") == []


def test_registry_owners_in_batches(engine: Engine) -> None:
    reg = Registry(engine)
    reg.upsert("d1", tenant="t", source_uri="u", filename="f", state=DocState.parsed)
    keys = [f"{i:064d}" for i in range(1200)]
    reg.commit_indexed("d1", owned=keys, duplicates={})
    assert len(reg.owners("t", [*keys, "missing"])) == 1200


def test_two_writers_upserting_the_same_documents(engine: Engine) -> None:
    reg = Registry(engine)
    ids = [f"doc-{i}" for i in range(10)]

    def writer(w: int) -> None:
        for doc_id in ids:
            reg.upsert(
                doc_id,
                tenant="t",
                source_uri=f"u/{doc_id}",
                filename="f",
                state=DocState.parsed,
                attempts=w,
            )

    assert _parallel(2, writer) == []
    rows = reg.documents(tenant="t")
    assert sorted(r.doc_id for r in rows) == ids
    assert {r.attempts for r in rows} <= {0, 1}


# --- API keys -----------------------------------------------------------------------------


def test_keys_create_authenticate_revoke(engine: Engine) -> None:
    keys = KeyStore(engine)
    info, secret = keys.create(
        user="ann", groups=["group:eng", "ops"], tenant="acme", role="writer"
    )
    caller = keys.authenticate(secret)
    assert caller.principal == Principal(
        user="ann", groups=("eng", "ops"), tenant="acme", role="writer"
    )
    assert keys.count_active() == 1
    assert [k.key_id for k in keys.list()] == [info.key_id]
    keys.revoke(info.prefix)
    assert keys.count_active() == 0
    assert keys.list() == []
    assert keys.list(include_revoked=True)[0].revoked_at is not None
    with pytest.raises(AuthenticationError, match=r"^invalid API key$"):  # as for unknown keys
        keys.authenticate(secret)
    with pytest.raises(NotFoundError):
        keys.revoke("dw_nothere")


def test_keys_created_by_concurrent_writers_are_all_kept(engine: Engine) -> None:
    keys = KeyStore(engine)
    secrets: list[str] = []
    assert _parallel(4, lambda i: secrets.append(keys.create(user=f"u{i}")[1])) == []
    assert keys.count_active() == 4
    assert {keys.authenticate(s).principal.user for s in secrets} == {"u0", "u1", "u2", "u3"}


# --- answers, feedback, conversations -----------------------------------------------------


def _answer(question: str = "What is hot storage?") -> AnswerResult:
    return AnswerResult(
        answer_id=str(uuid.uuid4()),
        question=question,
        query=question,
        answer="2 cents [1].",
        citations=[],
        context=[],
        no_answer=False,
        model={"backend": "extractive"},
        context_text="[1] Hot storage costs 2 cents.",
    )


def test_answers_and_feedback(engine: Engine) -> None:
    records = Records(engine)
    first = _answer()
    records.record_answer(first, ANN, key_id=None)
    assert records.answer_of(first.answer_id, ANN).context_text.startswith("[1]")
    with pytest.raises(NotFoundError):
        records.answer_of(first.answer_id, BOB)
    with pytest.raises(NotFoundError):
        records.give_feedback(first.answer_id, BOB, rating="up", comment=None, correction=None)
    records.give_feedback(
        first.answer_id, ANN, rating="down", comment="wrong", correction="3 cents"
    )
    records.give_feedback(first.answer_id, ANN, rating="up", comment=None, correction=None)
    second = _answer("And cold?")
    records.record_answer(second, ANN, key_id="k1")
    records.give_feedback(second.answer_id, ANN, rating="down", comment=None, correction=None)
    pairs = list(records.feedback(tenant="acme", batch=1))
    assert [(p.answer.answer_id, p.feedback.rating) for p in pairs] == [
        (first.answer_id, "up"),
        (second.answer_id, "down"),
    ]
    assert [p.answer.answer_id for p in records.feedback(tenant="acme", rating="down")] == [
        second.answer_id
    ]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert list(records.feedback(tenant="acme", since=later)) == []
    assert list(records.feedback(tenant="acme", user="bob")) == []


def test_conversations(engine: Engine) -> None:
    store = SqlConversationStore(engine, max_turns=3)
    store.append(
        "c1", ANN, [Turn("user", "q1", query="q1"), Turn("assistant", "a1", answer_id="x")]
    )
    store.append("c1", ANN, [Turn("user", "q2"), Turn("assistant", "a2")])
    assert [t.content for t in store.history("c1", ANN)] == ["a1", "q2", "a2"]
    assert store.history("c1", BOB) == []
    with pytest.raises(NotFoundError):
        store.delete("c1", BOB)
    store.delete("c1", ANN)
    assert store.history("c1", ANN) == []


# --- ingest jobs --------------------------------------------------------------------------


@pytest.fixture
def queue(engine: Engine, tmp_path: Path) -> JobQueue:
    """A job queue on the database, its worker thread not started (the tests claim)."""
    return JobQueue(Settings(data_dir=tmp_path / "data"), engine, make_ingestor=lambda: None)  # type: ignore[arg-type, return-value]


def _submit(queue: JobQueue, n: int) -> list[str]:
    ids = []
    for i in range(n):
        path = queue.store_upload(f"doc-{i}", f"f{i}.md", b"text")
        row = queue.submit_upload(
            ANN,
            None,
            doc_id=f"doc-{i}",
            path=path,
            filename=f"f{i}.md",
            source_uri=f"u{i}",
            acl=[],
            metadata={},
        )
        ids.append(row.job_id)
    return ids


def test_jobs_submit_claim_in_order_and_cancel(queue: JobQueue) -> None:
    ids = _submit(queue, 3)
    assert queue.queued() == 3
    assert queue.cancel_for_document("doc-2") == 1
    first = queue._claim()
    assert first is not None
    assert first.job_id == ids[0]
    assert (first.status, first.attempts) == ("running", 1)
    second = queue._claim()
    assert second is not None
    assert second.job_id == ids[1]
    assert queue._claim() is None
    cancelled = queue.get(ids[2])
    assert cancelled is not None
    assert cancelled.status == "cancelled"


def test_two_workers_never_claim_the_same_job(queue: JobQueue) -> None:
    ids = _submit(queue, 30)
    claimed: list[list[str]] = [[], []]

    def worker(w: int) -> None:
        while (job := queue._claim()) is not None:
            claimed[w].append(job.job_id)

    assert _parallel(2, worker) == []
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)
    assert not set(claimed[0]) & set(claimed[1])
