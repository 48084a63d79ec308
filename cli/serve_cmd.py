"""``deepwell serve``: run the HTTP service.

Once it listens, ``<data_dir>/server.json`` says where (URL and pid), so that the other
commands on this data directory go through its API instead of the store it holds; the
file goes when the server stops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from cli.client import client_url, remove_server_file, write_server_file
from cli.common import console, domain_errors, load_settings

if TYPE_CHECKING:
    import socket

    import uvicorn


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
        server = _listening_server(
            uvicorn.Config(create_app(settings, services), **uvicorn_options(settings)),
            on_started=lambda: write_server_file(
                settings.data_dir, client_url(settings.api.host, settings.api.port)
            ),
            on_stopping=lambda: remove_server_file(settings.data_dir),
            on_stopped=services.close,
        )
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            remove_server_file(settings.data_dir)
        if not server.started:
            raise typer.Exit(3)  # uvicorn's start-up failure: the port is taken, say
    finally:
        services.close()


def _listening_server(
    config: uvicorn.Config,
    on_started: Callable[[], object],
    on_stopping: Callable[[], object],
    on_stopped: Callable[[], object],
) -> uvicorn.Server:
    """uvicorn's server for ``config``, calling ``on_started`` once it listens,
    ``on_stopping`` when it begins to shut down and ``on_stopped`` when the requests and
    the lifespan have ended.

    (On SIGTERM uvicorn raises the signal again once shut down, which ends the process
    before any ``finally`` of the caller runs: the shutdown itself must clean up.)
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and not self.should_exit:
                on_started()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            on_stopping()
            await super().shutdown(sockets)
            on_stopped()

    return Server(config)
