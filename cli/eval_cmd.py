"""``deepwell eval``: datasets, runs, the fine-tuned baseline, history and the nightly gate.

Runs open the embedded index directly (stop a running server first: it holds
the lock). Results go to ``<data_dir>/eval/runs/<run_id>/`` (``results.json``,
``report.html``) and to the ``eval_runs`` table of the deepwell database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import console, domain_errors, err_console, load_settings, refuse_beside_server
from cli.ingest_run import run_ingest
from core import Settings

if TYPE_CHECKING:
    from eval import RunResult

app = typer.Typer(help="Evaluate RAG against a fine-tuned baseline; nightly gate.")
dataset_app = typer.Typer(help="Question sets: register and list.")
app.add_typer(dataset_app, name="dataset")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


#: Width of a system's column: a score and its interval half-width, ``0.75±.25``.
_CELL = 9
_COST_ROWS: tuple[tuple[str, Callable[[dict[str, float]], str]], ...] = (
    ("p50 s", lambda lat: f"{lat['p50_ms'] / 1000:.2f}"),
    ("p95 s", lambda lat: f"{lat['p95_ms'] / 1000:.2f}"),
    ("prompt tok", lambda lat: f"{lat['prompt_tokens_mean']:.0f}"),
    ("answer tok", lambda lat: f"{lat['completion_tokens_mean']:.0f}"),
)


def _cell(estimate: dict[str, float] | None) -> str:
    """``0.75±.25``: the mean and half the 95% interval, in 9 characters at most."""
    if not estimate:
        return "–"
    half = (estimate["high"] - estimate["low"]) / 2
    return f"{estimate['mean']:.2f}±{f'{half:.2f}'.removeprefix('0')}"


def _header(system: str) -> str:
    """A system's name broken after ``-`` / before ``+`` when wider than a cell (not cropped)."""
    if len(system) <= _CELL:
        return system
    return system.replace("-", "-\n", 1) if "-" in system else system.replace("+", "\n+", 1)


def _tables(result: RunResult, width: int = 80) -> list[Table]:
    """The run as tables that fit ``width`` columns: metrics down, systems across.

    Rows come in groups (retrieval, answers, cost); when the systems do not fit
    side by side they are split over several tables.
    """
    from eval import ANSWER_ORDER, ordered_metrics

    metrics = ordered_metrics({m for s in result.summary.values() for m in s})
    groups = [
        ("retrieval", [m for m in metrics if m not in ANSWER_ORDER]),
        ("answers", [m for m in metrics if m in ANSWER_ORDER]),
    ]
    label = max([len(m) for m in metrics] + [len(n) for n, _ in _COST_ROWS] + [9])
    per_table = max(1, (width - label - 1) // (_CELL + 3))  # padding and a separator each
    chunks = [result.systems[i : i + per_table] for i in range(0, len(result.systems), per_table)]
    title = f"{result.dataset['name']} · {result.dataset['selected']} questions"
    tables = []
    for n, systems in enumerate(chunks, start=1):
        part = f" ({n}/{len(chunks)})" if len(chunks) > 1 else ""
        table = Table(
            title=title + part,
            caption="mean±half 95% CI; – not applicable",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
        )
        table.add_column("metric", min_width=label, no_wrap=True)
        for system in systems:
            table.add_column(_header(system), justify="right", min_width=_CELL)
        for group, names in groups:
            if not names:
                continue
            table.add_row(f"[bold]{group}[/bold]", *[""] * len(systems))
            for m in names:
                table.add_row(m, *[_cell(result.summary[s].get(m)) for s in systems])
        table.add_row("[bold]cost[/bold]", *[""] * len(systems))
        for name, fmt in _COST_ROWS:
            table.add_row(name, *[fmt(result.latency[s]) for s in systems])
        tables.append(table)
    return tables


def _print_result(result: RunResult) -> None:
    for table in _tables(result, console.width):
        console.print(table)
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {w}")
    stages = Table(
        title="wall time per stage", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False
    )
    stages.add_column("stage")
    stages.add_column("s", justify="right")
    for stage, seconds in result.stage_seconds.items():
        stages.add_row(stage, f"{seconds:.1f}")
    console.print(stages)


def _run_with_progress(fn: object, *args: object, **kwargs: object) -> object:
    tasks: dict[str, object] = {}
    with _progress() as bar:

        def tick(system: str, done: int, total: int) -> None:
            if system not in tasks:
                tasks[system] = bar.add_task(system, total=total)
            bar.update(tasks[system], completed=done)  # type: ignore[arg-type]

        return fn(*args, progress=tick, **kwargs)  # type: ignore[operator]


@dataset_app.command("register")
def dataset_register(
    name: str = typer.Argument(..., help="Name to refer to the dataset by."),
    path: Path = typer.Argument(..., help="A CSV or JSONL question file."),
    fmt: str | None = typer.Option(None, "--format", help="sec-10q, csv or jsonl (guessed)."),
) -> None:
    """Register a question set (checked by loading it)."""
    from eval import open_history

    settings = load_settings()
    with domain_errors():
        _, registry = open_history(settings)
        info = registry.register(name, path, fmt)  # type: ignore[arg-type]
    console.print(f"registered {info.name}: {info.items} questions, version {info.version}")


@dataset_app.command("list")
def dataset_list() -> None:
    """List the datasets (the SEC 10-Q set is built in when eval.data_dir has it)."""
    from eval import open_history

    settings = load_settings()
    with domain_errors():
        _, registry = open_history(settings)
        infos = registry.list()
    table = Table()
    for col in ("name", "questions", "version", "format", "path"):
        table.add_column(col)
    for i in infos:
        name = i.name + (" (built in)" if i.builtin else "")
        table.add_row(name, str(i.items), i.version, i.format, str(i.path))
    console.print(table)


def _ingest(settings: Settings, docs: Path) -> None:
    """Ingest a dataset's documents as public (`--acl '*'`), as `deepwell ingest` does."""
    from ingest import collect_documents

    err_console.print(f"the corpus is empty: ingesting {docs} (acl '*') first")
    found = collect_documents(settings, [docs], acl=["*"])
    if not found:
        err_console.print("nothing to ingest: no files matched")
        raise typer.Exit(1)
    run_ingest(settings, found)


@app.command("run")
def run(
    dataset: str | None = typer.Option(None, help="Dataset name (default: eval.dataset)."),
    systems: str | None = typer.Option(
        None, help="Comma-separated systems (default: eval.systems)."
    ),
    quick: bool = typer.Option(
        False,
        "--quick",
        help="A stratified sample by question type, under the eval.quick budget (~15 min).",
    ),
    limit: int | None = typer.Option(None, min=1, help="At most this many questions."),
    retrain: bool = typer.Option(False, help="Retrain the fine-tuned adapter even if cached."),
    ingest_missing: bool = typer.Option(
        False,
        "--ingest-missing",
        help="When the evaluation principal can read no document, ingest the dataset's "
        "documents folder first (the SEC set: <eval.data_dir>/sec-10q/docs).",
    ),
) -> None:
    """Evaluate systems on a dataset; write results JSON and an HTML report."""
    from eval import EmptyCorpusError, dataset_docs, evaluate, open_history, parse_systems, record

    settings = load_settings()
    refuse_beside_server(settings, "deepwell eval run")
    with domain_errors():
        history, registry = open_history(settings)
        data = registry.get(dataset or settings.eval.dataset)
        specs = parse_systems([systems] if systems else settings.eval.systems)
        kwargs = {"quick": quick, "limit": limit, "force_finetune": retrain}
        try:
            result: RunResult = _run_with_progress(evaluate, settings, data, specs, **kwargs)  # type: ignore[assignment]
        except EmptyCorpusError:
            docs = dataset_docs(settings, data)
            if not ingest_missing or docs is None:
                raise
            _ingest(settings, docs)
            result = _run_with_progress(evaluate, settings, data, specs, **kwargs)  # type: ignore[assignment]
        folder = record(settings, history, result)
    _print_result(result)
    console.print(f"run {result.run_id}: {folder / 'report.html'}")


@app.command("nightly")
def nightly(
    quick: bool = typer.Option(
        True, "--quick/--full", help="Stratified sample, or every question."
    ),
    limit: int | None = typer.Option(None, min=1, help="At most this many questions."),
) -> None:
    """Run the configured suite, record it, and fail when a score dropped beyond tolerance."""
    from eval import NightlyOutcome, run_nightly

    settings = load_settings()
    refuse_beside_server(settings, "deepwell eval nightly")
    with domain_errors():
        outcome: NightlyOutcome = _run_with_progress(  # type: ignore[assignment]
            run_nightly, settings, quick=quick, limit=limit
        )
    _print_result(outcome.result)
    console.print(f"report: {outcome.folder / 'report.html'}")
    if outcome.passed:
        console.print(outcome.summary())
        return
    err_console.print(f"[red]{outcome.summary()}[/red]")
    raise typer.Exit(1)


@app.command("accept")
def accept(run_id: str = typer.Argument(..., help="The run to make the baseline.")) -> None:
    """Make a run the baseline its dataset's nightly runs are compared with."""
    from eval import open_history

    settings = load_settings()
    with domain_errors():
        history, _ = open_history(settings)
        run = history.accept(run_id)
    console.print(f"baseline of {run.dataset}: {run.run_id}")


@app.command("history")
def history_cmd(
    dataset: str | None = typer.Option(None, help="Only runs of this dataset."),
    limit: int = typer.Option(20, min=1),
) -> None:
    """List recent runs."""
    from eval import open_history

    settings = load_settings()
    with domain_errors():
        history, _ = open_history(settings)
        runs = history.runs(dataset, limit)
    table = Table()
    for col in ("run", "when", "dataset", "systems", "git", "config", "baseline"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            r.run_id,
            r.created_at.isoformat(timespec="minutes"),
            f"{r.dataset}@{r.dataset_version[:8]}",
            ",".join(r.systems),
            r.git_rev,
            r.config_hash,
            "yes" if r.accepted else "",
        )
    console.print(table)


@app.command("finetune")
def finetune_cmd(
    sample: int | None = typer.Option(None, "--sample", min=1, help="Chunks to train on."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Optimizer steps."),
    force: bool = typer.Option(False, help="Retrain even when a cached adapter fits."),
    quick: bool = typer.Option(
        False, "--quick", help="The adapter of quick runs (eval.quick's fine-tune budget)."
    ),
) -> None:
    """Train (or find cached) the LoRA adapter of eval.model on the corpus."""
    from eval import EvalContext, finetune_baseline, quick_settings

    settings = load_settings()
    if quick:
        settings = quick_settings(settings)
    updates = {"sample_chunks": sample, "max_steps": max_steps}
    tuned = settings.eval.finetune.model_copy(
        update={k: v for k, v in updates.items() if v is not None}
    )
    settings = settings.model_copy(
        update={"eval": settings.eval.model_copy(update={"finetune": tuned})}
    )
    with domain_errors(), EvalContext(settings) as ctx, _progress() as bar:
        task = bar.add_task("finetune", total=tuned.max_steps)

        def tick(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, description=f"finetune loss {loss:.3f}")

        result = finetune_baseline(settings, ctx.index, ctx.principal, force=force, progress=tick)
    state = "cached" if result.cached else f"trained in {result.seconds:.0f} s"
    console.print(
        f"adapter {result.key} ({state}): {result.chunks} chunks, {result.qa_pairs} Q/A pairs, "
        f"{result.steps} steps, loss {result.first_loss} -> {result.last_loss}\n{result.path}"
    )


@app.command("generate")
def generate_cmd(
    name: str = typer.Argument(..., help="Name to register the generated set under."),
    n: int = typer.Option(30, "--n", min=1, help="Items to generate."),
    kinds: str = typer.Option(
        "single-hop,multi-hop,table", "--kinds", help="Comma-separated kinds, taking turns."
    ),
    model: str | None = typer.Option(
        None, help="Writer model: a local model name (default eval.model) or the endpoint's."
    ),
    out: Path | None = typer.Option(
        None, help="JSONL file to write (default <data_dir>/eval/datasets/NAME.jsonl)."
    ),
    seed: int = typer.Option(0, help="Chunk sampling seed."),
    max_tokens: int = typer.Option(160, min=16, help="Longest reply of the writer model."),
) -> None:
    """Write a synthetic question set from the ingested corpus and register it.

    The writer is llm.backend's model (`extractive`: templates, no model). Only
    chunks the evaluation principal may read are used.
    """
    from eval import (
        KINDS,
        EvalContext,
        ExtractiveWriter,
        LLMWriter,
        Writer,
        embedding_similarity,
        eval_llm_settings,
        generate_testset,
        open_history,
        read_chunks,
        write_jsonl,
    )

    settings = load_settings()
    wanted = [k.strip() for k in kinds.split(",") if k.strip()]
    bad = [k for k in wanted if k not in KINDS]
    if bad or not wanted:
        err_console.print(f"[red]error:[/red] unknown kind(s) {bad}; known: {', '.join(KINDS)}")
        raise typer.Exit(2)
    if model:
        settings = settings.model_copy(
            update={"eval": settings.eval.model_copy(update={"model": model})}
        )
    settings = settings.model_copy(
        update={"eval": settings.eval.model_copy(update={"max_tokens": max_tokens})}
    )
    path = out or settings.data_dir / "eval" / "datasets" / f"{name}.jsonl"
    with domain_errors(), EvalContext(settings) as ctx, _progress() as bar:
        chunks = read_chunks(ctx.index, ctx.principal)
        if not chunks:
            from eval import EmptyCorpusError

            raise EmptyCorpusError(
                f"the evaluation principal {settings.eval.user!r} can read no chunk in "
                f"{settings.data_dir}: ingest documents first (`deepwell ingest DOCS --acl '*'`)"
            )
        writer: Writer
        if settings.llm.backend == "extractive":
            writer = ExtractiveWriter(seed)
        else:
            from retrieval import get_llm

            llm = get_llm(eval_llm_settings(settings))
            llm.warm_up()
            writer = LLMWriter(llm)
        task = bar.add_task("generate", total=n)
        report = generate_testset(
            chunks,
            writer,
            n,
            kinds=wanted,  # type: ignore[arg-type]
            seed=seed,
            similar=embedding_similarity(ctx.embedder),
            progress=lambda done, total: bar.update(task, completed=done),
        )
    if not report.items:
        err_console.print(f"[red]error:[/red] no item passed the filters: {report.to_dict()}")
        raise typer.Exit(1)
    write_jsonl(report.items, path, prefix=f"{name}-")
    with domain_errors():
        _, registry = open_history(settings)
        info = registry.register(name, path, "jsonl")
    by_kind = Counter(i.kind for i in report.items)
    rejected = ", ".join(f"{k} {v}" for k, v in report.rejected.most_common()) or "none"
    console.print(
        f"registered {info.name}: {info.items} items "
        f"({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items()))}) from "
        f"{report.attempts} attempts; rejected: {rejected}\n{path}"
    )
    for item in report.items[:3]:
        console.print(
            f"- [{item.kind}] {item.question}\n  → {item.answer}  ({', '.join(item.docs)})",
            markup=False,
        )
