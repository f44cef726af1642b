"""Importing items, users and events from files: CSV, JSON Lines and MovieLens.

Readers turn a file into numbered :class:`SourceRow` objects (:func:`read_file` for CSV and
JSON Lines, :func:`import_movielens` for a MovieLens folder); :func:`load` validates them and
stores them chunk by chunk, reporting every bad row as ``FILE:LINE field: reason``. Nothing here
prints or draws: progress goes to a callback, results come back as reports.
"""

from tastemaker.catalog.importers.files import Format, detect_format, read_file
from tastemaker.catalog.importers.loader import DEFAULT_BATCH_SIZE, ImportReport, load
from tastemaker.catalog.importers.movielens import (
    Layout,
    MovieLensReport,
    detect_layout,
    import_movielens,
)
from tastemaker.catalog.importers.source import (
    Kind,
    Progress,
    ProgressCallback,
    RowProblem,
    Rows,
    SourceError,
    SourceRow,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "Format",
    "ImportReport",
    "Kind",
    "Layout",
    "MovieLensReport",
    "Progress",
    "ProgressCallback",
    "RowProblem",
    "Rows",
    "SourceError",
    "SourceRow",
    "detect_format",
    "detect_layout",
    "import_movielens",
    "load",
    "read_file",
]
