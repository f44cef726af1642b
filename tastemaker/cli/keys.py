"""``tastemaker keys``: API keys and secrets."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from tastemaker.cli.context import console, fail, state
from tastemaker.errors import TastemakerError
from tastemaker.service.deps import SCOPES

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Who or what uses the key")] = "default",
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help="read, write or admin; repeatable")
    ] = ["read", "write"],  # noqa: B006 - typer needs a literal default
) -> None:
    """Create an API key; its secret is printed once and stored only as a hash."""
    bad = sorted(set(scope) - set(SCOPES))
    if bad:
        raise fail(f"unknown scope(s) {', '.join(bad)}; choose from {', '.join(SCOPES)}")
    try:
        secret, key = state(ctx).store().keys.create(name, scope, datetime.now(UTC))
    except TastemakerError as exc:
        raise fail(exc) from exc
    console.print(f"created key [bold]{key.prefix}[/] ({name}) with scopes {sorted(key.scopes)}")
    console.print("the secret is shown only now:")
    typer.echo(secret)


@app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """List API keys (never their secrets)."""
    table = Table("prefix", "name", "scopes", "created", "revoked")
    for k in state(ctx).store().keys.list():
        table.add_row(
            k.prefix,
            k.name,
            ",".join(sorted(k.scopes)),
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
def revoke(ctx: typer.Context, prefix: str) -> None:
    """Revoke an API key by its prefix (it stops working within 10 seconds)."""
    if not state(ctx).store().keys.revoke(prefix, datetime.now(UTC)):
        raise fail(f"no active key with prefix {prefix!r}")
    console.print(f"revoked {prefix}")


@app.command("secret")
def secret() -> None:
    """Print a new random secret for TASTEMAKER_SECRET_KEYS (encryption at rest)."""
    typer.echo(secrets.token_urlsafe(48))
