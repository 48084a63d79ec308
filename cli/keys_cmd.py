"""``deepwell keys``: create, list and revoke API keys.

Keys live in the database (not the index), so these commands work while a
server runs on the same data directory; a revoked key is refused at its next request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cli.common import console, domain_errors, err_console, load_settings

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
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    settings = load_settings()
    with _store() as store:
        info, secret = store.create(
            user=user,
            groups=group or [],
            tenant=tenant or settings.ingest.default_tenant,
            role=role.value,
            name=name,
        )
    if as_json:
        console.print_json(json.dumps({"key": secret, **info.as_dict()}))
        return
    console.print(secret, markup=False, highlight=False)
    err_console.print(
        f"[dim]key {info.key_id} ({info.prefix}…) for user {info.user!r}, tenant {info.tenant!r}, "
        f"role {info.role}; shown only now: store it.[/dim]"
    )


@app.command("list")
def list_keys(
    include_revoked: bool = typer.Option(False, "--all", help="Revoked keys too."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Keys with their principal and role (never the secret)."""
    with _store() as store:
        keys = store.list(include_revoked=include_revoked)
    if as_json:
        console.print_json(json.dumps([k.as_dict() for k in keys]))
        return
    table = Table(
        "key id", "prefix", "user", "groups", "tenant", "role", "name", "created", "revoked"
    )
    for k in keys:
        table.add_row(
            k.key_id,
            k.prefix,
            k.user,
            ", ".join(k.groups),
            k.tenant,
            k.role,
            k.name,
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="Key id (or its visible prefix).")) -> None:
    """Revoke a key: it is refused from its next request on."""
    with _store() as store:
        info = store.revoke(key_id)
    console.print(f"revoked {info.key_id} ({info.prefix}…, user {info.user!r})")
