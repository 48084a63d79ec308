"""``deepwell eval``: datasets, runs, the fine-tuned baseline, history and the nightly gate.

Runs open the embedded index directly (stop a running server first: it holds
the lock). Results go to ``<data_dir>/eval/runs/<run_id>/`` (``results.json``,
``report.html``) and to the ``eval_runs`` table of the deepwell database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.common import console, domain_errors, err_console, load_settings

if TYPE_CHECKING:
    from eval.run import RunResult

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


def _table(result: RunResult) -> Table:
    from eval.report import _ordered

    metrics = _ordered({m for s in result.summary.values() for m in s})
    table = Table(title=f"{result.dataset['name']} · {result.dataset['selected']} questions")
    table.add_column("system")
    for m in metrics:
        table.add_column(m, justify="right")
    table.add_column("p50 s", justify="right")
    for system in result.systems:
        cells = []
        for m in metrics:
            e = result.summary[system].get(m)
            cells.append(f"{e['mean']:.3f} ±{(e['high'] - e['low']) / 2:.2f}" if e else "–")
        table.add_row(system, *cells, f"{result.latency[system]['p50_ms'] / 1000:.2f}")
    return table


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
    from eval.nightly import open_history

    settings = load_settings()
    with domain_errors():
        _, registry = open_history(settings)
        info = registry.register(name, path, fmt)  # type: ignore[arg-type]
    console.print(f"registered {info.name}: {info.items} questions, version {info.version}")


@dataset_app.command("list")
def dataset_list() -> None:
    """List the datasets (the SEC 10-Q set is built in when eval.data_dir has it)."""
    from eval.nightly import open_history

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


@app.command("run")
def run(
    dataset: str | None = typer.Option(None, help="Dataset name (default: eval.dataset)."),
    systems: str | None = typer.Option(
        None, help="Comma-separated systems (default: eval.systems)."
    ),
    quick: bool = typer.Option(False, "--quick", help="A stratified sample by question type."),
    limit: int | None = typer.Option(None, min=1, help="At most this many questions."),
    retrain: bool = typer.Option(False, help="Retrain the fine-tuned adapter even if cached."),
) -> None:
    """Evaluate systems on a dataset; write results JSON and an HTML report."""
    from eval.nightly import open_history, record
    from eval.run import evaluate
    from eval.systems import parse_systems

    settings = load_settings()
    with domain_errors():
        history, registry = open_history(settings)
        data = registry.get(dataset or settings.eval.dataset)
        specs = parse_systems([systems] if systems else settings.eval.systems)
        result: RunResult = _run_with_progress(  # type: ignore[assignment]
            evaluate, settings, data, specs, quick=quick, limit=limit, force_finetune=retrain
        )
        folder = record(settings, history, result)
    console.print(_table(result))
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {w}")
    stages = ", ".join(f"{k} {v}s" for k, v in result.stage_seconds.items())
    console.print(f"stages: {stages}")
    console.print(f"run {result.run_id}: {folder / 'report.html'}")


@app.command("nightly")
def nightly(
    quick: bool = typer.Option(
        True, "--quick/--full", help="Stratified sample, or every question."
    ),
    limit: int | None = typer.Option(None, min=1, help="At most this many questions."),
) -> None:
    """Run the configured suite, record it, and fail when a score dropped beyond tolerance."""
    from eval.nightly import NightlyOutcome
    from eval.nightly import nightly as run_nightly

    settings = load_settings()
    with domain_errors():
        outcome: NightlyOutcome = _run_with_progress(  # type: ignore[assignment]
            run_nightly, settings, quick=quick, limit=limit
        )
    console.print(_table(outcome.result))
    console.print(f"report: {outcome.folder / 'report.html'}")
    if outcome.passed:
        console.print(outcome.summary())
        return
    err_console.print(f"[red]{outcome.summary()}[/red]")
    raise typer.Exit(1)


@app.command("accept")
def accept(run_id: str = typer.Argument(..., help="The run to make the baseline.")) -> None:
    """Make a run the baseline its dataset's nightly runs are compared with."""
    from eval.nightly import open_history

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
    from eval.nightly import open_history

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
) -> None:
    """Train (or find cached) the LoRA adapter of eval.model on the corpus."""
    from eval.finetune import finetune
    from eval.systems import EvalContext

    settings = load_settings()
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

        result = finetune(settings, ctx.index, ctx.principal, force=force, progress=tick)
    state = "cached" if result.cached else f"trained in {result.seconds:.0f} s"
    console.print(
        f"adapter {result.key} ({state}): {result.chunks} chunks, {result.qa_pairs} Q/A pairs, "
        f"{result.steps} steps, loss {result.first_loss} -> {result.last_loss}\n{result.path}"
    )
