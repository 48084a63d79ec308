"""GET /v1/eval/report: the latest evaluation run for the admin area, 404 until one ran."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from eval import History, RunResult
from tests.api.apikit import Client, new_key, running_app, settings_for


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Client]]]:
    root = tmp_path_factory.mktemp("eval-report")
    with running_app(settings_for(root / "data")) as http:
        keys = {
            "root": new_key(http, user="root", tenant="acme", role="admin"),
            "ann": new_key(http, user="ann", tenant="acme", role="writer"),
            "carol": new_key(http, user="carol", tenant="acme", role="reader"),
        }
        yield http, keys


def _run(run_id: str, when: str, hit5: float, folder: Path | None) -> RunResult:
    result = RunResult(
        run_id=run_id,
        created_at=when,
        dataset={"name": "sec-10q", "version": "v1"},
        systems=["rag"],
        config={},
        config_hash="abc123",
        git_rev="deadbeef",
        summary={"rag": {"hit@5": {"mean": hit5, "low": hit5 - 0.1, "high": hit5 + 0.1}}},
        by_type={"rag": {"numeric": {"hit@5": hit5}}},
        questions=[{"qid": "q1"}, {"qid": "q2"}],
        warnings=["a warning"],
    )
    if folder is not None:
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(result.to_dict()))
        (folder / "report.html").write_text("<!doctype html><title>report</title><p>charts</p>")
    return result


def test_the_evaluation_report_is_404_until_a_run_then_the_latest_with_its_trend(
    app: tuple[TestClient, dict[str, Client]], tmp_path: Path
) -> None:
    http, keys = app
    root = keys["root"]
    r = root.get("/v1/eval/report")
    assert r.status_code == 404
    assert "no evaluation has run yet" in r.json()["error"]["message"]
    assert keys["ann"].get("/v1/eval/report").status_code == 403
    history = History(http.app.state.services.engine)  # type: ignore[attr-defined]
    first = _run("run-1", "2026-12-01T00:00:00+00:00", 0.8, None)
    history.record(first)
    history.accept("run-1")
    folder = tmp_path / "run-2"
    history.record(_run("run-2", "2026-12-02T00:00:00+00:00", 0.6, folder), str(folder))
    report = root.get("/v1/eval/report").json()
    assert report["run"]["run_id"] == "run-2"
    assert report["summary"]["rag"]["hit@5"]["mean"] == 0.6
    assert report["by_type"]["rag"]["numeric"]["hit@5"] == 0.6
    assert report["questions"] == 2
    assert report["warnings"] == ["a warning"]
    assert report["baseline"]["run_id"] == "run-1"
    assert [t["run_id"] for t in report["trend"]] == ["run-1", "run-2"]
    (drop,) = report["regressions"]
    assert (drop["system"], drop["metric"]) == ("rag", "hit@5")
    assert report["report_url"] == "/v1/eval/report.html"
    html = root.get("/v1/eval/report.html")
    assert html.status_code == 200
    assert "charts" in html.text
    assert keys["carol"].get("/v1/eval/report.html").status_code == 403
