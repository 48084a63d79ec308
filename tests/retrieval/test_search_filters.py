"""The caller's filter language: validation, translation, and what it selects on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from search_testkit import BACKENDS, HashEmbedder, loaded_index, payload

from retrieval.index import DatetimeRange, Filter, MatchAny, MatchPrefix, MatchValue
from retrieval.search_filters import SearchFilters


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"doc_ids": ["a", "b"]}, Filter(must=[MatchAny("doc_id", ["a", "b"])])),
        (
            {"source_uris": ["file:///x.pdf"]},
            Filter(must=[MatchAny("source_uri", ["file:///x.pdf"])]),
        ),
        (
            {"source_prefix": "file:///docs/"},
            Filter(must=[MatchPrefix("source_uri", "file:///docs/")]),
        ),
        # File types are normalized as ingest writes them: lower case, no dot.
        (
            {"file_types": ["PDF", ".docx", "pdf"]},
            Filter(must=[MatchAny("file_type", ["docx", "pdf"])]),
        ),
        (
            {"ingested_from": datetime(2024, 3, 1), "ingested_before": "2024-04-01T00:00:00Z"},
            Filter(
                must=[
                    DatetimeRange(
                        "ingested_at",
                        gte="2024-03-01T00:00:00+00:00",
                        lt="2024-04-01T00:00:00+00:00",
                    )
                ]
            ),
        ),
        (
            {"metadata": {"region": "emea", "year": [2023, 2024]}},
            Filter(
                must=[
                    MatchValue("metadata.region", "emea"),
                    MatchAny("metadata.year", [2023, 2024]),
                ]
            ),
        ),
    ],
    ids=["empty", "doc-ids", "uris", "prefix", "file-types", "dates", "metadata"],
)
def test_fields_translate_to_index_filters(fields: dict[str, Any], expected: Filter | None) -> None:
    flt = SearchFilters.model_validate(fields)
    assert flt.to_filter() == expected
    assert flt.is_empty() is (expected is None)


@pytest.mark.parametrize(
    "fields",
    [
        {"doc_ids": []},  # empty lists are refused, not read as "nothing" or "anything"
        {"doc_ids": [""]},
        {"source_prefix": ""},
        {"tenant": "globex"},  # no such field: the tenant is the principal's
        {"acl": ["*"]},
        {"metadata": {"a.b": "x"}},  # keys cannot reach into other payload fields
        {"metadata": {"flag": True}},  # booleans match differently on the two engines
        {"metadata": {"score": 1.5}},
        {"metadata": {"year": [2023, "2024"]}},
        {"metadata": {"year": []}},
        {"metadata": {f"k{i}": "v" for i in range(17)}},
        {"ingested_from": "2024-05-01", "ingested_before": "2024-05-01"},
        {"ingested_from": "yesterday"},
        {"doc_ids": [f"d{i}" for i in range(1001)]},
    ],
)
def test_invalid_filters_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SearchFilters.model_validate(fields)


def test_filters_are_frozen_values() -> None:
    flt = SearchFilters(doc_ids=["a"])
    with pytest.raises(ValidationError):
        flt.doc_ids = ["b"]  # type: ignore[misc]


DOCS = [
    payload(
        "q3-report",
        0,
        "revenue",
        file_type="pdf",
        ingested_at="2024-03-01T12:00:00+00:00",
        metadata={"region": "emea", "year": 2023},
        source_uri="file:///srv/docs/finance/q3-report.pdf",
    ),
    payload(
        "q4-report",
        0,
        "revenue",
        file_type="docx",
        ingested_at="2024-04-15T08:30:00+00:00",
        metadata={"region": "amer", "year": 2024},
        source_uri="file:///srv/docs/finance/q4-report.docx",
    ),
    payload(
        "old-notes",
        0,
        "revenue",
        file_type="md",
        ingested_at="2023-12-31T23:59:59+00:00",
        metadata={"region": "emea", "year": 2022, "relative_path": "notes/old.md"},
        source_uri="file:///srv/docs/finance-old/notes/old.md",
    ),
    payload(
        "readme",
        0,
        "revenue",
        file_type="txt",
        source_uri="upload://acme/file:///srv/docs/finance/readme.txt",
    ),
]

SELECTIONS: list[tuple[dict[str, Any], set[str]]] = [
    ({"doc_ids": ["q3-report", "nope"]}, {"q3-report"}),
    ({"source_uris": ["file:///srv/docs/finance/q4-report.docx"]}, {"q4-report"}),
    ({"source_prefix": "file:///srv/docs/finance/"}, {"q3-report", "q4-report"}),
    # Without the trailing slash a prefix is only a string prefix.
    ({"source_prefix": "file:///srv/docs/finance"}, {"q3-report", "q4-report", "old-notes"}),
    ({"source_prefix": "file:///SRV/"}, set()),  # case-sensitive
    ({"file_types": ["PDF", "md"]}, {"q3-report", "old-notes"}),
    ({"ingested_from": "2024-03-01T12:00:00Z"}, {"q3-report", "q4-report", "readme"}),
    ({"ingested_before": "2024-03-01T12:00:00Z"}, {"old-notes"}),
    # 13:00+01:00 is 12:00Z: instants are compared (as strings, q3-report would be earlier).
    ({"ingested_before": "2024-03-01T13:00:00+01:00"}, {"old-notes"}),
    ({"metadata": {"region": "emea"}}, {"q3-report", "old-notes"}),
    ({"metadata": {"year": [2022, 2024]}}, {"q4-report", "old-notes"}),
    ({"metadata": {"region": "emea", "year": 2023}}, {"q3-report"}),
    ({"metadata": {"relative_path": "notes/old.md"}}, {"old-notes"}),
    ({"file_types": ["pdf"], "metadata": {"region": "amer"}}, set()),
]


@pytest.mark.parametrize("kind", BACKENDS)
def test_filters_select_the_same_documents_on_both_backends(kind: str, tmp_path: Path) -> None:
    with loaded_index(kind, tmp_path, DOCS, HashEmbedder()) as index:
        for fields, expected in SELECTIONS:
            flt = SearchFilters.model_validate(fields).to_filter()
            assert flt is not None
            assert {h.payload["doc_id"] for h in index.scroll(flt)} == expected, fields


def test_naive_datetimes_are_utc() -> None:
    naive = SearchFilters(ingested_from=datetime(2024, 1, 1, 9))
    aware = SearchFilters(ingested_from=datetime(2024, 1, 1, 9, tzinfo=UTC))
    assert naive.to_filter() == aware.to_filter()
