"""Shared helpers of the CLI commands: settings, logging, domain errors as exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from core import DeepwellError, Settings, configure_logging

P = ParamSpec("P")
R = TypeVar("R")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@dataclass
class _State:
    verbose: bool = False


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
