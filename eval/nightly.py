"""The nightly job: run the configured suite, store it, compare with the accepted baseline.

:func:`nightly` returns the outcome; the CLI (``deepwell eval nightly``) prints
the summary and exits non-zero when any gated score dropped by more than its
tolerance (``eval.tolerance``, ``eval.tolerances``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core import Settings, make_engine
from eval.datasets import DatasetRegistry
from eval.history import History, Regression, StoredRun, regressions
from eval.results import RunResult
from eval.run import Progress, evaluate, save
from eval.systems import parse_systems


@dataclass
class NightlyOutcome:
    result: RunResult
    folder: Path
    baseline: StoredRun | None
    regressions: list[Regression] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.regressions

    def summary(self) -> str:
        """A readable verdict naming every metric that dropped."""
        head = f"run {self.result.run_id} on {self.result.dataset['name']}"
        if self.baseline is None:
            return (
                f"{head}: no accepted baseline yet; accept this run with "
                f"`deepwell eval accept {self.result.run_id}`"
            )
        if self.passed:
            return f"{head}: no score dropped beyond its tolerance vs {self.baseline.run_id}"
        lines = [f"{head}: {len(self.regressions)} score(s) dropped vs {self.baseline.run_id}:"]
        lines += [f"  - {r.describe()}" for r in self.regressions]
        return "\n".join(lines)


def open_history(settings: Settings) -> tuple[History, DatasetRegistry]:
    """The run history and dataset registry, tables created if missing."""
    engine = make_engine(settings)
    history = History(engine)
    history.create_schema()
    registry = DatasetRegistry(engine, settings)
    registry.create_schema()
    return history, registry


def record(settings: Settings, history: History, result: RunResult) -> Path:
    """Write the run's files (with the trend of earlier runs) and add it to the history."""
    points = [r.trend_point() for r in history.runs(result.dataset["name"], limit=30)]
    folder = save(result, settings, points)
    history.record(result, str(folder))
    return folder


def nightly(
    settings: Settings,
    *,
    quick: bool = True,
    limit: int | None = None,
    progress: Progress | None = None,
) -> NightlyOutcome:
    """Run ``eval.systems`` on ``eval.dataset``, record the run, and gate it."""
    history, registry = open_history(settings)
    dataset = registry.get(settings.eval.dataset)
    systems = parse_systems(settings.eval.systems)
    result = evaluate(settings, dataset, systems, quick=quick, limit=limit, progress=progress)
    baseline = history.baseline(dataset.name)
    found = (
        regressions(
            result.summary,
            baseline.summary,
            tolerance=settings.eval.tolerance,
            tolerances=settings.eval.tolerances,
        )
        if baseline is not None
        else []
    )
    if baseline is not None and baseline.dataset_version != dataset.version:
        result.warnings.append(
            f"the baseline {baseline.run_id} was measured on dataset version "
            f"{baseline.dataset_version}, this run on {dataset.version}"
        )
    folder = record(settings, history, result)
    return NightlyOutcome(result, folder, baseline, found)
