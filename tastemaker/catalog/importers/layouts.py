"""The CSV layouts of items, users and events, and how a CSV row becomes an API object.

Every layout has a header row. Empty cells mean absent; cells are stripped of surrounding
white space; list cells are ``|``-separated; timestamps are ISO 8601 or Unix epoch seconds;
``prop.<name>`` and ``attr.<name>`` cells become numbers when they look numeric.

items
    ``id,title,summary,text,tags,author,source,published_at,expires_at,recommendable`` and any
    number of ``prop.<name>`` columns (item properties). ``tags`` holds tag paths such as
    ``News > Politics|Sports``. Only ``id`` and ``title`` are required.
users
    ``id,device,geo,age_band``, ``attr.<name>`` (free-form traits), ``pref.tags``,
    ``pref.authors``, ``pref.sources`` (``|``-separated) and ``consent.personalization``,
    ``consent.analytics`` (``true``/``false``, empty for no decision). Only ``id`` is required.
events
    ``event_id,user_id,item_id,type,value,timestamp,channel``, ``context.<field>`` (device, page,
    placement, recommendation_id, position, session_id) and ``prop.<name>`` (event properties).
    ``event_id``, ``user_id`` and ``type`` are required.

>>> layout = LAYOUTS[Kind.ITEMS]
>>> layout.check_header(["id", "title", "tags", "prop.price"], "items.csv")
>>> data, problems = layout.build(["a1", "Phones", "Tech > Phones|Deals", "9.90"],
...                               ["id", "title", "tags", "prop.price"])
>>> data
{'id': 'a1', 'title': 'Phones', 'tags': ['Tech > Phones', 'Deals'], 'properties': {'price': 9.9}}
>>> layout.column(("properties", "price"))
'prop.price'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tastemaker.catalog.events import EventContext
from tastemaker.catalog.importers.cells import (
    guess_scalar,
    parse_bool,
    parse_float,
    parse_int,
    parse_timestamp,
    split_list,
)
from tastemaker.catalog.importers.source import Kind, SourceError
from tastemaker.catalog.users import Purpose

Cell = Callable[[str], Any]
"""Turns a non-empty cell into the value the schema expects; raises ``ValueError``."""


def _text(cell: str) -> str:
    return cell


def _consent(cell: str) -> dict[str, bool]:
    return {"granted": parse_bool(cell)}


@dataclass(frozen=True)
class Column:
    """Where a CSV column goes in the API object: a path of keys and a cell parser."""

    path: tuple[str, ...]
    parse: Cell = _text


@dataclass(frozen=True)
class Prefix:
    """A family of columns ``<prefix>.<name>`` stored under ``path + (name,)``."""

    path: tuple[str, ...]
    parse: Cell = guess_scalar


@dataclass(frozen=True)
class CsvLayout:
    """The columns a CSV file of one kind may have and how each maps to the API schema."""

    kind: Kind
    columns: Mapping[str, Column]
    prefixes: Mapping[str, Prefix]
    required: tuple[str, ...]

    def describe(self) -> str:
        """The layout in one line, for help texts and error messages."""
        families = [f"{p}.<name>" for p in self.prefixes]
        return ",".join([*self.columns, *families])

    def _lookup(self, name: str) -> Column | None:
        if name in self.columns:
            return self.columns[name]
        prefix, dot, rest = name.partition(".")
        family = self.prefixes.get(prefix) if dot else None
        if family is None or not rest:
            return None
        return Column((*family.path, rest), family.parse)

    def check_header(self, header: Sequence[str], source: str) -> None:
        """Raise :class:`SourceError` for unknown, duplicate or missing columns."""
        problems: list[str] = []
        unknown = [h for h in header if self._lookup(h) is None]
        if unknown:
            problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            problems.append(f"duplicate column(s) {', '.join(map(repr, duplicates))}")
        missing = [r for r in self.required if r not in header]
        if missing:
            problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if problems:
            raise SourceError(
                f"{source}:1: the header of a {self.kind.value} CSV file has "
                f"{'; '.join(problems)}. Allowed columns: {self.describe()}"
            )

    def build(
        self, cells: Sequence[str], header: Sequence[str]
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The API object of one row, and ``(column, reason)`` for every cell that failed."""
        data: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for name, raw in zip(header, cells, strict=False):
            cell = raw.strip()
            column = self._lookup(name)
            if not cell or column is None:
                continue
            try:
                value = column.parse(cell)
            except ValueError as exc:
                problems.append((name, str(exc)))
                continue
            target = data
            for key in column.path[:-1]:
                target = target.setdefault(key, {})
            target[column.path[-1]] = value
        return data, problems

    def column(self, loc: Sequence[str | int]) -> str:
        """The CSV column a pydantic error location points at, or ``(row)``."""
        path = [str(p) for p in loc]
        for name, column in self.columns.items():
            if path[: len(column.path)] == list(column.path):
                return name
        for prefix, family in self.prefixes.items():
            n = len(family.path)
            if len(path) > n and path[:n] == list(family.path):
                return f"{prefix}.{path[n]}"
        return ".".join(path) or "(row)"


_ITEMS = CsvLayout(
    kind=Kind.ITEMS,
    columns={
        "id": Column(("id",)),
        "title": Column(("title",)),
        "summary": Column(("summary",)),
        "text": Column(("text",)),
        "tags": Column(("tags",), split_list),
        "author": Column(("author",)),
        "source": Column(("source",)),
        "published_at": Column(("published_at",), parse_timestamp),
        "expires_at": Column(("expires_at",), parse_timestamp),
        "recommendable": Column(("recommendable",), parse_bool),
    },
    prefixes={"prop": Prefix(("properties",))},
    required=("id", "title"),
)

_USERS = CsvLayout(
    kind=Kind.USERS,
    columns={
        "id": Column(("id",)),
        "device": Column(("traits", "device")),
        "geo": Column(("traits", "geo")),
        "age_band": Column(("traits", "age_band")),
        "pref.tags": Column(("preferences", "tags"), split_list),
        "pref.authors": Column(("preferences", "authors"), split_list),
        "pref.sources": Column(("preferences", "sources"), split_list),
        **{
            f"consent.{p.value}": Column(("consent", p.value), _consent)
            for p in sorted(Purpose, key=lambda p: p.value, reverse=True)
        },
    },
    prefixes={"attr": Prefix(("traits", "attributes"))},
    required=("id",),
)

_EVENTS = CsvLayout(
    kind=Kind.EVENTS,
    columns={
        "event_id": Column(("event_id",)),
        "user_id": Column(("user_id",)),
        "item_id": Column(("item_id",)),
        "type": Column(("type",)),
        "value": Column(("value",), parse_float),
        "timestamp": Column(("timestamp",), parse_timestamp),
        "channel": Column(("channel",)),
        **{
            f"context.{name}": Column(("context", name), parse_int if name == "position" else _text)
            for name in EventContext.model_fields
        },
    },
    prefixes={"prop": Prefix(("properties",))},
    required=("event_id", "user_id", "type"),
)

LAYOUTS: Mapping[Kind, CsvLayout] = {Kind.ITEMS: _ITEMS, Kind.USERS: _USERS, Kind.EVENTS: _EVENTS}
"""The CSV layout of every kind."""
