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

from importlib import import_module
from typing import TYPE_CHECKING, Any

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
    from eval.nightly import NightlyOutcome, open_history, record
    from eval.nightly import nightly as run_nightly
    from eval.report import ANSWER_ORDER, ordered_metrics
    from eval.results import RunResult
    from eval.run import EmptyCorpusError, dataset_docs, evaluate, quick_settings
    from eval.systems import SYSTEMS, EvalContext, SystemSpec, eval_llm_settings, parse_systems

#: Where each public name lives. Imported on first use.
_EXPORTS: dict[str, tuple[str, str]] = {
    "Dataset": ("eval.datasets", "Dataset"),
    "DatasetError": ("eval.datasets", "DatasetError"),
    "DatasetRegistry": ("eval.datasets", "DatasetRegistry"),
    "EvalItem": ("eval.datasets", "EvalItem"),
    "load": ("eval.datasets", "load"),
    "SYSTEMS": ("eval.systems", "SYSTEMS"),
    "EvalContext": ("eval.systems", "EvalContext"),
    "SystemSpec": ("eval.systems", "SystemSpec"),
    "eval_llm_settings": ("eval.systems", "eval_llm_settings"),
    "parse_systems": ("eval.systems", "parse_systems"),
    "EmptyCorpusError": ("eval.run", "EmptyCorpusError"),
    "dataset_docs": ("eval.run", "dataset_docs"),
    "evaluate": ("eval.run", "evaluate"),
    "quick_settings": ("eval.run", "quick_settings"),
    "RunResult": ("eval.results", "RunResult"),
    "ANSWER_ORDER": ("eval.report", "ANSWER_ORDER"),
    "ordered_metrics": ("eval.report", "ordered_metrics"),
    "History": ("eval.history", "History"),
    "Regression": ("eval.history", "Regression"),
    "regressions": ("eval.history", "regressions"),
    "NightlyOutcome": ("eval.nightly", "NightlyOutcome"),
    "run_nightly": ("eval.nightly", "nightly"),
    "open_history": ("eval.nightly", "open_history"),
    "record": ("eval.nightly", "record"),
    "finetune_baseline": ("eval.finetune", "finetune"),
    "KINDS": ("eval.generate", "KINDS"),
    "ExtractiveWriter": ("eval.generate", "ExtractiveWriter"),
    "LLMWriter": ("eval.generate", "LLMWriter"),
    "Writer": ("eval.generate", "Writer"),
    "embedding_similarity": ("eval.generate", "embedding_similarity"),
    "generate_testset": ("eval.generate", "generate"),
    "read_chunks": ("eval.generate", "read_chunks"),
    "write_jsonl": ("eval.generate", "write_jsonl"),
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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'eval' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(import_module(module), attr)
    globals()[name] = value  # resolved once
    return value
