"""Reading items, users and events from CSV and JSON Lines files.

The format comes from the file name (``.csv``; ``.jsonl`` or ``.ndjson``) unless it is given.
A JSON Lines file holds one API-schema object per line (blank lines are skipped); unlike the
API it also takes Unix epoch seconds (a JSON number) for timestamps. The CSV layouts are
described in :mod:`tastemaker.catalog.importers.layouts`. Both are streamed: a file
of any size is read one record at a time.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     path = Path(d, "items.csv")
...     _ = path.write_text("id,title,tags\\na1,Phones,Tech > Phones|Deals\\n")
...     [(row.line, row.data) for row in read_file(path, Kind.ITEMS)]
[(2, {'id': 'a1', 'title': 'Phones', 'tags': ['Tech > Phones', 'Deals']})]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

from tastemaker.catalog.importers.cells import parse_timestamp
from tastemaker.catalog.importers.layouts import LAYOUTS
from tastemaker.catalog.importers.source import Kind, LineReader, Rows, SourceError, SourceRow


class Format(StrEnum):
    """The file formats ``tastemaker import`` reads."""

    CSV = "csv"
    JSONL = "jsonl"


_FIELD_LIMIT = 1 << 20
_SUFFIXES = {".csv": Format.CSV, ".jsonl": Format.JSONL, ".ndjson": Format.JSONL}


def detect_format(path: Path, given: Format | None = None) -> Format:
    """The format of ``path``: ``given`` if set, else from the file name's extension.

    >>> detect_format(Path("events.ndjson"))
    <Format.JSONL: 'jsonl'>
    """
    if given is not None:
        return given
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise SourceError(
            f"{path}: cannot tell the format from the extension {path.suffix or '(none)'!r}; "
            f"name the file *.csv, *.jsonl or *.ndjson, or pass the format "
            f"({', '.join(f.value for f in Format)})"
        )
    return found


def read_file(path: Path, kind: Kind, fmt: Format | None = None, encoding: str = "utf-8") -> Rows:
    """The records of a CSV or JSON Lines file of ``kind``, streamed.

    Parameters
    ----------
    path
        The file.
    kind
        Whether the file holds items, users or events (selects the CSV layout).
    fmt
        The format; by default taken from the extension.
    encoding
        The text encoding of the file.

    Returns
    -------
    Rows
        An iterable of :class:`SourceRow` that reports how many bytes it has read. A bad CSV
        header raises :class:`SourceError` when iteration starts.
    """
    fmt = detect_format(path, fmt)
    reader = LineReader(path, encoding)
    name = str(path)
    if fmt is Format.CSV:
        return Rows(name, reader, _csv_rows(reader, kind, name), LAYOUTS[kind].column)
    return Rows(name, reader, _jsonl_rows(reader, kind))


def csv_records(lines: Iterable[str]) -> Iterator[tuple[int, list[str], str | None]]:
    """``(first line, cells, error)`` of every non-blank CSV record, the header included.

    A record may span lines (quoted line breaks); its first line is reported. A record the
    ``csv`` module rejects has no cells and the reason in ``error``; reading goes on with the
    next line.

    >>> list(csv_records(["a,b\\n", "\\n", '1,"x\\n', 'y"\\n', '2,"z"q\\n']))[:2]
    [(1, ['a', 'b'], None), (3, ['1', 'x\\ny'], None)]
    """
    # The csv module refuses cells over 128 KiB by default; an item's text may hold 200,000
    # characters (up to 4 bytes each in UTF-8), so raise the process-wide bound, never lower it.
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    records = csv.reader(lines, strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(records)
        except StopIteration:
            return
        except csv.Error as exc:
            end = records.line_num
            yield start, [], str(exc)
            continue
        end = records.line_num
        if cells and (len(cells) > 1 or cells[0].strip()):
            yield start, cells, None


def _csv_rows(reader: LineReader, kind: Kind, name: str) -> Iterator[SourceRow]:
    layout = LAYOUTS[kind]
    records = csv_records(reader)
    first = next(records, None)
    if first is None:
        raise SourceError(f"{name}: the file is empty; a CSV file needs a header row")
    line, header, error = first
    if error is not None:
        raise SourceError(f"{name}:{line}: the header is not valid CSV: {error}")
    header = [h.strip() for h in header]
    layout.check_header(header, name)
    for line, cells, error in records:
        if error is not None:
            yield SourceRow(line, None, [("(row)", f"{error}; check the quoting")])
            continue
        data, problems = layout.build(cells, header)
        if len(cells) != len(header):
            problems.append(("(row)", f"has {len(cells)} cells, the header has {len(header)}"))
        yield SourceRow(line, data, problems)


def _epoch_seconds(data: dict[str, Any], kind: Kind) -> list[tuple[str, str]]:
    """Replace epoch-second numbers in the timestamp fields of ``kind`` by datetimes."""
    places: list[tuple[dict[str, Any], str, str]] = []
    if kind is Kind.ITEMS:
        places = [(data, "published_at", "published_at"), (data, "expires_at", "expires_at")]
    elif kind is Kind.EVENTS:
        places = [(data, "timestamp", "timestamp")]
    else:
        consent = data.get("consent")
        if isinstance(consent, dict):
            places = [
                (decision, "at", f"consent.{purpose}.at")
                for purpose, decision in consent.items()
                if isinstance(decision, dict)
            ]
    problems: list[tuple[str, str]] = []
    for holder, key, name in places:
        value = holder.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                holder[key] = parse_timestamp(repr(value))
            except ValueError as exc:
                problems.append((name, str(exc)))
                del holder[key]
    return problems


def _jsonl_rows(reader: LineReader, kind: Kind) -> Iterator[SourceRow]:
    for number, line in enumerate(reader, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc.msg} at column {exc.colno}"
            yield SourceRow(number, None, [("(line)", reason)])
            continue
        if not isinstance(data, dict):
            yield SourceRow(number, None, [("(line)", "must be a JSON object")])
            continue
        yield SourceRow(number, data, _epoch_seconds(data, kind))
