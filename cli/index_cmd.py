"""``deepwell index``: the vector index itself (moving it between backends)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from cli.common import console, domain_errors, err_console, load_settings

app = typer.Typer(help="The vector index: copy it between backends.", no_args_is_help=True)


class Target(StrEnum):
    server = "server"
    embedded = "embedded"


@app.command("migrate")
def migrate(
    to: Target = typer.Option(
        ...,
        "--to",
        help="`server`: into a Qdrant server collection; "
        "`embedded`: into an embedded (qdrant-edge) index.",
    ),
    url: str | None = typer.Option(None, help="--to server: the Qdrant URL (default index.url)."),
    path: Path | None = typer.Option(
        None,
        help="--to server: a qdrant-client local-mode directory instead of a URL; "
        "--to embedded: the index directory (default <data_dir>/index).",
    ),
    collection: str | None = typer.Option(
        None, help="Target collection (default index.collection)."
    ),
    batch: int = typer.Option(256, min=1, help="Points per write."),
    queries: int = typer.Option(20, min=0, help="Queries of the verification set."),
    k: int = typer.Option(10, min=1, help="Top-k compared per query."),
) -> None:
    """Copy the configured index into the other backend, then verify counts and top-k.

    The source is the index the settings name (stop a server that owns an embedded
    index first). Afterwards, point the settings at the target: index.backend =
    qdrant with index.url (or edge with index.path).
    """
    from retrieval import (
        EdgeIndex,
        QdrantClientIndex,
        VectorIndex,
        copy_points,
        open_index,
        sample_queries,
        verify_copy,
    )

    settings = load_settings()
    cfg = settings.index
    name = collection or cfg.collection
    with domain_errors():
        source = open_index(settings)
        target: VectorIndex
        try:
            if to is Target.server:
                if cfg.backend == "qdrant":
                    raise typer.BadParameter("the configured index is already the server backend")
                api_key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
                server_url = None if path is not None else (url or cfg.url)
                if server_url is None and path is None:
                    raise typer.BadParameter("--to server needs --url (or index.url) or --path")
                target = QdrantClientIndex.connect(
                    name,
                    url=server_url,
                    path=path,
                    api_key=api_key if server_url else None,
                    timeout_s=cfg.timeout_s,
                    shards=cfg.shard_number,
                    replication_factor=cfg.replication_factor,
                    write_consistency=cfg.write_consistency_factor,
                    retries=cfg.retries,
                    retry_backoff_s=cfg.retry_backoff_s,
                )
            else:
                if cfg.backend == "edge":
                    raise typer.BadParameter("the configured index is already the embedded backend")
                target = EdgeIndex(path or settings.index_path, name)
            with target:
                total = source.count()
                sample = next(iter(source.export(1)), None)
                if sample is None:
                    err_console.print("the source index is empty: nothing to migrate")
                    raise typer.Exit(1)
                target.ensure_collection(len(sample.dense))
                with Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=err_console,
                ) as bar:
                    task = bar.add_task("copying points", total=total)
                    copied = copy_points(
                        source, target, batch=batch, on_batch=lambda n: bar.advance(task, n)
                    )
                target.optimize()
                report = verify_copy(source, target, sample_queries(source, queries), k=k)
        finally:
            source.close()
    console.print(
        f"copied {copied} points: source {report.source_count}, target {report.target_count}; "
        f"{report.queries} queries x 3 modes, top-{k}: {len(report.mismatches)} differ"
    )
    for line in report.mismatches[:10]:
        err_console.print(f"  {line}")
    if not report.ok:
        err_console.print("[red]the copy does not answer like the source[/red]")
        raise typer.Exit(1)
    console.print("verified: identical counts and rankings")
