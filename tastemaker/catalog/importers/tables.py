"""Reading the tabular files of public data sets (MovieLens and the like) into source rows.

A data set's files have fixed layouts, so a table yields ``(line, record, error)`` and a
``build`` function turns each record into an API object; :meth:`Table.rows` joins the two, turns
a :class:`CellError` into a problem of the row and names fields as the data set does.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     path = Path(d, "u.data")
...     _ = path.write_text("1\\t2\\t5\\n3\\t4\\n")
...     rows = Delimited(path, "\\t", 3).rows(lambda f: {"user": f[0]}, {"user": "user id"})
...     [(r.line, r.data, r.problems) for r in rows]
[(1, {'user': '1'}, []), (2, None, [('(row)', 'has 2 fields, expected 3')])]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from tastemaker.catalog.importers.files import csv_records
from tastemaker.catalog.importers.source import (
    Column,
    LineReader,
    Progress,
    ProgressCallback,
    Rows,
    SourceError,
    SourceRow,
    dotted,
)

R = TypeVar("R")
T = TypeVar("T")

Record = tuple[int, R | None, str | None]
"""``(first line, record, error)``: the record is ``None`` if the line could not be read."""

_SCAN_EVERY = 5000


class CellError(Exception):
    """A cell of a record cannot be read; ``column`` names it as the data set's docs do."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


def cell(column: str, parse: Callable[[str], T], text: str) -> T:
    """``parse(text)``, turning a ``ValueError`` into a :class:`CellError` for ``column``."""
    try:
        return parse(text)
    except ValueError as exc:
        raise CellError(column, str(exc)) from exc


def named_columns(names: dict[str, str]) -> Column:
    """A :data:`Column` naming fields by the longest matching dotted schema path.

    >>> named_columns({"traits": "demographics", "traits.geo": "zip code"})(("traits", "geo"))
    'zip code'
    """
    ordered = sorted(names.items(), key=lambda kv: -len(kv[0]))

    def column(loc: Sequence[str | int]) -> str:
        path = dotted(loc)
        for prefix, name in ordered:
            if path == prefix or path.startswith(prefix + "."):
                return name
        return path

    return column


class Table(ABC, Generic[R]):
    """A file of a data set, read as ``(line, record, error)``."""

    def __init__(self, path: Path, encoding: str) -> None:
        self.name = str(path)
        self.reader = LineReader(path, encoding)

    @abstractmethod
    def __iter__(self) -> Iterator[Record[R]]:
        """Every non-blank record of the file with its first line."""

    def rows(self, build: Callable[[R], dict[str, Any]], names: dict[str, str]) -> Rows:
        """The records as rows to load, built by ``build``; ``names`` maps dotted schema paths
        to the data set's column names for problem reports."""
        return Rows(self.name, self.reader, source_rows(self, build), named_columns(names))

    def scan(self, phase: str, on_progress: ProgressCallback | None) -> Iterator[tuple[int, R]]:
        """The records of an auxiliary file, with progress; a malformed one raises
        :class:`SourceError`, because a file that should be machine-written is not."""
        count = 0
        reader = self.reader
        for line, record, error in self:
            if record is None:
                raise SourceError(f"{self.name}:{line}: {error or 'cannot be read'}")
            count += 1
            if on_progress is not None and count % _SCAN_EVERY == 0:
                on_progress(Progress(phase, reader.position, reader.size, count))
            yield line, record
        if on_progress is not None:
            on_progress(Progress(phase, reader.position, reader.size, count))


class HeadedCsv(Table[dict[str, str]]):
    """A CSV file with a header row: its records as ``{column: stripped cell}``.

    The header must hold ``required``; other columns are kept too.
    """

    def __init__(self, path: Path, required: Sequence[str], encoding: str = "utf-8") -> None:
        super().__init__(path, encoding)
        self.required = tuple(required)

    def __iter__(self) -> Iterator[Record[dict[str, str]]]:
        records = csv_records(self.reader)
        first = next(records, None)
        header = [h.strip() for h in first[1]] if first else []
        missing = [c for c in self.required if c not in header]
        if missing:
            raise SourceError(
                f"{self.name}:1: the header lacks {', '.join(missing)}; expected at least "
                f"{','.join(self.required)}"
            )
        for line, cells, error in records:
            if error is not None:
                yield line, None, error
            elif len(cells) != len(header):
                yield line, None, f"has {len(cells)} fields, the header has {len(header)}"
            else:
                yield line, {h: c.strip() for h, c in zip(header, cells, strict=True)}, None


class Delimited(Table[list[str]]):
    """A file without header whose lines are split on ``sep``; ``width`` fields each.

    Fields are not quoted and keep their white space.
    """

    def __init__(self, path: Path, sep: str, width: int, encoding: str = "utf-8") -> None:
        super().__init__(path, encoding)
        self.sep = sep
        self.width = width

    def __iter__(self) -> Iterator[Record[list[str]]]:
        for line, text in enumerate(self.reader, start=1):
            if not text.strip():
                continue
            fields = text.rstrip("\r\n").split(self.sep)
            if len(fields) != self.width:
                yield line, None, f"has {len(fields)} fields, expected {self.width}"
            else:
                yield line, fields, None


def source_rows(
    records: Iterable[Record[R]], build: Callable[[R], dict[str, Any]]
) -> Iterator[SourceRow]:
    """The records as :class:`SourceRow`, each built into an API object by ``build``."""
    for line, record, error in records:
        if record is None:
            yield SourceRow(line, None, [("(row)", error or "cannot be read")])
            continue
        try:
            yield SourceRow(line, build(record))
        except CellError as exc:
            yield SourceRow(line, None, [(exc.column, exc.reason)])
