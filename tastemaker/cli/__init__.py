"""``tastemaker``: the command line."""

from tastemaker.cli.main import app, main

__all__ = ["app", "main"]
