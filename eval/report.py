"""The HTML report of a run: one self-contained file (inline SVG charts, no scripts, no fetches).

Sections: the comparison table (systems × metrics, mean and 95% bootstrap
interval), a bar chart per metric family, the key metrics per question type,
the trend over past runs of the same dataset, latency and tokens, and a
drill-down per question with each system's answer, contexts and citations.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, select_autoescape

from eval.report_template import TEMPLATE
from eval.run import RunResult

RETRIEVAL_ORDER = ("hit@1", "hit@5", "hit@10", "recall@5", "recall@10", "mrr", "ndcg@10")
ANSWER_ORDER = (
    "figure_match",
    "figure_recall",
    "semantic_similarity",
    "rouge_l",
    "string_presence",
    "context_recall",
    "context_precision",
    "faithfulness",
    "answer_relevancy",
    "factual_correctness",
    "no_answer",
)
#: The metric the per-type and trend charts follow, per kind of system.
KEY_METRICS = ("hit@5", "ndcg@10", "semantic_similarity", "figure_match")


def _ordered(metrics: set[str]) -> list[str]:
    known = [m for m in (*RETRIEVAL_ORDER, *ANSWER_ORDER) if m in metrics]
    return known + sorted(metrics - set(known))


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.find("<svg") :]


def _bars(
    title: str,
    groups: Sequence[str],
    series: dict[str, list[float]],
    errors: dict[str, list[tuple[float, float]]] | None = None,
) -> str:
    """Grouped bars: one group per entry of ``groups``, one bar per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(groups) * max(1, len(series)) / 2), 3.2))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + i * width - 0.4 + width / 2 for g in range(len(groups))]
        yerr = None
        if errors and name in errors:
            yerr = [
                [max(0.0, v - lo) for v, (lo, _) in zip(values, errors[name], strict=True)],
                [max(0.0, hi - v) for v, (_, hi) in zip(values, errors[name], strict=True)],
            ]
        ax.bar(xs, values, width, label=name, yerr=yerr, capsize=2)
    ax.set_xticks(range(len(groups)), list(groups), rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncols=min(4, len(series)), loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def _trend(history: Sequence[dict[str, Any]], current: RunResult) -> str | None:
    """Lines of each system's key metric over the past runs (plus this one)."""
    points = [h for h in history if h["run_id"] != current.run_id]
    points.append({"run_id": current.run_id, "summary": current.summary, "accepted": False})
    if len(points) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    for system in current.systems:
        metric = next((m for m in KEY_METRICS if m in current.summary.get(system, {})), None)
        if metric is None:
            continue
        ys = [p["summary"].get(system, {}).get(metric, {}).get("mean") for p in points]
        xs = [i for i, y in enumerate(ys) if y is not None]
        ax.plot(xs, [ys[i] for i in xs], marker="o", label=f"{system} {metric}")
    for i, p in enumerate(points):
        if p.get("accepted"):
            ax.axvline(i, color="grey", alpha=0.3)
    ax.set_xticks(range(len(points)), [p["run_id"][:15] for p in points], rotation=30, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_title("trend (grey lines: accepted baselines)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _svg(fig)


def charts(result: RunResult, history: Sequence[dict[str, Any]] = ()) -> dict[str, str]:
    """The report's charts as inline SVG, by title."""
    out: dict[str, str] = {}
    families = {
        "retrieval (document level)": list(RETRIEVAL_ORDER),
        "answers": [m for m in ANSWER_ORDER if m != "no_answer"],
    }
    for family, order in families.items():
        systems = [s for s in result.systems if any(m in result.summary[s] for m in order)]
        metrics = [m for m in order if any(m in result.summary[s] for s in systems)]
        if not systems or not metrics:
            continue
        series = {
            s: [result.summary[s].get(m, {}).get("mean", 0.0) for m in metrics] for s in systems
        }
        errors = {
            s: [
                (
                    result.summary[s].get(m, {}).get("low", 0.0),
                    result.summary[s].get(m, {}).get("high", 0.0),
                )
                for m in metrics
            ]
            for s in systems
        }
        out[f"{family}: mean and 95% interval"] = _bars(family, metrics, series, errors)
    types = sorted({t for s in result.by_type.values() for t in s})
    for metric in KEY_METRICS:
        systems = [s for s in result.systems if metric in result.summary.get(s, {})]
        if systems and types:
            series = {
                s: [result.by_type[s].get(t, {}).get(metric, 0.0) for t in types] for s in systems
            }
            out[f"{metric} by question type"] = _bars(f"{metric} by question type", types, series)
    trend = _trend(history, result)
    if trend is not None:
        out["trend over runs"] = trend
    return out


def render_report(result: RunResult, history: Sequence[dict[str, Any]] = ()) -> str:
    """The whole report as one HTML string."""
    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
    metrics = _ordered({m for s in result.summary.values() for m in s})
    return env.from_string(TEMPLATE).render(
        r=result,
        metrics=metrics,
        charts=charts(result, history),
        history=[h for h in history if h["run_id"] != result.run_id],
    )
