"""``deepwell keys``: create, list and revoke API keys.

Keys live in the database (not the index), so these commands work while a
server runs on the same data directory; a revoked key is refused at its next request.
They act as the operator, unrestricted. With ``--url`` (or ``DEEPWELL_URL``) they go
through that server's API instead, as the admin whose API key the CLI has, in its tenant
(and under ``api.key_delegation``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from cli import remote
from cli.common import URL, console, domain_errors, err_console, load_settings, server_client

if TYPE_CHECKING:
    from api import KeyStore

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


class RoleChoice(StrEnum):
    reader = "reader"
    writer = "writer"
    admin = "admin"


@contextmanager
def _store() -> Iterator[KeyStore]:
    from api import KeyStore
    from core import ensure_schema, make_engine

    settings = load_settings()
    with domain_errors():
        engine = make_engine(settings)
        ensure_schema(engine, settings)
        store = KeyStore(engine)
    try:
        with domain_errors():
            yield store
    finally:
        engine.dispose()


@app.command("create")
def create(
    user: str = typer.Option(..., "--user", help="The user id the key acts as."),
    group: list[str] = typer.Option(None, "--group", help="A group of the user (repeat)."),
    tenant: str = typer.Option(None, "--tenant", help="Tenant (default: ingest.default_tenant)."),
    role: RoleChoice = typer.Option(RoleChoice.reader, "--role", help="reader, writer or admin."),
    name: str = typer.Option("", "--name", help="A label, e.g. who or what uses the key."),
    as_json: bool = typer.Option(False, "--json", help="Print the key and its record as JSON."),
    url: str = URL,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    settings = load_settings()
    record: dict[str, Any]
    if url:
        client = server_client(settings, url)
        assert client is not None  # a URL was given
        with client, domain_errors():
            own = client.get("/v1/me")["tenant"]
            if tenant and tenant != own:
                err_console.print(f"--tenant {tenant}: through the server, keys are of {own}")
                raise typer.Exit(2)
            record = remote.create_key(
                client, user=user, groups=group or [], role=role.value, name=name
            )
        secret = record.pop("key")
    else:
        with _store() as store:
            info, secret = store.create(
                user=user,
                groups=group or [],
                tenant=tenant or settings.ingest.default_tenant,
                role=role.value,
                name=name,
            )
        record = info.as_dict()
    if as_json:
        console.print_json(json.dumps({"key": secret, **record}, default=str))
        return
    console.print(secret, markup=False, highlight=False)
    err_console.print(
        f"[dim]key {record['key_id']} ({record['prefix']}…) for user {record['user']!r}, "
        f"tenant {record['tenant']!r}, role {record['role']}; shown only now: store it.[/dim]"
    )


@app.command("list")
def list_keys(
    include_revoked: bool = typer.Option(False, "--all", help="Revoked keys too."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    url: str = URL,
) -> None:
    """Keys with their principal and role (never the secret)."""
    if url:
        client = server_client(load_settings(), url)
        assert client is not None  # a URL was given
        with client, domain_errors():
            rows = remote.keys(client, include_revoked=include_revoked)
    else:
        with _store() as store:
            rows = [k.as_dict() for k in store.list(include_revoked=include_revoked)]
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table(
        "key id", "prefix", "user", "groups", "tenant", "role", "name", "created", "revoked"
    )
    for k in rows:
        table.add_row(
            k["key_id"],
            k["prefix"],
            k["user"],
            ", ".join(k["groups"]),
            k["tenant"],
            k["role"],
            k["name"],
            _when(k["created_at"]),
            _when(k["revoked_at"]),
        )
    console.print(table)


def _when(value: datetime | str | None) -> str:
    """A time of the key store (datetime) or the API (ISO 8601) as ``YYYY-MM-DD HH:MM``."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M")


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="Key id (or its visible prefix)."), url: str = URL
) -> None:
    """Revoke a key: it is refused from its next request on."""
    if url:
        client = server_client(load_settings(), url)
        assert client is not None  # a URL was given
        with client, domain_errors():
            record = remote.revoke_key(client, key_id)
    else:
        with _store() as store:
            record = store.revoke(key_id).as_dict()
    console.print(f"revoked {record['key_id']} ({record['prefix']}…, user {record['user']!r})")
