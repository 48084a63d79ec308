"""Evaluation: datasets, systems under test, fine-tuned baseline, metrics, reports, nightly gate.

Typical use::

    history, registry = open_history(settings)
    result = evaluate(settings, registry.get("sec-10q"), parse_systems(["rag", "closed-book"]))
    record(settings, history, result)
"""

from eval.datasets import Dataset, DatasetError, DatasetRegistry, EvalItem, load
from eval.history import History, Regression, regressions
from eval.nightly import NightlyOutcome, nightly, open_history, record
from eval.results import RunResult
from eval.run import evaluate
from eval.systems import SYSTEMS, SystemSpec, parse_systems

__all__ = [
    "SYSTEMS",
    "Dataset",
    "DatasetError",
    "DatasetRegistry",
    "EvalItem",
    "History",
    "NightlyOutcome",
    "Regression",
    "RunResult",
    "SystemSpec",
    "evaluate",
    "load",
    "nightly",
    "open_history",
    "parse_systems",
    "record",
    "regressions",
]
