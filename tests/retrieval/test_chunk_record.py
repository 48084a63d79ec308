"""The chunk record: the one shape of a stored chunk, payload in and payload out."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from core import Chunk, PageBox
from retrieval import Citation, RetrievedChunk
from retrieval.index import Hit

FULL = Chunk(
    doc_id="d-1",
    chunk_index=3,
    text="Revenue grew by eleven percent.",
    doc_version=2,
    source_uri="file:///docs/report.pdf",
    title="Quarterly report",
    filename="report.pdf",
    file_type="pdf",
    section=["Item 2", "Results"],
    page_start=4,
    page_end=5,
    element_types=["NarrativeText", "Table"],
    text_as_html="<table><tr><td>1</td></tr></table>",
    boxes=[PageBox(4, 0.1, 0.8, 0.9, 0.95), PageBox(5, 0.1, 0.05, 0.5, 0.2)],
    content_sha256="ab" * 32,
    acl=["group:finance"],
    tenant="acme",
    ingested_at="2026-12-07T05:00:00+00:00",
    pipeline_signature="0123456789abcdef",
    metadata={"team": "storage"},
    near_duplicate_of="d-0",
    docmeta={"issuer": "ACME", "head": 1},
)

#: A payload as pipeline version 3 wrote it: no boxes (and, older still, no file name).
VERSION_3: dict[str, Any] = {
    "doc_id": "d-old",
    "doc_version": 1,
    "chunk_index": 0,
    "text": "Old text.",
    "source_uri": "file:///docs/old.pdf",
    "title": None,
    "filename": "old.pdf",
    "file_type": "pdf",
    "section": ["Intro"],
    "page_start": 1,
    "page_end": 1,
    "element_types": ["NarrativeText"],
    "content_sha256": "cd" * 32,
    "acl": ["*"],
    "tenant": "default",
    "ingested_at": "2025-01-01T00:00:00+00:00",
    "pipeline_signature": "fedcba9876543210",
    "metadata": {},
}


def test_payload_round_trip_keeps_every_field() -> None:
    payload = FULL.to_payload()
    assert json.loads(json.dumps(payload)) == payload  # JSON types only
    assert Chunk.from_payload(payload) == FULL


def test_boxes_are_stored_as_page_fractions() -> None:
    box = PageBox(2, 0.123456, 0.5, 0.75, 0.999999)
    stored = Chunk("d", 0, "t", boxes=[box]).to_payload()["boxes"]
    assert stored == [{"page": 2, "x0": 0.1235, "y0": 0.5, "x1": 0.75, "y1": 1.0}]


def test_optional_keys_are_left_out_when_unset() -> None:
    payload = Chunk("d", 0, "t").to_payload()
    assert not {"text_as_html", "near_duplicate_of", "docmeta"} & payload.keys()


def test_a_payload_written_before_boxes_still_reads() -> None:
    chunk = Chunk.from_payload(VERSION_3)
    assert chunk.boxes == []
    assert chunk.title == "old.pdf"  # no title: the file name, as citations always showed
    assert (chunk.doc_id, chunk.section, chunk.acl) == ("d-old", ["Intro"], ["*"])
    bare = Chunk.from_payload({"doc_id": "d"})
    assert (bare.text, bare.doc_version, bare.page_start, bare.docmeta) == ("", 1, None, None)


def test_malformed_boxes_are_skipped_not_fatal() -> None:
    payload = FULL.to_payload() | {
        "boxes": [{"page": 1}, "x", {"page": 2, "x0": 0, "y0": 0, "x1": 1, "y1": 1}]
    }
    assert Chunk.from_payload(payload).boxes == [PageBox(2, 0.0, 0.0, 1.0, 1.0)]


def test_a_scalar_acl_reads_as_a_list() -> None:
    assert Chunk.from_payload({"doc_id": "d", "acl": "*"}).acl == ["*"]


def test_a_payload_without_doc_id_is_no_chunk() -> None:
    with pytest.raises(KeyError):
        Chunk.from_payload({"text": "orphan"})


def test_a_retrieved_chunk_is_the_record_and_its_scores() -> None:
    hit = RetrievedChunk.from_hit(Hit("p-1", 0.5, FULL.to_payload()), dense_score=0.7)
    assert hit.record == FULL
    assert (hit.id, hit.score, hit.dense_score) == ("p-1", 0.5, 0.7)
    assert (hit.text, hit.doc_id, hit.page_start, hit.boxes) == (
        FULL.text,
        FULL.doc_id,
        4,
        FULL.boxes,
    )
    assert hit.is_table
    flat = hit.to_dict()
    assert (flat["id"], flat["doc_id"], flat["dense_score"]) == ("p-1", "d-1", 0.7)
    assert flat["boxes"] == [asdict(b) for b in FULL.boxes]
    cut = hit.with_text("Revenue grew …")
    assert (cut.text, cut.record.boxes) == ("Revenue grew …", FULL.boxes)
    assert hit.text == FULL.text  # frozen: the original keeps its text


def test_a_citation_keeps_its_boxes_through_json() -> None:
    cite = Citation(
        1,
        "d-1",
        "p-1",
        "Report",
        "file:///r.pdf",
        4,
        5,
        ("Item 2",),
        "Rev…",
        0.5,
        tuple(FULL.boxes),
    )
    data = json.loads(json.dumps(cite.to_dict()))
    assert data["boxes"][0] == {"page": 4, "x0": 0.1, "y0": 0.8, "x1": 0.9, "y1": 0.95}
    assert Citation.from_dict(data) == cite
    stored_before_boxes = {k: v for k, v in data.items() if k != "boxes"}
    assert Citation.from_dict(stored_before_boxes).boxes == ()
