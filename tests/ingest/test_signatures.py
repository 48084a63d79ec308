"""Near-duplicate signatures in the registry database (ingest.signatures), on SQLite and
PostgreSQL: seen by every store on the same database, replaced with a new version,
forgotten with the document, and one document's cleaning at a time per scope."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core import Settings, make_engine, upgrade_schema
from ingest.chunking import ChunkDraft
from ingest.cleaning import CleaningOptions, clean_chunks
from ingest.registry import Registry
from ingest.signatures import SignatureStore

#: About 80 words; its near copy changes the last word (one shingle of ~78).
PASSAGE = (
    "The regional warehouse in Tampere received forty pallets of insulated cable on "
    "Monday morning, and the night shift counted every reel against the delivery note "
    "before the trucks left. Two reels were damaged in transit, so the supplier agreed to "
    "replace them free of charge within ten working days, and the site manager asked the "
    "planning team to move the Oulu installation back by one week so that the crews would "
    "not wait on site for missing material during the first phase of the project in spring"
)
NEAR = PASSAGE.removesuffix("spring") + "summer"
OTHER = " ".join(reversed(PASSAGE.split()))
OPTIONS = CleaningOptions()  # the defaults: flag at an estimated Jaccard of 0.9


def chunks(*texts: str) -> list[ChunkDraft]:
    return [ChunkDraft(text=t, chunk_index=i) for i, t in enumerate(texts)]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    made = make_engine(Settings(data_dir=tmp_path / "data", database={"url": url}))
    upgrade_schema(made)
    yield made
    made.dispose()


def clean(store: SignatureStore, doc_id: str, *texts: str, scope: str = "s") -> list[ChunkDraft]:
    with store.document("acme", scope, doc_id) as near:
        return clean_chunks(chunks(*texts), doc_id=doc_id, near_index=near, options=OPTIONS).chunks


def test_a_near_duplicate_is_found_by_another_store_on_the_same_database(
    engine: Engine,
) -> None:
    """Two stores stand for two worker processes: the second finds the first's chunk."""
    one, two = SignatureStore(engine), SignatureStore(engine)
    assert [c.near_duplicate_of for c in clean(one, "a", PASSAGE, OTHER)] == [None, None]
    assert [c.near_duplicate_of for c in clean(two, "b", NEAR)] == ["a#0"]
    assert clean(two, "c", NEAR, scope="other")[0].near_duplicate_of is None  # other readers
    # A new version of a replaces a's signatures: it matches b's copy, not itself.
    assert clean(one, "a", PASSAGE)[0].near_duplicate_of == "b#0"
    assert one.count("acme") == 3  # a#0, b#0, c#0


def test_within_a_document_and_dropped_chunks_are_not_stored(engine: Engine) -> None:
    store = SignatureStore(engine)
    kept = clean(store, "a", PASSAGE, NEAR)
    assert [c.near_duplicate_of for c in kept] == [None, "a#0"]
    drop = CleaningOptions(near_duplicates="drop")
    with store.document("acme", "s", "b") as near:
        result = clean_chunks(chunks(NEAR, OTHER), doc_id="b", near_index=near, options=drop)
    assert [c.text for c in result.chunks] == [OTHER]
    assert store.count() == 3  # a#0, a#1, b#0 (OTHER); the dropped copy is not stored


def test_signatures_go_with_the_document_and_with_a_failed_cleaning(engine: Engine) -> None:
    store = SignatureStore(engine)
    clean(store, "a", PASSAGE)
    Registry(engine).remove("a")
    assert clean(store, "b", NEAR)[0].near_duplicate_of is None
    store.forget("b")
    assert store.count() == 0

    def fails_while_cleaning() -> None:
        with store.document("acme", "s", "c") as near:
            clean_chunks(chunks(PASSAGE), doc_id="c", near_index=near, options=OPTIONS)
            raise RuntimeError("the write failed")

    with pytest.raises(RuntimeError):
        fails_while_cleaning()
    assert store.count() == 0  # nothing written by a cleaning that raised


def test_two_workers_cleaning_at_once_take_turns(engine: Engine) -> None:
    """While one cleaning holds the scope, another waits, then sees what the first kept;
    without the lock both would read the scope before either wrote, and neither match."""
    store_a, store_b = SignatureStore(engine), SignatureStore(engine)
    a_cleaned, release_a, b_starting, b_entered = (threading.Event() for _ in range(4))
    found: list[str | None] = []
    errors: list[BaseException] = []

    def worker_a() -> None:
        try:
            with store_a.document("acme", "s", "a") as near:
                clean_chunks(chunks(PASSAGE), doc_id="a", near_index=near, options=OPTIONS)
                a_cleaned.set()
                release_a.wait(30)
        except BaseException as exc:  # asserted on below
            errors.append(exc)

    def worker_b() -> None:
        try:
            b_starting.set()
            with store_b.document("acme", "s", "b") as near:
                b_entered.set()
                result = clean_chunks(chunks(NEAR), doc_id="b", near_index=near, options=OPTIONS)
                found.append(result.chunks[0].near_duplicate_of)
        except BaseException as exc:  # asserted on below
            errors.append(exc)

    a = threading.Thread(target=worker_a)
    a.start()
    assert a_cleaned.wait(30)
    b = threading.Thread(target=worker_b)
    b.start()
    assert b_starting.wait(30)
    assert not b_entered.wait(1.0)  # b waits for a's transaction
    release_a.set()
    a.join(30)
    b.join(30)
    assert errors == []
    assert found == ["a#0"]
