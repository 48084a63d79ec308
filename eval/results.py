"""What an evaluation run measured: the result record shared by the run, its report and history.

:mod:`eval.run` fills a :class:`RunResult`; :mod:`eval.report` draws it and
:mod:`eval.history` stores its summary. Kept apart from all three so each imports
it without importing the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Per-question numbers that describe cost, not quality: reported, never gated.
COST_METRICS = ("latency_ms", "prompt_tokens", "completion_tokens")


@dataclass
class RunResult:
    """Everything a run measured; ``summary[system][metric]`` is a CI estimate as a dict."""

    run_id: str
    created_at: str
    dataset: dict[str, Any]
    systems: list[str]
    config: dict[str, Any]
    config_hash: str
    git_rev: str
    summary: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    by_type: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    questions: list[dict[str, Any]] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(**data)
