"""``deepwell login``: store an API key for a server, so that the other commands can use it.

The key is asked for once (hidden; read from standard input when that is not a terminal),
checked with ``GET /v1/me`` and stored for the server's URL in ``credentials.toml`` under
the user's config directory, readable by the user only (:mod:`cli.client`).
"""

from __future__ import annotations

import sys

import typer

from cli.client import ApiClient, ClientError, client_url, find_server, store_key
from cli.common import URL, console, domain_errors, err_console, load_settings


def login(url: str = URL) -> None:
    """Store an API key for a deepwell server (default: the one running on this data
    directory, else api.host:api.port); asks for the key and checks it with the server."""
    settings = load_settings()
    found = find_server(settings.data_dir, url)
    server = found[0] if found else client_url(settings.api.host, settings.api.port)
    if sys.stdin.isatty():
        key = typer.prompt(f"API key for {server}", hide_input=True)
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        err_console.print("no key given: paste the API key (dw_…) when asked")
        raise typer.Exit(2)
    with (
        ApiClient(server, key, via="login", key_source="the key given") as client,
        domain_errors(),
    ):
        try:
            me = client.get("/v1/me")
        except ClientError as exc:
            if exc.status != 401:
                raise
            raise ClientError(
                f"the server at {server} does not accept this key: check that it was copied "
                "whole (dw_ and 43 characters) and is not revoked. The first admin key was "
                "printed by `deepwell serve` when it first started; the operator can create "
                "another with `deepwell keys create --user NAME --role admin`."
            ) from exc
    path = store_key(server, key)
    console.print(
        f"signed in to {server} as {me['user']!r} (role {me['role']}, tenant {me['tenant']!r}); "
        f"the key is stored in {path}"
    )
