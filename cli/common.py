"""Shared helpers of the CLI commands: settings, logging, domain errors as exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from core import DeepwellError, Settings, configure_logging

if TYPE_CHECKING:
    from cli.client import ApiClient

P = ParamSpec("P")
R = TypeVar("R")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@dataclass
class _State:
    verbose: bool = False
    api_key: str | None = None  # --api-key / DEEPWELL_API_KEY


#: ``--url`` of the commands that can go through a server's API.
URL = typer.Option(
    None,
    "--url",
    envvar="DEEPWELL_URL",
    help="Go through the deepwell server at URL (default: the server running on this data "
    "directory, if one is; else open the store).",
)


state = _State()


def load_settings(*, quiet: bool = True) -> Settings:
    """Settings from the environment and config file; exit 2 with the reasons when invalid.

    ``quiet``: log warnings and errors only (unless ``-v``), so that a command's own
    output and progress bar stay readable; the server logs at ``log_level``.
    """
    try:
        settings = Settings()
    except (ValidationError, DeepwellError) as exc:
        err_console.print(f"[red]invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from exc
    level = settings.log_level
    if state.verbose:
        level = "debug"
    elif quiet and level in ("debug", "info"):
        level = "warning"
    configure_logging(level, settings.log_format)
    return settings


@contextmanager
def domain_errors() -> Iterator[None]:
    """Print a domain error as one clear line and exit 1 (tracebacks only with -v)."""
    try:
        yield
    except DeepwellError as exc:
        if state.verbose:
            raise
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def server_client(settings: Settings, url: str | None) -> ApiClient | None:
    """A client of the server to go through (``url``, else the one running on the data
    directory), or None: no server, open the store. Exit 1 saying what to do when a server
    is there but no API key is known for it."""
    from cli.client import connect

    with domain_errors():
        return connect(settings.data_dir, url, state.api_key)


def refuse_beside_server(settings: Settings, what: str) -> None:
    """Exit 1 saying so when a server runs on the data directory: ``what`` opens the store
    itself, and the server holds it."""
    from cli.client import SERVER_FILE, running_server

    info = running_server(settings.data_dir)
    if info is not None:
        err_console.print(
            f"{what} opens the index itself, and the deepwell server at {info.url} (pid "
            f"{info.pid}, from {settings.data_dir / SERVER_FILE}) holds it: stop the server "
            "(Ctrl-C where it runs), run this, then start the server again"
        )
        raise typer.Exit(1)
