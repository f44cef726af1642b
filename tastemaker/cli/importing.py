"""``tastemaker import``: load items, users, events and MovieLens (being written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import items, users, events (CSV, JSON Lines) and MovieLens.")
