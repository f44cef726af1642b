"""``tastemaker demo-data``: the built-in sample data set (being written)."""

from __future__ import annotations

import typer

from tastemaker.cli.context import fail


def demo_data(ctx: typer.Context) -> None:
    """Write or load the built-in sample data set."""
    raise fail("demo-data is not implemented yet")
