"""``deepwell models``: list, verify and prepare the packaged models."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cli.common import console, domain_errors, err_console, load_settings
from core import CATALOG, ModelError, ModelSpec, get_spec, model_path, prepare, verify

app = typer.Typer(help="List, verify and prepare the local models.", no_args_is_help=True)


def _size(n: int) -> str:
    if n < 1_000_000:
        return f"{n / 1e3:,.1f} kB"
    return f"{n / 1e6:,.1f} MB"


def _specs(names: list[str] | None) -> list[ModelSpec]:
    with domain_errors():
        return [get_spec(n) for n in names] if names else list(CATALOG.values())


@app.command("list")
def list_() -> None:
    """The models deepwell knows, where they come from, and which ones the settings use."""
    settings = load_settings()
    in_use = {settings.embedding.model}
    if settings.llm.backend == "local":
        in_use.add(settings.llm.model)
    table = Table("name", "kind", "packages", "state", "in use", "description")
    for spec in CATALOG.values():
        try:
            path = model_path(spec, settings.models.cache_dir)
            state = "ready" if path.exists() else "installed (not prepared)"
        except ModelError:
            state = f"[red]missing[/red]: {spec.install_hint}"
        pkgs = spec.packages[0] + (
            f" (+{len(spec.packages) - 1} parts)" if len(spec.packages) > 1 else ""
        )
        table.add_row(
            spec.name,
            spec.kind,
            pkgs,
            state,
            "yes" if spec.name in in_use else "",
            spec.description,
        )
    console.print(table)
    if settings.embedding.model_path or settings.llm.model_path:
        console.print(
            f"user models: embedding={settings.embedding.model_path} llm={settings.llm.model_path}"
        )


@app.command("verify")
def verify_cmd(
    names: list[str] = typer.Argument(None, help="Models to verify (default: all)."),
) -> None:
    """Hash every model file now and compare with the pinned SHA-256; exit 1 on any mismatch."""
    settings = load_settings()
    failed = 0
    for spec in _specs(names):
        try:
            result = verify(spec, settings.models.cache_dir)
        except ModelError as exc:
            failed += 1
            err_console.print(f"[red]MISSING[/red]  {spec.name}: {exc}")
            continue
        note = "" if result.prepared else "  (not assembled yet; checked the parts in the packages)"
        console.print(f"[bold]{spec.name}[/bold]  {result.path}  {_size(result.size)}{note}")
        for check in result.files:
            if check.ok:
                mark = "[green]OK[/green]      "
            else:
                failed += 1
                mark = "[red]MISMATCH[/red]"
            name = _rel(check.path, result.path)
            console.print(f"  {mark} {check.actual_sha256}  {_size(check.size)}  {name}")
            if not check.ok:
                console.print(f"           expected {check.expected_sha256}")
    if failed:
        err_console.print(f"[red]{failed} model file(s) failed verification[/red]")
        raise typer.Exit(1)


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path != root and path.is_relative_to(root) else path.name


@app.command("prepare")
def prepare_cmd(
    names: list[str] = typer.Argument(
        None, help="Models to prepare (default: those the settings use)."
    ),
    all_: bool = typer.Option(False, "--all", help="Prepare every known model."),
) -> None:
    """Assemble split models into the cache and verify them, once per machine."""
    settings = load_settings()
    if all_:
        specs = list(CATALOG.values())
    elif names:
        specs = _specs(names)
    else:
        wanted = [] if settings.embedding.model_path else [settings.embedding.model]
        if settings.llm.backend == "local" and not settings.llm.model_path:
            wanted.append(settings.llm.model)
        specs = _specs(wanted)
    with domain_errors():
        for spec in specs:
            with console.status(f"preparing {spec.name}…"):
                result = prepare(spec, settings.models.cache_dir)
            console.print(f"[green]ready[/green]  {spec.name}  {result.path}  {_size(result.size)}")
            if spec.kind == "embedding" and settings.embedding.backend != "torch":
                from retrieval import prepare_onnx

                quantize = settings.embedding.backend == "onnx-int8"
                with console.status(f"exporting {spec.name} to {settings.embedding.backend}…"):
                    onnx = prepare_onnx(result, settings.models.cache_dir, quantize=quantize)
                console.print(
                    f"[green]ready[/green]  {spec.name} ({settings.embedding.backend})  {onnx}"
                )
