"""Evaluation: datasets, systems under test, fine-tuned baseline, metrics, reports, nightly gate.

The front door: other packages import these names from ``eval``, never its modules. Each
name is imported from its module on first use, so ``import eval`` loads no model. Three
functions are exported under names that are not also module names: ``run_nightly``
(``eval.nightly.nightly``), ``finetune_baseline`` (``eval.finetune.finetune``) and
``generate_testset`` (``eval.generate.generate``).

Typical use::

    history, registry = open_history(settings)
    result = evaluate(settings, registry.get("sec-10q"), parse_systems(["rag", "closed-book"]))
    record(settings, history, result)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import lazy_exports

if TYPE_CHECKING:
    from eval.datasets import Dataset, DatasetError, DatasetRegistry, EvalItem, load
    from eval.finetune import finetune as finetune_baseline
    from eval.generate import (
        KINDS,
        ExtractiveWriter,
        LLMWriter,
        Writer,
        embedding_similarity,
        read_chunks,
        write_jsonl,
    )
    from eval.generate import generate as generate_testset
    from eval.history import History, Regression, regressions
    from eval.latest import LatestReport, latest_report
    from eval.nightly import NightlyOutcome, open_history, record
    from eval.nightly import nightly as run_nightly
    from eval.report import ANSWER_ORDER, ordered_metrics
    from eval.results import RunResult
    from eval.run import EmptyCorpusError, dataset_docs, evaluate, quick_settings
    from eval.systems import SYSTEMS, EvalContext, SystemSpec, eval_llm_settings, parse_systems

#: Where each public name lives. Imported on first use.
_EXPORTS = {
    "Dataset": "eval.datasets",
    "DatasetError": "eval.datasets",
    "DatasetRegistry": "eval.datasets",
    "EvalItem": "eval.datasets",
    "load": "eval.datasets",
    "SYSTEMS": "eval.systems",
    "EvalContext": "eval.systems",
    "SystemSpec": "eval.systems",
    "eval_llm_settings": "eval.systems",
    "parse_systems": "eval.systems",
    "EmptyCorpusError": "eval.run",
    "dataset_docs": "eval.run",
    "evaluate": "eval.run",
    "quick_settings": "eval.run",
    "RunResult": "eval.results",
    "ANSWER_ORDER": "eval.report",
    "ordered_metrics": "eval.report",
    "History": "eval.history",
    "Regression": "eval.history",
    "regressions": "eval.history",
    "LatestReport": "eval.latest",
    "latest_report": "eval.latest",
    "NightlyOutcome": "eval.nightly",
    "run_nightly": "eval.nightly:nightly",
    "open_history": "eval.nightly",
    "record": "eval.nightly",
    "finetune_baseline": "eval.finetune:finetune",
    "KINDS": "eval.generate",
    "ExtractiveWriter": "eval.generate",
    "LLMWriter": "eval.generate",
    "Writer": "eval.generate",
    "embedding_similarity": "eval.generate",
    "generate_testset": "eval.generate:generate",
    "read_chunks": "eval.generate",
    "write_jsonl": "eval.generate",
}

__all__ = [
    "ANSWER_ORDER",
    "KINDS",
    "SYSTEMS",
    "Dataset",
    "DatasetError",
    "DatasetRegistry",
    "EmptyCorpusError",
    "EvalContext",
    "EvalItem",
    "ExtractiveWriter",
    "History",
    "LLMWriter",
    "LatestReport",
    "NightlyOutcome",
    "Regression",
    "RunResult",
    "SystemSpec",
    "Writer",
    "dataset_docs",
    "embedding_similarity",
    "eval_llm_settings",
    "evaluate",
    "finetune_baseline",
    "generate_testset",
    "latest_report",
    "load",
    "open_history",
    "ordered_metrics",
    "parse_systems",
    "quick_settings",
    "read_chunks",
    "record",
    "regressions",
    "run_nightly",
    "write_jsonl",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
