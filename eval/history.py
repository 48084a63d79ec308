"""Run history and the nightly gate, in the deepwell database (the registry's engine).

Each run's summary is stored with its dataset version, configuration hash and git
revision. ``deepwell eval accept RUN_ID`` marks a run as the baseline of its
dataset; :func:`regressions` names each (system, metric) whose mean dropped by
more than its tolerance against that baseline. Only quality scores are gated
(higher is better); latency and token counts are reported, not gated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import Base, NotFoundError
from eval.results import RunResult

#: Lower is better for these; everything else in a summary is higher-is-better.
LOWER_IS_BETTER = frozenset({"no_answer"})


class RunRow(Base):
    __tablename__ = "eval_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    dataset: Mapped[str] = mapped_column(String(128), index=True)
    dataset_version: Mapped[str] = mapped_column(String(16))
    systems: Mapped[str] = mapped_column(Text)
    config_hash: Mapped[str] = mapped_column(String(16))
    git_rev: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    results_path: Mapped[str] = mapped_column(Text, default="")
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    created_at: datetime
    dataset: str
    dataset_version: str
    systems: list[str]
    config_hash: str
    git_rev: str
    summary: dict[str, dict[str, dict[str, float]]]
    results_path: str
    accepted: bool

    def trend_point(self) -> dict[str, Any]:
        """The run as one point of the report's trend chart."""
        return {
            "run_id": self.run_id,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "summary": self.summary,
            "accepted": self.accepted,
        }


def _stored(row: RunRow) -> StoredRun:
    return StoredRun(
        run_id=row.run_id,
        created_at=row.created_at,
        dataset=row.dataset,
        dataset_version=row.dataset_version,
        systems=json.loads(row.systems),
        config_hash=row.config_hash,
        git_rev=row.git_rev,
        summary=json.loads(row.summary),
        results_path=row.results_path,
        accepted=row.accepted_at is not None,
    )


class History:
    """The ``eval_runs`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine, tables=[RunRow.__table__])  # type: ignore[list-item]

    def record(self, result: RunResult, results_path: str = "") -> None:
        with Session(self.engine) as s, s.begin():
            s.add(
                RunRow(
                    run_id=result.run_id,
                    created_at=datetime.fromisoformat(result.created_at),
                    dataset=result.dataset["name"],
                    dataset_version=result.dataset["version"],
                    systems=json.dumps(result.systems),
                    config_hash=result.config_hash,
                    git_rev=result.git_rev,
                    summary=json.dumps(result.summary),
                    results_path=results_path,
                )
            )

    def runs(self, dataset: str | None = None, limit: int = 50) -> list[StoredRun]:
        """The latest ``limit`` runs, oldest first."""
        stmt = select(RunRow).order_by(RunRow.created_at.desc(), RunRow.run_id.desc()).limit(limit)
        if dataset is not None:
            stmt = stmt.where(RunRow.dataset == dataset)
        with Session(self.engine) as s:
            return [_stored(r) for r in reversed(list(s.scalars(stmt)))]

    def get(self, run_id: str) -> StoredRun:
        with Session(self.engine) as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise NotFoundError(f"no evaluation run {run_id!r} (see `deepwell eval history`)")
            return _stored(row)

    def accept(self, run_id: str) -> StoredRun:
        """Make ``run_id`` the baseline of its dataset."""
        with Session(self.engine) as s, s.begin():
            row = s.get(RunRow, run_id)
            if row is None:
                raise NotFoundError(f"no evaluation run {run_id!r} (see `deepwell eval history`)")
            row.accepted_at = datetime.now(UTC)
        return self.get(run_id)

    def baseline(self, dataset: str) -> StoredRun | None:
        """The most recently accepted run of ``dataset``."""
        stmt = (
            select(RunRow)
            .where(RunRow.dataset == dataset, RunRow.accepted_at.is_not(None))
            .order_by(RunRow.accepted_at.desc())
            .limit(1)
        )
        with Session(self.engine) as s:
            row = s.scalars(stmt).first()
            return _stored(row) if row is not None else None


@dataclass(frozen=True)
class Regression:
    system: str
    metric: str
    baseline: float
    current: float
    tolerance: float

    @property
    def drop(self) -> float:
        change = self.current - self.baseline
        return change if self.metric in LOWER_IS_BETTER else -change

    def describe(self) -> str:
        return (
            f"{self.system} {self.metric}: {self.baseline:.3f} -> {self.current:.3f} "
            f"(worse by {self.drop:.3f}, tolerance {self.tolerance:.3f})"
        )


def regressions(
    current: Mapping[str, Mapping[str, Mapping[str, float]]],
    baseline: Mapping[str, Mapping[str, Mapping[str, float]]],
    *,
    tolerance: float,
    tolerances: Mapping[str, float] | None = None,
) -> list[Regression]:
    """Each (system, metric) of ``baseline`` that got worse by more than its tolerance.

    A system or metric missing from ``current`` is not a regression (the suite
    changed); compare runs of the same suite.
    """
    out = []
    for system, metrics in sorted(baseline.items()):
        for metric, base in sorted(metrics.items()):
            now = current.get(system, {}).get(metric)
            if now is None:
                continue
            allowed = (tolerances or {}).get(metric, tolerance)
            reg = Regression(system, metric, float(base["mean"]), float(now["mean"]), allowed)
            if reg.drop > allowed + 1e-12:
                out.append(reg)
    return out
