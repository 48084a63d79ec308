"""The HTML report of a run: one self-contained file (inline SVG charts, no scripts, no fetches).

Sections: the comparison table (metrics down, systems across, grouped into
retrieval, answers and cost; mean, 95% bootstrap interval, the best system in
bold), a bar chart per metric family and per key metric by question type
(systems with identical values drawn once, as ``a = b``), the trend over past
runs of the same dataset, the key metrics per question type, wall time per
stage, and a drill-down per question with each system's answer, metrics,
ranking, citations and contexts. Checked in Chromium at 1280 px: no horizontal
scrolling.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, select_autoescape

from eval.report_template import TEMPLATE
from eval.results import COST_METRICS, RunResult

RETRIEVAL_ORDER = (
    "hit@1",
    "hit@5",
    "hit@10",
    "recall@1",
    "recall@5",
    "recall@10",
    "mrr",
    "ndcg@10",
)
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
#: The metrics the per-type charts follow.
KEY_METRICS = ("hit@5", "ndcg@10", "semantic_similarity", "figure_match")
#: The metric a system's trend line follows: its answers where it answers, else retrieval.
TREND_METRICS = ("semantic_similarity", "figure_match", "hit@5", "ndcg@10")


def ordered_metrics(metrics: set[str]) -> list[str]:
    """``metrics`` in report order: retrieval, then answers, then any others by name."""
    known = [m for m in (*RETRIEVAL_ORDER, *ANSWER_ORDER) if m in metrics]
    return known + sorted(metrics - set(known))


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.find("<svg") :]


def _merge_identical(series: dict[str, list[float]]) -> dict[str, list[float]]:
    """Series with the same values drawn once, labelled ``a = b`` (systems sharing a retriever)."""
    merged: dict[tuple[float, ...], list[str]] = {}
    for name, values in series.items():
        merged.setdefault(tuple(round(v, 9) for v in values), []).append(name)
    return {" = ".join(names): list(values) for values, names in merged.items()}


def _colors(systems: Sequence[str]) -> dict[str, str]:
    """One colour per system, the same in every chart of a report."""
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
    return {s: palette[i % len(palette)] for i, s in enumerate(systems)}


def _bars(
    groups: Sequence[str],
    series: dict[str, list[float]],
    errors: dict[str, list[tuple[float, float]]] | None = None,
    colors: dict[str, str] | None = None,
) -> str:
    """Grouped bars: one group per entry of ``groups``, one bar per series (0–1 scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + i * width - 0.4 + width / 2 for g in range(len(groups))]
        yerr = None
        if errors and name.split(" = ")[0] in errors:
            band = errors[name.split(" = ")[0]]
            yerr = [
                [max(0.0, v - lo) for v, (lo, _) in zip(values, band, strict=True)],
                [max(0.0, hi - v) for v, (_, hi) in zip(values, band, strict=True)],
            ]
        color = (colors or {}).get(name.split(" = ")[0])
        ax.bar(
            xs,
            values,
            width,
            label=name,
            color=color,
            yerr=yerr,
            capsize=2,
            error_kw={"elinewidth": 0.8},
        )
    ax.set_xticks(range(len(groups)), list(groups), rotation=15, ha="right", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(0, 1.22)  # the band above 1.0 holds the legend
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.legend(fontsize=7, ncols=min(4, len(series)), loc="upper center", frameon=False)
    if all(v == 0 for values in series.values() for v in values):
        ax.text(0.5, 0.45, "all values 0", transform=ax.transAxes, ha="center", color="grey")
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
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

    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for system in current.systems:
        metric = next((m for m in TREND_METRICS if m in current.summary.get(system, {})), None)
        if metric is None:
            continue
        ys = [p["summary"].get(system, {}).get(metric, {}).get("mean") for p in points]
        xs = [i for i, y in enumerate(ys) if y is not None]
        ax.plot(
            xs,
            [ys[i] for i in xs],
            marker="o",
            label=f"{system} {metric}",
            color=_colors(current.systems)[system],
        )
    for i, p in enumerate(points):
        if p.get("accepted"):
            ax.axvline(i, color="grey", alpha=0.3)
    labels = [p["run_id"][:15] for p in points]
    ax.set_xticks(range(len(points)), labels, rotation=20, ha="right", fontsize=7)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=3, frameon=False)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def charts(result: RunResult, history: Sequence[dict[str, Any]] = ()) -> dict[str, str]:
    """The report's charts as inline SVG, by title."""
    out: dict[str, str] = {}
    colors = _colors(result.systems)
    families = {
        "retrieval (document level)": list(RETRIEVAL_ORDER),
        "answers": [m for m in ANSWER_ORDER if m != "no_answer"],
    }
    for family, order in families.items():
        systems = [s for s in result.systems if any(m in result.summary[s] for m in order)]
        metrics = [m for m in order if any(m in result.summary[s] for s in systems)]
        if not systems or not metrics:
            continue
        series = _merge_identical(
            {s: [result.summary[s].get(m, {}).get("mean", 0.0) for m in metrics] for s in systems}
        )
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
        out[f"{family}: mean and 95% interval"] = _bars(metrics, series, errors, colors)
    types = sorted({t for s in result.by_type.values() for t in s})
    for metric in KEY_METRICS:
        systems = [s for s in result.systems if metric in result.summary.get(s, {})]
        if systems and types:
            series = _merge_identical(
                {s: [result.by_type[s].get(t, {}).get(metric, 0.0) for t in types] for s in systems}
            )
            out[f"{metric} by question type"] = _bars(types, series, colors=colors)
    trend = _trend(history, result)
    if trend is not None:
        out["trend over runs (grey lines: accepted baselines)"] = trend
    return out


#: Rows of the comparison table's cost group: label, key of ``RunResult.latency``, format.
COST_ROWS = (
    ("latency p50 (ms)", "p50_ms", "%.0f"),
    ("latency p95 (ms)", "p95_ms", "%.0f"),
    ("prompt tokens", "prompt_tokens_mean", "%.0f"),
    ("answer tokens", "completion_tokens_mean", "%.0f"),
)
#: Metrics shown per question type (all of them are in ``results.json``).
TYPE_METRICS = ("hit@5", "mrr", "ndcg@10", "figure_match", "semantic_similarity", "rouge_l")
LOWER_IS_BETTER = frozenset({"no_answer"})


def best_systems(result: RunResult) -> dict[str, set[str]]:
    """Per metric, the systems with the best mean, where at least two systems differ on it."""
    out: dict[str, set[str]] = {}
    for m in {m for s in result.summary.values() for m in s}:
        means = {s: est["mean"] for s, ms in result.summary.items() if (est := ms.get(m))}
        if len(set(means.values())) < 2:
            continue
        top = (min if m in LOWER_IS_BETTER else max)(means.values())
        out[m] = {s for s, v in means.items() if v == top}
    return out


def render_report(result: RunResult, history: Sequence[dict[str, Any]] = ()) -> str:
    """The whole report as one HTML string."""
    from eval.systems import SYSTEMS

    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True)
    metrics = ordered_metrics({m for s in result.summary.values() for m in s})
    groups = [
        ("retrieval (document level)", [m for m in metrics if m not in ANSWER_ORDER]),
        ("answers", [m for m in metrics if m in ANSWER_ORDER]),
    ]
    types = sorted({t for s in result.by_type.values() for t in s})
    return env.from_string(TEMPLATE).render(
        r=result,
        groups=[(g, names) for g, names in groups if names],
        best=best_systems(result),
        cost_rows=COST_ROWS,
        descriptions={name: spec.description for name, spec in SYSTEMS.items()},
        types=types,
        type_counts={t: sum(q["type"] == t for q in result.questions) for t in types},
        type_metrics=[m for m in TYPE_METRICS if m in metrics],
        charts=charts(result, history),
        cost_metrics=COST_METRICS,
        history=[h for h in history if h["run_id"] != result.run_id],
    )
