"""Validating and storing source rows in chunks, with progress and bad-row policies.

Rows are read in chunks (5,000 by default). Each row is validated with the API schema, events
also against the configured vocabulary (:func:`~tastemaker.catalog.validation.event_problems`).
A valid chunk is stored in one all-or-nothing transaction.

By default the import stops at the first chunk holding an invalid row: nothing of that chunk is
stored and every problem of it is reported with its file and line. Chunks before it stay
stored; running the import again after fixing the file is safe, because items and users are
upserts and events are idempotent by ``event_id``. With ``skip_invalid`` bad rows are reported
and left out, and the rest is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from tastemaker.catalog.common import utcnow
from tastemaker.catalog.events import Event
from tastemaker.catalog.importers.source import (
    Column,
    Kind,
    Progress,
    ProgressCallback,
    RowProblem,
    Rows,
    SourceRow,
)
from tastemaker.catalog.items import Item
from tastemaker.catalog.users import User
from tastemaker.catalog.validation import event_problems
from tastemaker.config import Settings
from tastemaker.errors import EventConflict, TastemakerError

if TYPE_CHECKING:
    from tastemaker.storage import DataStore

DEFAULT_BATCH_SIZE = 5000
"""Rows per chunk, and so per transaction."""

_SCHEMAS: dict[Kind, type[BaseModel]] = {Kind.ITEMS: Item, Kind.USERS: User, Kind.EVENTS: Event}
_MISSING = "required, but missing or empty"
_CONFLICT = (
    "already stored with a different payload; an event_id is an idempotency key: send the "
    "identical event again or give this one a new id"
)


@dataclass
class ImportReport:
    """What importing one source did.

    ``rows`` counts records read; ``created``/``updated`` (items, users) and
    ``stored``/``duplicates`` (events) what the store did with them; ``skipped`` the invalid rows
    left out. ``last_written_line`` is the last line of the last chunk stored, ``stopped_at`` the
    first line of the chunk that was not stored because it held invalid rows, ``error`` a
    failure that ended the import early.
    """

    phase: str
    kind: Kind
    source: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    last_written_line: int | None = None
    stopped_at: int | None = None
    error: str | None = None
    seconds: float = 0.0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every chunk was read and stored (skipped rows do not count as failure)."""
        return self.stopped_at is None and self.error is None

    @property
    def rows_per_second(self) -> float:
        """Records read per second of wall time."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Checked:
    valid: list[tuple[SourceRow, Any]]
    problems: list[RowProblem]


def _chunks(rows: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _check(
    chunk: list[SourceRow],
    kind: Kind,
    source: str,
    column: Column,
    settings: Settings,
    now: datetime,
) -> _Checked:
    schema = _SCHEMAS[kind]
    problems: dict[int, list[RowProblem]] = {}
    parsed: list[tuple[SourceRow, Any]] = []
    for row in chunk:
        found: dict[str, RowProblem] = {}
        for name, reason in row.problems:
            found.setdefault(name, RowProblem(source, row.line, name, reason))
        if row.data is not None:
            try:
                model = schema.model_validate(row.data)
            except ValidationError as exc:
                for e in exc.errors(include_url=False):
                    # One problem per field: a union type reports every member's complaint.
                    name = column(e["loc"])
                    reason = _MISSING if e["type"] == "missing" else e["msg"]
                    found.setdefault(name, RowProblem(source, row.line, name, reason))
            else:
                if not found:
                    parsed.append((row, model))
        if found:
            problems[row.line] = list(found.values())
    if kind is Kind.EVENTS and parsed:
        for p in event_problems([(row.line, e) for row, e in parsed], settings, now):
            line = p.index if p.index is not None else chunk[0].line
            problems.setdefault(line, []).append(
                RowProblem(source, line, column((p.field,)), p.reason)
            )
        parsed = [(row, e) for row, e in parsed if row.line not in problems]
    return _Checked(parsed, [p for line in sorted(problems) for p in problems[line]])


def _write(
    store: DataStore, kind: Kind, models: list[Any], now: datetime, report: ImportReport
) -> None:
    if kind is Kind.ITEMS:
        upserted = store.items.upsert(models, now)
        report.created += upserted.created
        report.updated += upserted.updated
    elif kind is Kind.USERS:
        upserted = store.users.upsert(models, now)
        report.created += upserted.created
        report.updated += upserted.updated
    else:
        appended = store.events.append(models, now)
        report.stored += appended.stored
        report.duplicates += appended.duplicates


def load(
    store: DataStore,
    settings: Settings,
    kind: Kind,
    rows: Rows,
    *,
    phase: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_invalid: bool = False,
    on_progress: ProgressCallback | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> ImportReport:
    """Validate the rows of one source and store them chunk by chunk.

    Parameters
    ----------
    store
        Where the rows go.
    settings
        The event vocabulary, value bounds, channels and clock skew events are checked against.
    kind
        Whether the rows are items, users or events.
    rows
        The source, e.g. from :func:`~tastemaker.catalog.importers.files.read_file`.
    phase
        The name progress reports and the report use; by default the kind.
    batch_size
        Rows per chunk; each chunk is one transaction.
    skip_invalid
        Leave invalid rows out and store the rest instead of stopping at the first chunk
        with an invalid row.
    on_progress
        Called after every chunk.
    clock
        The time stored as ``created_at``/``received_at`` and checked against event timestamps.

    Returns
    -------
    ImportReport
        Counts, problems and whether the import ran to the end. A :class:`TastemakerError`
        that ends the import early (an unreadable source, a bad CSV header, the store being
        unavailable) is reported in ``error``. Any other exception propagates, with a note
        naming the last line stored.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from tastemaker.catalog.importers.files import read_file
    >>> from tastemaker.config import Settings
    >>> from tastemaker.storage import open_store
    >>> settings = Settings(database_url="sqlite://", secret_keys=["k" * 32])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = Path(d, "items.csv")
    ...     _ = path.write_text("id,title\\na1,Phones\\na2,\\n")
    ...     report = load(open_store(settings), settings, Kind.ITEMS, read_file(path, Kind.ITEMS))
    >>> report.ok, report.created, [f"{p.line} {p.field}" for p in report.problems]
    (False, 0, ['3 title'])
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = ImportReport(phase=phase or kind.value, kind=kind, source=rows.name)
    started = time.perf_counter()

    def progress() -> None:
        report.seconds = time.perf_counter() - started
        if on_progress is not None:
            on_progress(Progress(report.phase, rows.position, rows.size, report.rows))

    progress()
    try:
        for chunk in _chunks(rows, batch_size):
            report.rows += len(chunk)
            if not _load_chunk(
                store, settings, kind, chunk, rows.column, skip_invalid, clock, report
            ):
                break
            report.last_written_line = chunk[-1].line
            progress()
    except TastemakerError as exc:
        report.error = exc.message
    except Exception as exc:
        if report.last_written_line is not None:
            exc.add_note(
                f"{report.source}: the rows up to line {report.last_written_line} were stored "
                "before this error; running the import again is safe"
            )
        raise
    finally:
        report.seconds = time.perf_counter() - started
    return report


def _load_chunk(
    store: DataStore,
    settings: Settings,
    kind: Kind,
    chunk: list[SourceRow],
    column: Column,
    skip_invalid: bool,
    clock: Callable[[], datetime],
    report: ImportReport,
) -> bool:
    """Store one chunk; ``False`` if the import has to stop before it."""
    now = clock()
    checked = _check(chunk, kind, report.source, column, settings, now)
    if checked.problems:
        report.problems.extend(checked.problems)
        if not skip_invalid:
            report.stopped_at = chunk[0].line
            return False
        report.skipped += len({p.line for p in checked.problems})
    valid = checked.valid
    while valid:
        try:
            _write(store, kind, [model for _, model in valid], now, report)
            return True
        except EventConflict as exc:
            conflicting = set(exc.event_ids)
            lines = [row.line for row, e in valid if e.event_id in conflicting]
            report.problems.extend(
                RowProblem(report.source, line, "event_id", _CONFLICT) for line in lines
            )
            if not skip_invalid:
                report.stopped_at = chunk[0].line
                return False
            report.skipped += len(lines)
            # Another writer may store a conflicting id meanwhile; each round drops rows.
            valid = [(row, e) for row, e in valid if e.event_id not in conflicting]
    return True
