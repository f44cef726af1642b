"""``python -m tastemaker`` runs the command line."""

from tastemaker.cli import main

main()
