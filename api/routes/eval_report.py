"""The latest evaluation report (admin): its scores, the trend before it, what regressed.

What `deepwell eval` recorded (the run history in the database and the run's
``results.json``), read through :func:`eval.latest_report`; nothing is evaluated here.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from starlette.responses import Response

from api.auth import require_role
from api.deps import CallerDep, ServicesDep
from api.errors import error_responses
from api.routes.common import UtcDateTime
from core import NotFoundError
from eval import History, LatestReport, latest_report

router = APIRouter(prefix="/v1", tags=["evaluation"])

#: Scores of one system: ``metric -> {mean, low, high, ...}`` (a 95% bootstrap interval).
Scores = dict[str, dict[str, float]]

NO_RUN = (
    "no evaluation has run yet: run `deepwell eval run` (or `deepwell eval nightly`) on the "
    "server's data directory, then reload"
)


class RunOut(BaseModel):
    run_id: str
    created_at: UtcDateTime
    dataset: str
    dataset_version: str
    systems: list[str]
    config_hash: str
    git_rev: str
    accepted: bool = Field(description="Whether this run is its dataset's accepted baseline.")


class TrendPoint(BaseModel):
    run_id: str
    created_at: UtcDateTime
    accepted: bool
    summary: dict[str, Scores] = Field(description="system -> metric -> estimate.")


class RegressionOut(BaseModel):
    system: str
    metric: str
    baseline: float
    current: float
    tolerance: float
    message: str


class EvalReport(BaseModel):
    """The latest run of `deepwell eval`."""

    run: RunOut
    summary: dict[str, Scores] = Field(
        description="system -> metric -> {mean, low, high, ...} (95% bootstrap interval)."
    )
    by_type: dict[str, dict[str, dict[str, float]]] = Field(
        description="system -> question type -> metric -> mean (empty when the run's "
        "results file is gone)."
    )
    latency: dict[str, dict[str, float]] = Field(description="system -> latency statistics.")
    stage_seconds: dict[str, float]
    questions: int | None = Field(description="Questions asked (None: results file gone).")
    warnings: list[str]
    baseline: RunOut | None = Field(description="The accepted run it is compared with.")
    regressions: list[RegressionOut] = Field(
        description="Scores that dropped beyond their tolerance against the baseline."
    )
    trend: list[TrendPoint] = Field(description="Runs of the same dataset, oldest first.")
    report_url: str | None = Field(
        description="The run's HTML report (charts, per-question drill-down), when kept."
    )


def _run(run: object) -> RunOut:
    return RunOut.model_validate(run, from_attributes=True)


def _report(found: LatestReport) -> EvalReport:
    run = found.run
    return EvalReport(
        run=_run(run),
        summary=run.summary,
        by_type=found.by_type,
        latency=found.latency,
        stage_seconds=found.stage_seconds,
        questions=found.questions,
        warnings=found.warnings,
        baseline=_run(found.baseline) if found.baseline is not None else None,
        regressions=[
            RegressionOut(
                system=r.system,
                metric=r.metric,
                baseline=r.baseline,
                current=r.current,
                tolerance=r.tolerance,
                message=r.describe(),
            )
            for r in found.regressions
        ],
        trend=[
            TrendPoint(
                run_id=t.run_id, created_at=t.created_at, accepted=t.accepted, summary=t.summary
            )
            for t in found.trend
        ],
        report_url="/v1/eval/report.html" if found.report_html is not None else None,
    )


def _latest(services: ServicesDep) -> LatestReport:
    found = latest_report(History(services.engine), services.settings)
    if found is None:
        raise NotFoundError(NO_RUN)
    return found


@router.get(
    "/eval/report",
    response_model=EvalReport,
    summary="The latest evaluation report with its trend (admin role)",
    description="Scores of the newest `deepwell eval` run per system, the runs of its "
    "dataset before it, and what dropped beyond its tolerance against the accepted "
    "baseline. 404 when no evaluation has run.",
    responses=error_responses(401, 403, 404, 429),
)
def get_eval_report(caller: CallerDep, services: ServicesDep) -> EvalReport:
    require_role(caller.principal, "admin", "the evaluation report")
    return _report(_latest(services))


@router.get(
    "/eval/report.html",
    response_class=Response,  # errors stay JSON in the schema, as they are
    summary="The latest evaluation run's HTML report (admin role)",
    description="The self-contained report `deepwell eval` wrote (inline SVG, no scripts).",
    responses={
        200: {
            "description": "The report.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 404, 429),
    },
)
def get_eval_report_html(
    caller: CallerDep,
    services: ServicesDep,
    download: Annotated[bool, Query(description="As an attachment.")] = False,
) -> Response:
    require_role(caller.principal, "admin", "the evaluation report")
    found = _latest(services)
    if found.report_html is None:
        raise NotFoundError(
            f"the HTML report of run {found.run.run_id} is no longer on disk "
            f"({found.run.results_path or 'no folder recorded'})"
        )
    headers = {"Cache-Control": "private, no-store"}
    if download:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", found.run.run_id)
        headers["Content-Disposition"] = f'attachment; filename="{name}.html"'
    return HTMLResponse(found.report_html.read_text(encoding="utf-8"), headers=headers)
