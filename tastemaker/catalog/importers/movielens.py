"""Importing a MovieLens data set: movies become items, ratings become events.

Two layouts are recognized from the files in the directory:

``ml-latest`` (ml-latest-small, ml-latest, ml-25m, ml-32m)
    ``movies.csv`` (movieId,title,genres), ``ratings.csv`` (userId,movieId,rating,timestamp) and,
    if present, ``links.csv`` (movieId,imdbId,tmdbId) and ``tags.csv``
    (userId,movieId,tag,timestamp).
``ml-100k``
    ``u.item`` (latin-1, ``|``-separated: movie id|title|release date|video release date|IMDb
    URL|19 genre flags), ``u.genre`` (genre names and their flag positions), ``u.data``
    (tab-separated user id, item id, rating, timestamp) and ``u.user`` (user id|age|gender|
    occupation|zip code).

Every movie becomes an item with its genres as tags (``(no genres listed)`` and ``unknown``
give none) and the year of its title in ``properties.year`` (the title keeps the rest); links
give ``imdb_id``/``tmdb_id``, ml-100k's IMDb URL ``imdb_url`` and its release date
``published_at``; the user tags of ``tags.csv`` are collected in ``properties.user_tags``. Every
rating becomes a ``rating`` event with the rating as value, the rating's time and the event id
``ml-<userId>-<movieId>``, so importing again stores nothing twice; every rater becomes a user.
ml-100k demographics become traits: ``age_band`` (``25-34``), ``geo`` (the zip code), and
``gender`` and ``occupation`` in ``attributes``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tastemaker.catalog.common import utcnow
from tastemaker.catalog.importers.cells import parse_float, parse_int, parse_timestamp
from tastemaker.catalog.importers.loader import DEFAULT_BATCH_SIZE, ImportReport, load
from tastemaker.catalog.importers.source import Kind, ProgressCallback, Rows, SourceError
from tastemaker.catalog.importers.tables import CellError, Delimited, HeadedCsv, cell
from tastemaker.config import Settings

if TYPE_CHECKING:
    from tastemaker.storage import DataStore


class Layout(StrEnum):
    """The MovieLens file layouts."""

    LATEST = "ml-latest"
    ML100K = "ml-100k"


NO_GENRES = frozenset({"(no genres listed)", "unknown"})
"""Genre labels that mean the movie has none."""

ML100K_GENRES = (
    *("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime"),
    *("Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery"),
    *("Romance", "Sci-Fi", "Thriller", "War", "Western"),
)
"""The genre flags of ``u.item`` in order, used when ``u.genre`` is missing."""

_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$")
_AGE_BANDS = (
    (18, "under-18"),
    (25, "18-24"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
    (65, "55-64"),
)


@dataclass
class MovieLensReport:
    """What importing a MovieLens directory did, one :class:`ImportReport` per loaded file.

    ``raters`` counts the distinct users with ratings, ``links`` and ``user_tags`` the rows of
    ``links.csv`` and ``tags.csv`` that were attached to movies.
    """

    layout: Layout
    phases: list[ImportReport] = field(default_factory=list)
    raters: int = 0
    links: int = 0
    user_tags: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every phase ran to the end."""
        return all(p.ok for p in self.phases)


def detect_layout(path: Path) -> Layout:
    """The layout of the MovieLens directory ``path``; :class:`SourceError` if it is neither.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("u.item", "u.data"):
    ...         _ = Path(d, name).write_text("")
    ...     detect_layout(Path(d))
    <Layout.ML100K: 'ml-100k'>
    """
    if not path.is_dir():
        raise SourceError(f"{path}: not a directory; pass the unpacked MovieLens folder")
    if (path / "movies.csv").is_file() and (path / "ratings.csv").is_file():
        return Layout.LATEST
    if (path / "u.item").is_file() and (path / "u.data").is_file():
        return Layout.ML100K
    raise SourceError(
        f"{path}: not a MovieLens folder; expected movies.csv and ratings.csv (ml-latest-small, "
        "ml-25m …) or u.item and u.data (ml-100k)"
    )


def split_year(title: str) -> tuple[str, int | None]:
    """The title without a trailing ``(1995)`` (or ``(2006–2007)``) and that year.

    >>> split_year("Toy Story (1995) "), split_year("Babylon 5")
    (('Toy Story', 1995), ('Babylon 5', None))
    """
    match = _YEAR.match(title)
    if match is None:
        return title.strip(), None
    rest = match["title"].strip()
    return (rest or title.strip()), int(match["year"])


def age_band(age: int) -> str:
    """The age band of an age in years.

    >>> age_band(17), age_band(25), age_band(34), age_band(70)
    ('under-18', '25-34', '25-34', '65+')
    """
    for upper, band in _AGE_BANDS:
        if age < upper:
            return band
    return "65+"


def rating_event(user: str, movie: str, rating: float, timestamp: datetime) -> dict[str, Any]:
    """The API object of one rating; its id makes a re-import idempotent.

    >>> rating_event("1", "31", 2.5, datetime(2000, 1, 1, tzinfo=UTC))["event_id"]
    'ml-1-31'
    """
    return {
        "event_id": f"ml-{user}-{movie}",
        "user_id": user,
        "item_id": movie,
        "type": "rating",
        "value": rating,
        "timestamp": timestamp,
    }


def _movie(movie_id: str, title: str, genres: Iterable[str]) -> dict[str, Any]:
    name, year = split_year(title)
    return {
        "id": movie_id,
        "title": name,
        "tags": [g for g in genres if g and g not in NO_GENRES],
        "properties": {"year": year} if year is not None else {},
    }


def _release_date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%d-%b-%Y").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date like 01-Jan-1995") from exc


@dataclass
class _Run:
    """One import: the store, the options and the report being filled."""

    store: DataStore
    settings: Settings
    batch_size: int
    skip_invalid: bool
    on_progress: ProgressCallback | None
    clock: Callable[[], datetime]
    report: MovieLensReport
    raters: set[str] = field(default_factory=set)

    def load(self, kind: Kind, phase: str, rows: Rows) -> bool:
        """Load one file; ``False`` if the import has to stop."""
        result = load(
            self.store,
            self.settings,
            kind,
            rows,
            phase=phase,
            batch_size=self.batch_size,
            skip_invalid=self.skip_invalid,
            on_progress=self.on_progress,
            clock=self.clock,
        )
        self.report.phases.append(result)
        return result.ok

    def rater(self, user: str) -> str:
        """Count ``user`` as a rater and return it."""
        self.raters.add(user)
        self.report.raters = len(self.raters)
        return user


def _import_latest(path: Path, run: _Run) -> None:
    links: dict[str, dict[str, Any]] = {}
    if (path / "links.csv").is_file():
        table = HeadedCsv(path / "links.csv", ("movieId", "imdbId", "tmdbId"))
        for _, row in table.scan("links", run.on_progress):
            props: dict[str, Any] = {}
            if row["imdbId"]:
                props["imdb_id"] = f"tt{row['imdbId']}"
            if row["tmdbId"].isdigit():
                props["tmdb_id"] = int(row["tmdbId"])
            links[row["movieId"]] = props
        run.report.links = len(links)
    user_tags: dict[str, dict[str, str]] = {}
    if (path / "tags.csv").is_file():
        table = HeadedCsv(path / "tags.csv", ("userId", "movieId", "tag"))
        for _, row in table.scan("tags", run.on_progress):
            if row["tag"]:
                # Each tag once per movie, spelled as it was first written.
                user_tags.setdefault(row["movieId"], {}).setdefault(row["tag"].lower(), row["tag"])
                run.report.user_tags += 1

    def movie(row: dict[str, str]) -> dict[str, Any]:
        data = _movie(row["movieId"], row["title"], row["genres"].split("|"))
        data["properties"].update(links.get(row["movieId"], {}))
        tags = user_tags.get(row["movieId"])
        if tags:
            data["properties"]["user_tags"] = list(tags.values())
        return data

    movies = HeadedCsv(path / "movies.csv", ("movieId", "title", "genres"))
    rows = movies.rows(movie, {"id": "movieId", "tags": "genres"})
    if not run.load(Kind.ITEMS, "movies", rows):
        return

    def rating(row: dict[str, str]) -> dict[str, Any]:
        value = cell("rating", parse_float, row["rating"])
        when = cell("timestamp", parse_timestamp, row["timestamp"])
        return rating_event(run.rater(row["userId"]), row["movieId"], value, when)

    ratings = HeadedCsv(path / "ratings.csv", ("userId", "movieId", "rating", "timestamp"))
    columns = {"event_id": "userId", "user_id": "userId", "item_id": "movieId", "value": "rating"}
    run.load(Kind.EVENTS, "ratings", ratings.rows(rating, columns))


def _genres(path: Path) -> list[str]:
    if not path.is_file():
        return list(ML100K_GENRES)
    table = Delimited(path, "|", 2, encoding="latin-1")
    found: dict[int, str] = {}
    for line, (name, index) in table.scan("genres", None):
        if not index.strip().isdigit():
            raise SourceError(f"{path}:{line}: the genre index {index!r} is not a number")
        found[int(index)] = name
    if sorted(found) != list(range(len(found))):
        raise SourceError(f"{path}: the genre indices are not 0 … {len(found) - 1}")
    return [found[i] for i in range(len(found))]


def _import_100k(path: Path, run: _Run) -> None:
    genres = _genres(path / "u.genre")

    def movie(fields: list[str]) -> dict[str, Any]:
        flags = fields[5:]
        bad = [f for f in flags if f not in ("0", "1")]
        if bad:
            raise CellError("genres", f"genre flags must be 0 or 1, not {bad[0]!r}")
        named = (g for g, f in zip(genres, flags, strict=True) if f == "1")
        data = _movie(fields[0], fields[1], named)
        if fields[2]:
            data["published_at"] = cell("release date", _release_date, fields[2])
        if fields[4]:
            data["properties"]["imdb_url"] = fields[4]
        return data

    items = Delimited(path / "u.item", "|", 5 + len(genres), encoding="latin-1")
    columns = {"id": "movie id", "title": "movie title", "tags": "genres"}
    rows = items.rows(movie, {**columns, "published_at": "release date"})
    if not run.load(Kind.ITEMS, "movies", rows):
        return

    if (path / "u.user").is_file():

        def user(fields: list[str]) -> dict[str, Any]:
            band = age_band(cell("age", parse_int, fields[1]))
            pairs = (("gender", fields[2]), ("occupation", fields[3]))
            traits: dict[str, Any] = {"age_band": band, "attributes": {k: v for k, v in pairs if v}}
            if fields[4]:
                traits["geo"] = fields[4]
            return {"id": fields[0], "traits": traits}

        users = Delimited(path / "u.user", "|", 5, encoding="latin-1")
        columns = {
            "id": "user id",
            "traits.age_band": "age",
            "traits.geo": "zip code",
            "traits.attributes.gender": "gender",
            "traits.attributes.occupation": "occupation",
        }
        if not run.load(Kind.USERS, "users", users.rows(user, columns)):
            return

    def rating(fields: list[str]) -> dict[str, Any]:
        value = cell("rating", parse_float, fields[2])
        when = cell("timestamp", parse_timestamp, fields[3])
        return rating_event(run.rater(fields[0]), fields[1], value, when)

    ratings = Delimited(path / "u.data", "\t", 4, encoding="latin-1")
    columns = {"event_id": "user id", "user_id": "user id", "item_id": "item id"}
    run.load(Kind.EVENTS, "ratings", ratings.rows(rating, {**columns, "value": "rating"}))


def import_movielens(
    store: DataStore,
    settings: Settings,
    path: Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_invalid: bool = False,
    on_progress: ProgressCallback | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> MovieLensReport:
    """Import a MovieLens directory of either layout (detected from its files).

    Phases run in order (ml-latest: links, tags, movies, ratings; ml-100k: genres, movies,
    users, ratings); each loaded file follows the rules of
    :func:`~tastemaker.catalog.importers.loader.load`, and the import stops after a phase that
    did not run to the end.

    Parameters
    ----------
    store
        Where movies, users and ratings go.
    settings
        The event vocabulary the ratings are checked against (``rating`` must be known).
    path
        The unpacked MovieLens folder.
    batch_size
        Rows per chunk and transaction.
    skip_invalid
        Leave invalid rows out instead of stopping.
    on_progress
        Called as each phase advances.
    clock
        The time stored as ``created_at``/``received_at``.

    Returns
    -------
    MovieLensReport
        One report per loaded file. A folder that is not MovieLens, or a malformed
        ``links.csv``, ``tags.csv`` or ``u.genre``, raises :class:`SourceError` before
        anything is stored.
    """
    started = time.perf_counter()
    report = MovieLensReport(detect_layout(path))
    run = _Run(store, settings, batch_size, skip_invalid, on_progress, clock, report)
    try:
        if report.layout is Layout.LATEST:
            _import_latest(path, run)
        else:
            _import_100k(path, run)
    finally:
        report.seconds = time.perf_counter() - started
    return report
