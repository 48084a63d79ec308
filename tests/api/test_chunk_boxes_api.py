"""Page boxes reach the API: an uploaded PDF's passages carry where they lie on their page,
in search results, in the full passage a citation opens, and in a streamed answer's sources
(what the web app highlights on the rendered page)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.apikit import Client, new_key, running_app, settings_for
from tests.ingest.conftest import write_pdf

PAGES = [
    [
        (16, "Storage Pricing"),
        (11, "Hot storage costs two cents per gigabyte and month in Dublin."),
        (11, "Cold storage costs four tenths of a cent in the Oslo region."),
    ],
    [
        (16, "Support Hours"),
        (11, "The support desk in Tokyo answers tickets around the clock."),
    ],
]
QUESTION = "How much does hot storage cost?"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("boxes-api")
    with running_app(settings_for(root / "data")) as client:
        yield client


@pytest.fixture(scope="module")
def uploaded(
    app_client: TestClient, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Client, str]:
    writer = new_key(app_client, user="ann", role="writer")
    pdf = write_pdf(tmp_path_factory.mktemp("pdf") / "pricing.pdf", PAGES)
    r = writer.post(
        "/v1/documents", files={"file": ("pricing.pdf", pdf.read_bytes(), "application/pdf")}
    )
    assert r.status_code == 202, r.text
    job = writer.wait_job(r.json()["job_id"])
    assert job["status"] == "done", job
    return writer, r.json()["doc_id"]


def check_boxes(boxes: list[dict[str, Any]], page: int) -> None:
    assert boxes, "a PDF passage has a box"
    assert page in [b["page"] for b in boxes]
    for b in boxes:
        assert set(b) == {"page", "x0", "y0", "x1", "y1"}
        assert 0 <= b["x0"] < b["x1"] <= 1
        assert 0 <= b["y0"] < b["y1"] <= 1


def test_search_results_and_the_opened_passage_carry_boxes(uploaded: tuple[Client, str]) -> None:
    writer, doc_id = uploaded
    r = writer.post("/v1/search", json={"query": "support desk in Tokyo", "limit": 5})
    assert r.status_code == 200, r.text
    hit = next(h for h in r.json()["results"] if "Tokyo" in h["text"])
    assert hit["doc_id"] == doc_id
    check_boxes(hit["boxes"], 2)

    passage = writer.get(f"/v1/documents/{doc_id}/chunks/{hit['chunk_id']}")
    assert passage.status_code == 200, passage.text
    body = passage.json()
    assert body["chunk_id"] == hit["chunk_id"]
    assert body["boxes"] == hit["boxes"]


def test_a_streamed_answer_sources_carry_boxes(uploaded: tuple[Client, str]) -> None:
    writer, doc_id = uploaded
    r = writer.post("/v1/answer", json={"question": QUESTION, "stream": True})
    assert r.status_code == 200, r.text
    events = []
    for block in r.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    assert events[0][0] == "sources"
    context = events[0][1]["context"]
    source = next(c for c in context if c["doc_id"] == doc_id)
    check_boxes(source["boxes"], 1)
    done = next(data for event, data in events if event == "done")
    assert all(c["boxes"] for c in done["citations"])
