"""Entry point of the ``deepwell`` console script: one Typer app, a module per command group."""

from __future__ import annotations

import typer

import core
from cli import (
    ask_cmd,
    config_cmd,
    db_cmd,
    eval_cmd,
    index_cmd,
    ingest_cmd,
    keys_cmd,
    login_cmd,
    models_cmd,
    serve_cmd,
    worker_cmd,
)
from cli.common import state

app = typer.Typer(
    name="deepwell",
    help="Retrieval-augmented answers over private documents, with access control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models_cmd.app, name="models")
app.add_typer(config_cmd.app, name="config")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(db_cmd.app, name="db")
app.add_typer(index_cmd.app, name="index")
app.command("serve")(serve_cmd.serve)
app.command("worker")(worker_cmd.worker)
app.command("ingest")(ingest_cmd.ingest)
app.add_typer(ingest_cmd.documents_app, name="documents")
app.add_typer(ingest_cmd.corpus_app, name="corpus")
app.command("search")(ask_cmd.search)
app.command("ask")(ask_cmd.ask)
app.command("login")(login_cmd.login)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    api_key: str = typer.Option(
        None,
        "--api-key",
        envvar="DEEPWELL_API_KEY",
        hidden=True,  # a key on the command line shows in `ps`: DEEPWELL_API_KEY or login
    ),
) -> None:
    state.verbose = verbose
    state.api_key = api_key


@app.command()
def version() -> None:
    """Print deepwell's version."""
    typer.echo(core.__version__)


def main() -> None:
    app()
