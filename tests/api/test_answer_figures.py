"""The answer object's per-figure checks, on /v1/answer and /v1/chat/completions alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.apikit import Client, new_key, running_app, settings_for

DOC = (
    "# Quarterly results\n\nServices net sales were $21,213 million in the quarter, up from "
    "$19,604 million a year earlier.\n"
)
QUESTION = "What were services net sales in the quarter?"


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    root = tmp_path_factory.mktemp("figures")
    (root / "sync").mkdir()
    http: TestClient
    with running_app(settings_for(root / "data")) as http:
        client = new_key(http, user="w", role="writer")
        client.upload("results.md", DOC)
        yield client


def test_the_answer_lists_each_figure_with_its_check(writer: Client) -> None:
    r = writer.post("/v1/answer", json={"question": QUESTION})
    assert r.status_code == 200, r.text
    body = r.json()
    # The extractive backend answers with the passage's own sentence: both figures verified.
    figures = body["figures"]
    assert [(f["text"], f["status"], f["source"]) for f in figures] == [
        ("$21,213 million", "verified", 1),
        ("$19,604 million", "verified", 1),
    ]
    assert figures[0]["value"] == 21_213e6
    assert body["answer"][figures[0]["start"] : figures[0]["end"]] == "$21,213 million"
    assert body["unsupported_numbers"] == []


def test_chat_completions_carry_the_checks_too(writer: Client) -> None:
    r = writer.post(
        "/v1/chat/completions",
        json={"model": "deepwell", "messages": [{"role": "user", "content": QUESTION}]},
    )
    assert r.status_code == 200, r.text
    figures = r.json()["deepwell"]["figures"]
    assert [f["status"] for f in figures] == ["verified", "verified"]


def test_the_schema_describes_the_figures(writer: Client) -> None:
    schemas = writer.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["AnswerOut"]["properties"]["figures"]["items"] == {
        "$ref": "#/components/schemas/FigureOut"
    }
    status = schemas["FigureOut"]["properties"]["status"]
    assert {"verified", "wrong_period", "wrong_label", "unit_mismatch", "not_found"} <= set(
        status["enum"]
    )
    assert "figures" in schemas["DeepwellEnd"]["properties"]
