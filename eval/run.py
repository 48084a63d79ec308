"""An evaluation run: a dataset through the chosen systems, scored, summarized, written.

:func:`evaluate` answers every selected question with every system (one system
at a time, so only one model is loaded at once), scores the outputs
(:mod:`eval.metrics`, :mod:`eval.scoring`), and returns a :class:`RunResult`:
per-question outputs and metrics, per-system means with bootstrap confidence
intervals, means per question type, and wall time per stage. :func:`save`
writes it as JSON and an HTML report under ``<data_dir>/eval/runs/<run_id>/``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import IndexBackendError, NotFoundError, Settings, get_logger
from eval.datasets import SEC_NAME, Dataset, EvalItem
from eval.metrics import bootstrap_ci, percentile, retrieval_scores
from eval.report import render_report
from eval.results import COST_METRICS, RunResult
from eval.systems import EvalContext, SystemOutput, SystemSpec

log = get_logger(__name__)

RETRIEVAL_KS = (1, 5, 10)
#: Context texts kept per answer in the results (characters), for the drill-down.
CONTEXT_CHARS = 600

Progress = Callable[[str, int, int], None]


def stratified_sample(
    items: Sequence[EvalItem], per_type: int, limit: int | None = None
) -> list[EvalItem]:
    """Up to ``per_type`` items of each question type, spread evenly over the set.

    With ``limit``, the types take turns until ``limit`` items are chosen, so a
    small limit still covers every type. Deterministic.
    """
    groups: dict[str, list[EvalItem]] = {}
    for item in items:
        groups.setdefault(item.question_type, []).append(item)
    picked: dict[str, list[EvalItem]] = {}
    for qtype, group in sorted(groups.items()):
        step = max(1, len(group) // per_type)
        picked[qtype] = group[::step][:per_type]
    return interleave(picked, limit)


def interleave(groups: dict[str, list[EvalItem]], limit: int | None) -> list[EvalItem]:
    """Round-robin over the groups (in key order), stopping at ``limit`` items."""
    out: list[EvalItem] = []
    queues = [list(g) for _, g in sorted(groups.items())]
    while any(queues) and (limit is None or len(out) < limit):
        for q in queues:
            if q and (limit is None or len(out) < limit):
                out.append(q.pop(0))
    return out


def select(dataset: Dataset, *, quick: bool, per_type: int, limit: int | None) -> list[EvalItem]:
    """The questions of a run: a stratified sample with ``quick``, else all (capped)."""
    if quick:
        return stratified_sample(dataset.items, per_type, limit)
    groups: dict[str, list[EvalItem]] = {}
    for item in dataset.items:
        groups.setdefault(item.question_type, []).append(item)
    return interleave(groups, limit) if limit else list(dataset.items)


def quick_settings(settings: Settings) -> Settings:
    """``settings`` with the ``eval.quick`` budget applied (window, answer length, fine-tune).

    The adapter cache key hashes the fine-tune settings, so the quick adapter and
    the full one are cached side by side.
    """
    ev, q = settings.eval, settings.eval.quick
    tuned = ev.finetune.model_copy(
        update={
            "sample_chunks": q.finetune_sample_chunks,
            "max_steps": q.finetune_max_steps,
            "batch_size": q.finetune_batch_size,
            "max_seq_tokens": q.finetune_max_seq_tokens,
        }
    )
    quick = ev.model_copy(
        update={"context_window": q.context_window, "max_tokens": q.max_tokens, "finetune": tuned}
    )
    return settings.model_copy(update={"eval": quick})


class EmptyCorpusError(NotFoundError):
    """The evaluation principal can read no document: nothing to retrieve or fine-tune on."""


def dataset_docs(settings: Settings, dataset: Dataset) -> Path | None:
    """The folder of the documents a dataset asks about, where it has one.

    The built-in SEC set: ``<eval.data_dir>/sec-10q/docs``; a registered file: a
    ``docs`` folder next to it.
    """
    if dataset.name == SEC_NAME and dataset.path is not None:
        candidates = [settings.eval.data_dir / SEC_NAME / "docs", dataset.path.parent / "docs"]
    elif dataset.path is not None:
        candidates = [dataset.path.parent / "docs"]
    else:
        candidates = []
    return next((c for c in candidates if c.is_dir()), None)


def empty_corpus_message(settings: Settings, dataset: Dataset) -> str:
    """What to run when the evaluation principal can read no document."""
    docs = dataset_docs(settings, dataset)
    what = f"`deepwell ingest '{docs}' --acl '*'`" if docs else "`deepwell ingest DOCS --acl '*'`"
    return (
        f"the evaluation principal {settings.eval.user!r} can read no document in "
        f"{settings.data_dir}: ingest the documents of {dataset.name!r} first with {what} "
        "(the 20 SEC filings take about 10 minutes on 2 cores), or run "
        "`deepwell eval run --ingest-missing`, which does that when the corpus is empty"
    )


def git_revision(cwd: Path | None = None) -> str:
    """The short commit of the working tree (``+dirty`` when modified), or ``unknown``."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        rev = subprocess.run(  # noqa: S603  (fixed arguments, no shell)
            [git, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=cwd,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            [git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=cwd,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def run_config(settings: Settings, systems: Sequence[SystemSpec]) -> dict[str, Any]:
    """What a score depends on, besides the dataset and the code (hashed into ``config_hash``)."""
    ev = settings.eval.model_dump(
        mode="json", exclude={"judge": {"api_key"}, "data_dir": True, "tolerances": True}
    )
    # ``quick`` is already applied to the values above when a run is quick.
    for key in ("tolerance", "bootstrap_samples", "systems", "dataset", "quick_per_type", "quick"):
        ev.pop(key, None)
    return {
        "systems": [s.name for s in systems],
        "eval": ev,
        "search": settings.search.model_dump(mode="json"),
        "embedding": {"model": settings.embedding.model, "backend": settings.embedding.backend},
        "llm_backend": settings.llm.backend,
        "chunking": settings.ingest.model_dump(
            mode="json", include={"chunk_max_chars", "chunk_new_after_chars", "strategy"}
        ),
    }


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def _scores(
    spec: SystemSpec,
    item: EvalItem,
    out: SystemOutput,
    relevant: frozenset[str],
    scorer: Any,
) -> dict[str, float]:
    metrics: dict[str, float] = {}
    if spec.retrieves and item.sources:
        metrics |= retrieval_scores(out.ranked_docs, relevant, RETRIEVAL_KS)
    if spec.answers and scorer is not None:
        metrics |= scorer.score(item, out.answer or "", out.contexts)
        metrics["no_answer"] = float(out.no_answer)
    metrics["latency_ms"] = out.latency_ms
    if spec.answers:
        metrics["prompt_tokens"] = float(out.prompt_tokens)
        metrics["completion_tokens"] = float(out.completion_tokens)
    return metrics


def evaluate(
    settings: Settings,
    dataset: Dataset,
    systems: Sequence[SystemSpec],
    *,
    quick: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
    force_finetune: bool = False,
) -> RunResult:
    """Run ``systems`` over the selected questions of ``dataset`` and score them.

    ``quick``: a stratified sample of ``eval.quick_per_type`` questions per type,
    under the ``eval.quick`` budget (:func:`quick_settings`). Raises
    :class:`EmptyCorpusError` when a system needs the corpus and the evaluation
    principal can read nothing.
    """
    started_all = time.perf_counter()
    if quick:
        settings = quick_settings(settings)
    items = select(dataset, quick=quick, per_type=settings.eval.quick_per_type, limit=limit)
    config = run_config(settings, systems)
    result = RunResult(
        run_id=datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset={
            "name": dataset.name,
            "version": dataset.version,
            "items": len(dataset.items),
            "selected": len(items),
            "quick": quick,
            "limit": limit,
        },
        systems=[s.name for s in systems],
        config=config,
        config_hash=config_hash(config),
        git_rev=git_revision(),
    )
    t = time.perf_counter()
    with EvalContext(settings, force_finetune=force_finetune) as ctx:
        try:
            corpus = ctx.corpus_docs()
        except IndexBackendError as exc:
            if "no collection" not in str(exc):  # a fresh data dir: nothing ingested yet
                raise
            corpus = []
        if not corpus and any(s.retrieves or s.finetuned for s in systems):
            raise EmptyCorpusError(empty_corpus_message(settings, dataset))
        relevant = {item.qid: item.reference_docs(corpus) for item in items}
        missing = [i.qid for i in items if i.sources and not relevant[i.qid]]
        if missing:
            result.warnings.append(
                f"{len(missing)} question(s) name reference documents the evaluation principal "
                f"cannot find in the index ({', '.join(missing[:10])}): retrieval scores 0"
            )
        scorer = None
        if any(s.answers for s in systems):
            from eval.scoring import AnswerScorer, judge_from_settings

            scorer = AnswerScorer(ctx.embedder, judge_from_settings(settings))
        result.stage_seconds["open index, corpus, scorer"] = round(time.perf_counter() - t, 1)
        rows: dict[str, dict[str, Any]] = {
            i.qid: {
                "qid": i.qid,
                "question": i.question,
                "type": i.question_type,
                "reference": i.reference,
                "sources": list(i.sources),
                "reference_docs": sorted(relevant[i.qid]),
                "outputs": {},
            }
            for i in items
        }
        for spec in systems:
            t = time.perf_counter()
            ctx.prepare(spec)
            t_answer = time.perf_counter()
            for n, item in enumerate(items, start=1):
                out = ctx.run(spec, item)
                metrics = _scores(spec, item, out, relevant[item.qid], scorer)
                rows[item.qid]["outputs"][spec.name] = {
                    "answer": out.answer,
                    "ranked_docs": out.ranked_docs[:10],
                    "contexts": [c[:CONTEXT_CHARS] for c in out.contexts],
                    "citations": out.citations,
                    "error": out.error,
                    "metrics": metrics,
                }
                if progress is not None:
                    progress(spec.name, n, len(items))
            result.stage_seconds[f"{spec.name}: load"] = round(t_answer - t, 1)
            result.stage_seconds[f"{spec.name}: answer and score"] = round(
                time.perf_counter() - t_answer, 1
            )
        for stage, seconds in ctx.stage_seconds.items():
            result.stage_seconds[stage] = round(seconds, 1)
        if ctx.finetune_result is not None:
            result.extra["finetune"] = ctx.finetune_result.to_dict()
    result.questions = list(rows.values())
    summarize(result, settings.eval.bootstrap_samples)
    result.stage_seconds["total"] = round(time.perf_counter() - started_all, 1)
    return result


def summarize(result: RunResult, samples: int = 1000) -> None:
    """Fill ``summary``, ``by_type`` and ``latency`` from the per-question metrics."""
    for system in result.systems:
        values: dict[str, list[float]] = {}
        typed: dict[str, dict[str, list[float]]] = {}
        for q in result.questions:
            out = q["outputs"].get(system)
            if out is None:
                continue
            for metric, value in out["metrics"].items():
                values.setdefault(metric, []).append(float(value))
                typed.setdefault(q["type"], {}).setdefault(metric, []).append(float(value))
        result.summary[system] = {
            m: bootstrap_ci(v, samples=samples).to_dict()
            for m, v in sorted(values.items())
            if m not in COST_METRICS
        }
        result.by_type[system] = {
            qtype: {m: statistics.fmean(v) for m, v in sorted(ms.items()) if m not in COST_METRICS}
            for qtype, ms in sorted(typed.items())
        }
        lat = values.get("latency_ms", [])
        result.latency[system] = {
            "p50_ms": percentile(lat, 0.5),
            "p95_ms": percentile(lat, 0.95),
            "prompt_tokens_mean": statistics.fmean(values.get("prompt_tokens", [0.0])),
            "completion_tokens_mean": statistics.fmean(values.get("completion_tokens", [0.0])),
        }


def runs_dir(settings: Settings) -> Path:
    return settings.data_dir / "eval" / "runs"


def save(result: RunResult, settings: Settings, history: Sequence[dict[str, Any]] = ()) -> Path:
    """Write ``results.json`` and ``report.html`` of ``result``; returns the run's folder."""
    folder = runs_dir(settings) / result.run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(result.to_dict(), indent=1))
    (folder / "report.html").write_text(render_report(result, history))
    return folder
