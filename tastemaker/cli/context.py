"""What every command shares: settings from the global options, a console, the store."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from rich.console import Console
from rich.markup import escape

from tastemaker.config import Settings, load_settings
from tastemaker.errors import TastemakerError
from tastemaker.storage import DataStore, open_store

console = Console(stderr=True)


@dataclass
class CliState:
    database_url: str | None = None
    insecure_dev: bool | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self, **overrides: object) -> Settings:
        if self._settings is None or overrides:
            self._settings = load_settings(
                database_url=self.database_url, insecure_dev=self.insecure_dev, **overrides
            )
        return self._settings

    def store(self) -> DataStore:
        return open_store(self.settings())


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def fail(exc: TastemakerError | str, code: int = 2) -> typer.Exit:
    text = exc if isinstance(exc, str) else exc.message
    console.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True)
    return typer.Exit(code)
