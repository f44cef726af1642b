"""``tastemaker import``: load items, users and events from CSV or JSON Lines, and MovieLens.

The parsing and loading live in :mod:`tastemaker.catalog.importers`; this module only turns
options into calls, progress into bars and reports into lines on the console.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.exc import SQLAlchemyError

from tastemaker.catalog import importers
from tastemaker.catalog.importers import (
    DEFAULT_BATCH_SIZE,
    Format,
    ImportReport,
    Kind,
    MovieLensReport,
    import_movielens,
    load,
    read_file,
)
from tastemaker.cli.context import console, fail, state
from tastemaker.config import Settings
from tastemaker.errors import TastemakerError
from tastemaker.storage import DataStore

app = typer.Typer(
    help="Import items, users, events (CSV, JSON Lines) and MovieLens.", no_args_is_help=True
)

FAILED = 1
"""Exit code of an import that stopped or failed (usage and settings errors exit with 2)."""

_COMMON_HELP = (
    "The format comes from the extension (.csv, .jsonl, .ndjson) or --format. JSON Lines: one "
    "API object per line. CSV: a header row; empty cells mean absent; lists are |-separated; "
    "timestamps are ISO 8601 or Unix epoch seconds. The file is stored in chunks of "
    "--batch-size rows, one transaction each. By default the import stops at the first chunk "
    "with an invalid row, stores nothing of it and lists its problems as FILE:LINE field: "
    "reason; earlier chunks stay stored and running the import again is safe. --skip-invalid "
    "leaves bad rows out and stores the rest."
)

_LAYOUT_HELP = {
    Kind.ITEMS: (
        "Import items (upserts by id). CSV columns: id,title,summary,text,tags,author,source,"
        "published_at,expires_at,recommendable and prop.<name> for properties (numbers when "
        "they look numeric); tags are tag paths such as 'News > Politics|Sports'."
    ),
    Kind.USERS: (
        "Import users (upserts by id). CSV columns: id,device,geo,age_band, attr.<name> for "
        "free-form traits, pref.tags, pref.authors, pref.sources (|-separated), "
        "consent.personalization and consent.analytics (true/false, empty for no decision)."
    ),
    Kind.EVENTS: (
        "Import events (idempotent by event_id). CSV columns: event_id,user_id,item_id,type,"
        "value,timestamp,channel, context.<field> (device, page, placement, recommendation_id, "
        "position, session_id) and prop.<name> for properties."
    ),
}

FileArg = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help="The .csv/.jsonl file"),
]
FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", help="csv or jsonl; default: from the extension", show_default=False),
]
BatchOpt = Annotated[
    int, typer.Option("--batch-size", min=1, help="Rows per chunk (one transaction each)")
]
SkipOpt = Annotated[
    bool, typer.Option("--skip-invalid", help="Skip and report invalid rows, store the rest")
]
EncodingOpt = Annotated[str, typer.Option("--encoding", help="Text encoding of the file")]


@contextmanager
def _progress() -> Iterator[Callable[[importers.Progress], None]]:
    """A progress callback drawing one bar per phase (only on a terminal)."""
    bars = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]:>10,} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def update(p: importers.Progress) -> None:
        if p.phase not in tasks:
            tasks[p.phase] = bars.add_task(p.phase, total=p.total, rows=0)
        bars.update(tasks[p.phase], completed=p.done, total=p.total, rows=p.rows)

    with bars:
        yield update


def _counts(report: ImportReport) -> str:
    if report.kind is Kind.EVENTS:
        done = f"{report.stored:,} stored, {report.duplicates:,} duplicates"
    else:
        done = f"{report.created:,} created, {report.updated:,} updated"
    skipped = f", {report.skipped:,} invalid skipped" if report.skipped else ""
    return (
        f"{report.phase}: {report.rows:,} rows read, {done}{skipped} in {report.seconds:.1f} s "
        f"({report.rows_per_second:,.0f} rows/s)"
    )


def _show(report: ImportReport) -> None:
    """Print one report: its problems, why it stopped, what it stored."""
    if report.problems:
        rows = len({p.line for p in report.problems})
        console.print(
            f"[bold]{len(report.problems)} problem(s) in {rows} row(s) of "
            f"{escape(report.source)}:[/]",
            soft_wrap=True,
        )
        for problem in report.problems:
            console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    console.print(escape(_counts(report)), highlight=False, soft_wrap=True)
    if report.ok:
        return
    if report.error is not None:
        console.print(f"[bold red]error:[/] {escape(report.error)}", soft_wrap=True)
    if report.stopped_at is not None:
        console.print(
            f"[bold red]stopped:[/] the chunk starting on line {report.stopped_at} has invalid "
            "rows, so nothing of it was stored (use --skip-invalid to store the valid rows).",
            soft_wrap=True,
        )
    stored = (
        f"Rows up to line {report.last_written_line} were stored by earlier chunks."
        if report.last_written_line is not None
        else "Nothing of this file was stored."
    )
    rerun = (
        "events are idempotent by event_id"
        if report.kind is Kind.EVENTS
        else f"{report.kind.value} are upserts by id"
    )
    console.print(
        f"{stored} After fixing the file, run the import again; it is safe: {rerun}.",
        soft_wrap=True,
    )


def _fail(message: str, code: int = 2) -> typer.Exit:
    """:func:`fail` for text that may hold square brackets (paths, SQL), which rich would
    take for markup."""
    return fail(escape(message), code)


def _open(ctx: typer.Context) -> tuple[Settings, DataStore]:
    try:
        return state(ctx).settings(), state(ctx).store()
    except TastemakerError as exc:
        raise _fail(exc.message) from exc


def _storage_failure(exc: Exception) -> typer.Exit:
    notes = " ".join(getattr(exc, "__notes__", []))
    return _fail(f"{exc.__class__.__name__}: {exc}. {notes}".strip(), FAILED)


def _import_file(
    ctx: typer.Context,
    kind: Kind,
    file: Path,
    fmt: Format | None,
    batch_size: int,
    skip_invalid: bool,
    encoding: str,
) -> None:
    try:
        rows = read_file(file, kind, fmt, encoding)
    except TastemakerError as exc:
        raise _fail(exc.message) from exc
    settings, store = _open(ctx)
    try:
        with _progress() as on_progress:
            report = load(
                store,
                settings,
                kind,
                rows,
                batch_size=batch_size,
                skip_invalid=skip_invalid,
                on_progress=on_progress,
            )
    except (SQLAlchemyError, OSError) as exc:
        raise _storage_failure(exc) from exc
    finally:
        store.close()
    _show(report)
    if not report.ok:
        raise typer.Exit(FAILED)


@app.command("items", help=f"{_LAYOUT_HELP[Kind.ITEMS]} {_COMMON_HELP}")
def items(
    ctx: typer.Context,
    file: FileArg,
    fmt: FormatOpt = None,
    batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    skip_invalid: SkipOpt = False,
    encoding: EncodingOpt = "utf-8",
) -> None:
    _import_file(ctx, Kind.ITEMS, file, fmt, batch_size, skip_invalid, encoding)


@app.command("users", help=f"{_LAYOUT_HELP[Kind.USERS]} {_COMMON_HELP}")
def users(
    ctx: typer.Context,
    file: FileArg,
    fmt: FormatOpt = None,
    batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    skip_invalid: SkipOpt = False,
    encoding: EncodingOpt = "utf-8",
) -> None:
    _import_file(ctx, Kind.USERS, file, fmt, batch_size, skip_invalid, encoding)


@app.command("events", help=f"{_LAYOUT_HELP[Kind.EVENTS]} {_COMMON_HELP}")
def events(
    ctx: typer.Context,
    file: FileArg,
    fmt: FormatOpt = None,
    batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    skip_invalid: SkipOpt = False,
    encoding: EncodingOpt = "utf-8",
) -> None:
    _import_file(ctx, Kind.EVENTS, file, fmt, batch_size, skip_invalid, encoding)


def _show_movielens(report: MovieLensReport) -> None:
    for phase in report.phases:
        _show(phase)
    extras = [f"{report.raters:,} raters"]
    if report.links:
        extras.append(f"{report.links:,} links")
    if report.user_tags:
        extras.append(f"{report.user_tags:,} user tags")
    verdict = "imported" if report.ok else "[bold red]stopped[/]"
    console.print(
        f"MovieLens ({report.layout.value}) {verdict}: {', '.join(extras)} "
        f"in {report.seconds:.1f} s",
        soft_wrap=True,
    )


@app.command("movielens")
def movielens(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, help="The unpacked folder (ml-latest-small, ml-100k …)"
        ),
    ],
    batch_size: BatchOpt = DEFAULT_BATCH_SIZE,
    skip_invalid: SkipOpt = False,
) -> None:
    """Import a MovieLens data set: movies as items, ratings as rating events.

    The layout is detected: ml-latest-small/ml-latest/ml-25m (movies.csv, ratings.csv,
    optional links.csv and tags.csv) or ml-100k (u.item, u.genre, u.data, u.user). Genres
    become tags, the year of a title properties.year, links imdb_id/tmdb_id, user tags
    properties.user_tags; every rater becomes a user (ml-100k: age band, zip code as geo,
    gender and occupation as traits). Event ids are ml-USER-MOVIE, so importing again stores
    nothing twice.
    """
    settings, store = _open(ctx)
    try:
        with _progress() as on_progress:
            report = import_movielens(
                store,
                settings,
                path,
                batch_size=batch_size,
                skip_invalid=skip_invalid,
                on_progress=on_progress,
            )
    except TastemakerError as exc:
        raise _fail(exc.message, FAILED) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise _storage_failure(exc) from exc
    finally:
        store.close()
    _show_movielens(report)
    if not report.ok:
        raise typer.Exit(FAILED)
