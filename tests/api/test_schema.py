"""The OpenAPI schema tells the truth: schemathesis generates requests for every operation
(valid and malformed) and checks that nothing answers 5xx, and that every status code,
content type and JSON body is the one the schema documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.apikit import new_key, running_app, settings_for

EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("schema")
    (root / "sync").mkdir()
    # Both rate limits off: schemathesis sends thousands of requests, many without a key.
    settings = settings_for(
        root / "data", rate_limit_per_minute=0, anonymous_rate_limit_per_minute=0
    )
    with running_app(settings) as http:
        writer = new_key(http, user="w", role="admin")
        writer.upload("a.md", "# Notes\n\nThe schema test keeps a small note about owls here.\n")
        http.app.state.key = writer.key  # type: ignore[attr-defined]
        yield http


def without_lifespan(app: Any) -> Any:
    """``app`` for schemathesis's own test client: the running app's lifespan stays ours."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await app(scope, receive, send)

    return wrapped


@pytest.fixture(scope="module")
def api_schema(app_client: TestClient) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(app_client.app))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_matches_its_schema(api_schema: Any, app_client: TestClient, mode: Any) -> None:
    key = app_client.app.state.key  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:  # nothing to malform (no parameters, no body)
            assert mode == GenerationMode.NEGATIVE


def test_malformed_input_gets_a_clear_422(app_client: TestClient) -> None:
    key = app_client.app.state.key  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {key}"}
    cases: list[tuple[str, Any, str]] = [
        ("/v1/search", {"query": ""}, "body.query"),
        ("/v1/search", {"query": "x", "limit": 0}, "body.limit"),
        ("/v1/search", {"query": "x", "bogus": 1}, "body.bogus"),
        ("/v1/search", {"query": "x", "filters": {"doc_ids": []}}, "doc_ids"),
        ("/v1/answer", {"question": "x", "conversation_id": "has space"}, "conversation_id"),
        ("/v1/feedback", {"answer_id": "a", "rating": "meh"}, "body.rating"),
        ("/v1/chat/completions", {"model": "deepwell", "messages": []}, "messages"),
        (
            "/v1/chat/completions",
            {"model": "deepwell", "messages": [{"role": "assistant", "content": "hi"}]},
            "last message",
        ),
    ]
    for path, body, mentions in cases:
        r = app_client.post(path, json=body, headers=headers)
        assert r.status_code == 422, (path, body, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_input"
        assert mentions in error["message"], (path, error)
    r = app_client.post(
        "/v1/search", content=b"{not json", headers=headers | {"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert "JSON" in r.json()["error"]["message"]
