"""``deepwell serve``: run the HTTP service."""

from __future__ import annotations

import typer

from cli.common import console, domain_errors, load_settings


def serve(
    host: str = typer.Option(None, help="Bind address (default: api.host, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: api.port, 8000)."),
) -> None:
    """Start the deepwell HTTP server on the configured index, database and models."""
    import uvicorn

    from api import Services, create_app, is_loopback, uvicorn_options

    settings = load_settings(quiet=False)
    if host:
        settings.api.host = host
    if port:
        settings.api.port = port
    if settings.api.dev_mode and not is_loopback(settings.api.host):
        console.print(
            "[red]refusing to start:[/red] development mode (no API keys) binds to loopback only"
        )
        raise typer.Exit(2)
    url = f"http://{settings.api.host}:{settings.api.port}"
    console.print(f"deepwell starting on [bold]{url}[/bold] (loading models, opening the index)…")
    with domain_errors():
        # Started here rather than in the lifespan so that a missing model or a
        # locked index is one clear line, not an ASGI start-up traceback.
        services = Services.start(settings)
    try:
        backends = services.backends()
        model = backends["llm"].get("model") if settings.llm.backend != "extractive" else None
        console.print(
            f"index: {backends['index']['backend']}  database: {backends['database']['backend']}  "
            f"embedding: {backends['embedding']['model']}  llm: {settings.llm.backend}"
            + (f" ({model})" if model else "")
        )
        console.print(
            f"open [bold]{url}/[/bold] (chat page; sign in with an API key); "
            f"API reference: {url}/docs"
        )
        uvicorn.run(create_app(settings, services), **uvicorn_options(settings))
    finally:
        services.close()
