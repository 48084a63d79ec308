"""Reading the corpus a principal may read: never a chunk outside its permissions.

:func:`retrieval.passages.readable_chunks` is how evaluation reads the corpus (question
sets, fine-tuning samples, reference documents), so the ACL is applied inside retrieval
and not by each caller. Hypothesis draws random corpora (tenants, ACLs from a pool of
users and groups, ``"*"`` sometimes, a chunk now and then with an ACL of its own), a
random principal (admin widens nothing), a document subset that names other tenants'
documents too, and a limit. On both backends: every chunk returned, and every hit the
engine hands over (seen by a spy, so the Python re-check cannot hide a bad engine filter),
is readable; with no limit exactly the readable chunks come back (so the property cannot
pass by returning nothing). An engine that ignores the filter altogether is still caught
by the re-check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_testkit import BACKENDS, HashEmbedder, loaded_index, open_backend, payload, points

from core import Principal
from retrieval.acl import can_read
from retrieval.index import Filter, Hit, VectorIndex
from retrieval.passages import readable_chunks

USERS = ("ann", "bob", "cy")
GROUPS = ("fin", "legal", "ops")
TENANTS = ("t1", "t2")
ACL_POOL = (*(f"user:{u}" for u in USERS), *(f"group:{g}" for g in GROUPS), "*")
DOC_IDS = tuple(f"d{i}" for i in range(5))

acls = st.lists(st.sampled_from(ACL_POOL), unique=True, max_size=3)


@st.composite
def corpora(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Payloads of 1-5 documents (ids shared across tenants) of 1-3 chunks each."""
    payloads = []
    for doc_id in DOC_IDS[: draw(st.integers(1, len(DOC_IDS)))]:
        tenant, acl = draw(st.sampled_from(TENANTS)), draw(acls)
        for i in range(draw(st.integers(1, 3))):
            own = draw(st.one_of(st.none(), acls)) if draw(st.integers(0, 4)) == 0 else None
            payloads.append(
                payload(
                    doc_id, i, f"text {doc_id} {i}", tenant=tenant, acl=acl if own is None else own
                )
            )
    return payloads


principals = st.builds(
    Principal,
    user=st.sampled_from(USERS),
    groups=st.lists(st.sampled_from(GROUPS), unique=True, max_size=2).map(tuple),
    tenant=st.sampled_from(TENANTS),
    role=st.sampled_from(("reader", "writer", "admin")),
)
doc_subsets = st.one_of(st.none(), st.lists(st.sampled_from(DOC_IDS), max_size=4))
limits = st.one_of(st.none(), st.integers(0, 20))


def readable(who: Principal, p: dict[str, Any], doc_ids: list[str] | None) -> bool:
    """What the function must mean, independently of the filter language."""
    return can_read(who, p) and (doc_ids is None or p["doc_id"] in doc_ids)


class Spy:
    """Records every hit the engine returns; ``leaky`` drops the filter (a broken engine)."""

    def __init__(self, inner: VectorIndex, *, leaky: bool = False) -> None:
        self.inner, self.leaky, self.seen = inner, leaky, list[Hit]()

    def scroll(
        self, flt: Filter | None = None, limit: int | None = None, with_payload: bool = True
    ) -> Iterator[Hit]:
        for hit in self.inner.scroll(None if self.leaky else flt, limit, with_payload):
            self.seen.append(hit)
            yield hit

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[VectorIndex]]:
    """One index per backend for all examples, emptied before each."""
    root = tmp_path_factory.mktemp("readable-chunks")
    opened = [open_backend(kind, root) for kind in BACKENDS]
    yield opened
    for index in opened:
        index.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=corpora(), who=principals, doc_ids=doc_subsets, limit=limits)
def test_readable_chunks_never_returns_what_the_principal_may_not_read(
    indexes: list[VectorIndex],
    docs: list[dict[str, Any]],
    who: Principal,
    doc_ids: list[str] | None,
    limit: int | None,
) -> None:
    pts = points(docs, HashEmbedder())
    corpus = {p.id: p.payload for p in pts}
    wanted = {pid for pid, p in corpus.items() if readable(who, p, doc_ids)}
    for index in indexes:
        index.delete_where(Filter())  # an empty filter matches every point
        index.upsert(pts)
        spy = Spy(index)
        found = readable_chunks(cast(VectorIndex, spy), who, doc_ids=doc_ids, limit=limit)
        for hit in spy.seen:  # the engine's own filter, before any re-check
            assert readable(who, hit.payload, doc_ids), (who, doc_ids, hit.payload)
        ids = [c.id for c in found]
        assert ids == sorted(ids)
        assert set(ids) <= wanted
        if limit is None:
            assert set(ids) == wanted
        else:
            assert len(ids) == min(limit, len(wanted))


@pytest.mark.parametrize("kind", BACKENDS)
def test_an_engine_ignoring_the_filter_is_caught_by_the_recheck(kind: str, tmp_path: Path) -> None:
    docs = [
        payload("mine", 0, "a", tenant="t1", acl=["group:fin"]),
        payload("theirs", 0, "b", tenant="t1", acl=["group:ops"]),
        payload("public", 0, "c", tenant="t1", acl=["*"]),
        payload("other", 0, "d", tenant="t2", acl=["*"]),
    ]
    who = Principal(user="ann", groups=("fin",), tenant="t1")
    with loaded_index(kind, tmp_path, docs, HashEmbedder()) as index:
        spy = Spy(index, leaky=True)
        found = readable_chunks(cast(VectorIndex, spy), who)
        assert len(spy.seen) == 4  # the engine handed over everything
        assert sorted(c.doc_id for c in found) == ["mine", "public"]
        assert [c.doc_id for c in readable_chunks(index, who, doc_ids=["public", "other"])] == [
            "public"
        ]
        assert readable_chunks(index, who, doc_ids=[]) == []
