"""The filter language: validation, and conversion to both engines' filter types.

What the converted filters select is checked against both engines in the contract
suite; here each condition's translation is pinned.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import qdrant_edge as qe
from qdrant_client import models as qm

from core import InvalidInputError
from retrieval.index import (
    Condition,
    DatetimeRange,
    Filter,
    HasId,
    IsEmpty,
    MatchAny,
    MatchPrefix,
    MatchValue,
    Range,
    all_of,
)
from retrieval.index.filters import to_edge, to_qdrant

ID = "6f1c1f5e-0d4b-4b7e-9a53-3c4f7a2b9e10"

CASES: list[tuple[str, Condition, qm.Condition, qe.ConditionType]] = [
    (
        "match-str",
        MatchValue("tenant", "acme"),
        qm.FieldCondition(key="tenant", match=qm.MatchValue(value="acme")),
        qe.FieldCondition("tenant", match=qe.MatchValue("acme")),
    ),
    (
        "match-int",
        MatchValue("chunk_index", 3),
        qm.FieldCondition(key="chunk_index", match=qm.MatchValue(value=3)),
        qe.FieldCondition("chunk_index", match=qe.MatchValue(3)),
    ),
    (
        "any-str",
        MatchAny("acl", ["user:ann", "*"]),
        qm.FieldCondition(key="acl", match=qm.MatchAny(any=["user:ann", "*"])),
        qe.FieldCondition("acl", match=qe.MatchAny(["user:ann", "*"])),
    ),
    (
        "any-int",
        MatchAny("page", (1, 2)),
        qm.FieldCondition(key="page", match=qm.MatchAny(any=[1, 2])),
        qe.FieldCondition("page", match=qe.MatchAny([1, 2])),
    ),
    (
        "prefix",
        MatchPrefix("source_uri", "file:///docs/"),
        qm.FieldCondition(key="source_uri", match=qm.MatchPrefix(prefix="file:///docs/")),
        qe.FieldCondition("source_uri", match=qe.MatchPrefix("file:///docs/")),
    ),
    (
        "range",
        Range("page", gte=1, lt=2.5),
        qm.FieldCondition(key="page", range=qm.Range(gte=1, lt=2.5)),
        qe.FieldCondition("page", range=qe.RangeFloat(gte=1, lt=2.5)),
    ),
    (
        "datetime",
        DatetimeRange("at", gt="2024-01-01T00:00:00Z", lte=datetime(2024, 2, 1, tzinfo=UTC)),
        qm.FieldCondition(
            key="at",
            range=qm.DatetimeRange(gt="2024-01-01T00:00:00+00:00", lte="2024-02-01T00:00:00+00:00"),
        ),
        qe.FieldCondition(
            "at",
            range=qe.RangeDateTime(gt="2024-01-01T00:00:00+00:00", lte="2024-02-01T00:00:00+00:00"),
        ),
    ),
    (
        "is-empty",
        IsEmpty("section"),
        qm.IsEmptyCondition(is_empty=qm.PayloadField(key="section")),
        qe.IsEmptyCondition("section"),
    ),
    (
        "has-id",
        HasId([ID]),
        qm.HasIdCondition(has_id=[ID]),
        qe.HasIdCondition({ID}),
    ),
]


@pytest.mark.parametrize(("name", "cond", "client", "edge"), CASES, ids=[c[0] for c in CASES])
def test_each_condition_converts(
    name: str, cond: Condition, client: qm.Condition, edge: qe.ConditionType
) -> None:
    flt = Filter(must=[cond], should=[cond], must_not=[cond])
    assert to_qdrant(flt) == qm.Filter(must=[client], should=[client], must_not=[client])
    # qdrant-edge objects have no equality; their repr shows every field.
    expected = qe.Filter(must=[edge], should=[edge], must_not=[edge])
    assert repr(to_edge(flt)) == repr(expected)


def test_nested_filters_convert_recursively() -> None:
    inner = Filter(should=[MatchValue("tenant", "a"), MatchValue("tenant", "b")])
    flt = Filter(must=[inner], must_not=[IsEmpty("acl")])
    converted = to_qdrant(flt)
    assert converted.must == [to_qdrant(inner)]
    assert converted.should is None
    assert repr(to_edge(flt)) == repr(
        qe.Filter(must=[to_edge(inner)], must_not=[qe.IsEmptyCondition("acl")])
    )


def test_an_empty_filter_converts_to_match_all() -> None:
    assert to_qdrant(Filter()) == qm.Filter()
    assert repr(to_edge(Filter())) == repr(qe.Filter())


@pytest.mark.parametrize(
    "make",
    [
        lambda: MatchValue("flag", True),
        lambda: MatchValue("score", 1.5),  # type: ignore[arg-type]
        lambda: MatchAny("acl", ["a", 1]),  # type: ignore[arg-type]
        lambda: MatchAny("flags", [True]),
        lambda: Range("page"),
        lambda: DatetimeRange("at"),
        lambda: DatetimeRange("at", gte="yesterday"),
        lambda: MatchPrefix("source_uri", ""),
    ],
    ids=[
        "bool",
        "float",
        "mixed",
        "bool-any",
        "range-unbounded",
        "dt-unbounded",
        "dt-bad",
        "prefix-empty",
    ],
)
def test_conditions_no_backend_agrees_on_are_refused(make: object) -> None:
    with pytest.raises(InvalidInputError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("bound", "expected"),
    [
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00"),
        ("2024-05-01T12:00:00+02:00", "2024-05-01T12:00:00+02:00"),
        ("2024-05-01", "2024-05-01T00:00:00+00:00"),
        (datetime(2024, 5, 1, 10), "2024-05-01T10:00:00+00:00"),  # naive: taken as UTC
        (
            datetime(2024, 5, 1, 10, tzinfo=timezone(timedelta(hours=-5))),
            "2024-05-01T10:00:00-05:00",
        ),
    ],
)
def test_datetime_bounds_are_normalized_to_rfc3339(bound: datetime | str, expected: str) -> None:
    assert DatetimeRange("at", gte=bound).gte == expected


def test_filters_are_immutable_values() -> None:
    a = Filter(must=[MatchAny("acl", ["x"])])
    assert a == Filter(must=(MatchAny("acl", ("x",)),))
    assert hash(a) == hash(Filter(must=[MatchAny("acl", ["x"])]))
    with pytest.raises(AttributeError):
        a.must = ()  # type: ignore[misc]


def test_all_of_combines_filters() -> None:
    acl = Filter(must=[MatchAny("acl", ["*"])])
    user = Filter(must=[MatchValue("tenant", "t")])
    assert all_of() is None
    assert all_of(None, acl, None) is acl
    assert all_of(user, acl) == Filter(must=[user, acl])
