"""``deepwell config``: the effective configuration."""

from __future__ import annotations

import json

import typer

from cli.common import console, load_settings

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@app.command("show")
def show() -> None:
    """Print the effective settings as JSON (secrets masked)."""
    settings = load_settings()
    data = settings.model_dump(mode="json")
    data["derived"] = {
        "index_path": str(settings.index_path),
        "database_url": settings.database_url,
    }
    console.print_json(json.dumps(data))
