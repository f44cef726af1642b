"""What every importer shares: numbered source rows, their problems, progress.

A reader turns a file into :class:`SourceRow` objects, each holding the API-schema ``dict`` of
one record and the line of the file it started on. The loader validates and stores them; every
problem names the file and line, so a user can open the file at the right place.

>>> str(RowProblem("items.csv", 3, "title", "String should have at least 1 character"))
'items.csv:3 title: String should have at least 1 character'
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from tastemaker.errors import TastemakerError


class Kind(StrEnum):
    """What a file holds."""

    ITEMS = "items"
    USERS = "users"
    EVENTS = "events"


class SourceError(TastemakerError):
    """An import source cannot be read: missing file, unknown format, bad header, bad encoding.

    Raised before a row of the source is validated, or while reading it; rows already stored
    stay stored.
    """

    status_code: ClassVar[int] = 422
    code: ClassVar[str] = "invalid_source"


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row of a source file.

    ``line`` is the line of the file the row starts on (1 is the first line, the header of a
    CSV file), ``field`` the column (CSV) or dotted field path (JSON Lines), or ``(row)`` for a
    problem with the row as a whole.
    """

    source: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line} {self.field}: {self.reason}"


@dataclass
class SourceRow:
    """One record read from a file: its API-schema data and where it started.

    ``problems`` holds ``(field, reason)`` for what went wrong while reading the record (a cell
    that is not a timestamp); ``data`` is ``None`` if nothing of it could be read (a line that
    is not JSON). The loader adds what schema validation finds.
    """

    line: int
    data: dict[str, Any] | None
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    """How far one phase of an import has got.

    ``done`` and ``total`` count bytes of the source file; ``rows`` counts the records read.
    """

    phase: str
    done: int
    total: int
    rows: int


ProgressCallback = Callable[[Progress], None]
"""Called after every chunk with the progress of the running phase."""


Column = Callable[[Sequence[str | int]], str]
"""Names the field a pydantic error location points at, as the source spells it."""

_UNION_MEMBERS = frozenset({"str", "int", "float", "bool"})


def dotted(loc: Sequence[str | int]) -> str:
    """A pydantic error location as a dotted path (``traits.geo``), ``(row)`` if empty.

    >>> dotted(("traits", "attributes", "age", "int"))
    'traits.attributes.age'
    """
    parts = [str(p) for p in loc]
    # A union reports one error per member ('…age.str', '…age.int'); they name one field.
    if len(parts) > 1 and parts[-1] in _UNION_MEMBERS:
        parts.pop()
    return ".".join(parts) or "(row)"


class LineReader:
    """The text lines of a file, decoded, counting the bytes consumed for progress reports.

    Lines keep their line endings (the ``csv`` module needs them). A UTF-8 byte order mark is
    dropped. A line that cannot be decoded raises :class:`SourceError` naming the line.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d, "x.txt")
    ...     _ = p.write_bytes(b"\\xef\\xbb\\xbfa\\nb\\n")
    ...     reader = LineReader(p)
    ...     (list(reader), reader.position, reader.size)
    (['a\\n', 'b\\n'], 7, 7)
    """

    def __init__(self, path: Path, encoding: str = "utf-8") -> None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise SourceError(f"unknown text encoding {encoding!r}") from exc
        if not path.exists():
            raise SourceError(f"{path}: no such file")
        if not path.is_file():
            raise SourceError(f"{path}: not a regular file")
        self.path = path
        self.encoding = encoding
        self.size = path.stat().st_size
        self.position = 0

    def __iter__(self) -> Iterator[str]:
        self.position = 0
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                self.position += len(raw)
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    yield raw.decode(self.encoding)
                except UnicodeDecodeError as exc:
                    raise SourceError(
                        f"{self.path}:{number}: the file is not valid {self.encoding} "
                        f"({exc.reason} at byte {exc.start + 1} of the line); save it as "
                        "UTF-8 or name its encoding"
                    ) from exc


class Rows:
    """The rows of one source file, with how far reading has got.

    ``name`` is how problems name the file; ``position``/``size`` are bytes of the file;
    ``column`` names the field of a validation error as the file spells it (a CSV column).
    """

    def __init__(
        self,
        name: str,
        reader: LineReader,
        rows: Iterable[SourceRow],
        column: Column = dotted,
    ) -> None:
        self.name = name
        self.column = column
        self._reader = reader
        self._rows = rows

    @property
    def position(self) -> int:
        """Bytes of the file read so far."""
        return self._reader.position

    @property
    def size(self) -> int:
        """Bytes of the whole file."""
        return self._reader.size

    def __iter__(self) -> Iterator[SourceRow]:
        return iter(self._rows)
