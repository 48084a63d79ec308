"""The latest evaluation run as the admin area shows it: its summary and the trend before it.

Read from the run history (:class:`eval.history.History`, the ``eval_runs`` table) and
the run's ``results.json`` where it is still on disk; nothing is run or recomputed.
Aggregates only: the per-question answers and contexts stay in the run's files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import Settings
from eval.history import History, Regression, StoredRun, regressions

#: Runs of the latest run's dataset drawn in its trend (oldest first).
TREND_RUNS = 30


@dataclass(frozen=True)
class LatestReport:
    """The latest run, its baseline and trend, and what its results file adds."""

    run: StoredRun
    trend: list[StoredRun]
    baseline: StoredRun | None
    regressions: list[Regression]
    by_type: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    questions: int | None = None
    report_html: Path | None = None


def _results(folder: str) -> dict[str, Any]:
    """The run's ``results.json`` (empty when its folder is gone or unreadable)."""
    if not folder:
        return {}
    path = Path(folder) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def latest_report(history: History, settings: Settings) -> LatestReport | None:
    """The newest run of the history with its trend and its baseline's regressions;
    None when no evaluation has run."""
    runs = history.runs(limit=1)
    if not runs:
        return None
    run = runs[-1]
    baseline = history.baseline(run.dataset)
    found = (
        regressions(
            run.summary,
            baseline.summary,
            tolerance=settings.eval.tolerance,
            tolerances=settings.eval.tolerances,
        )
        if baseline is not None and baseline.run_id != run.run_id
        else []
    )
    data = _results(run.results_path)
    html = Path(run.results_path) / "report.html" if run.results_path else None
    return LatestReport(
        run=run,
        trend=history.runs(run.dataset, limit=TREND_RUNS),
        baseline=baseline,
        regressions=found,
        by_type=dict(data.get("by_type") or {}),
        latency=dict(data.get("latency") or {}),
        stage_seconds=dict(data.get("stage_seconds") or {}),
        warnings=[str(w) for w in data.get("warnings") or []],
        questions=len(data["questions"]) if isinstance(data.get("questions"), list) else None,
        report_html=html if html is not None and html.is_file() else None,
    )
