"""Reading single CSV cells: timestamps, numbers, booleans, ``|``-separated lists.

The API schemas take numbers and booleans only as JSON numbers and booleans, so a text cell is
converted here, with a reason a person can act on when it cannot be.

>>> parse_timestamp("964982703").isoformat()
'2000-07-30T18:45:03+00:00'
>>> parse_timestamp("2024-05-01T12:00:00+02:00").isoformat()
'2024-05-01T10:00:00+00:00'
>>> guess_scalar("42"), guess_scalar("4.5"), guess_scalar("0049"), guess_scalar("red")
(42, 4.5, '0049', 'red')
>>> split_list("News > Politics| Sports |")
['News > Politics', 'Sports']
>>> parse_float("4.5"), parse_int("3"), parse_bool("Yes"), parse_bool("0")
(4.5, 3, True, False)
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from tastemaker.catalog.common import to_utc

_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")
LIST_SEPARATOR = "|"
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def parse_timestamp(cell: str) -> datetime:
    """A UTC datetime from ISO 8601 or Unix epoch seconds (integer or decimal).

    A time without a zone is taken to be UTC. Raise ``ValueError`` with a readable reason.
    """
    text = cell.strip()
    if _FLOAT.fullmatch(text):
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"{text} seconds since the epoch is out of range") from exc
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a timestamp; use ISO 8601 (2024-05-01T12:00:00Z) or Unix "
            "epoch seconds"
        ) from exc


def guess_scalar(cell: str) -> str | int | float:
    """An ``int`` or ``float`` if the cell looks like one, else the text unchanged.

    Integers with leading zeros (zip codes, ids) stay text, and so do ``nan`` and ``inf``.
    """
    if _INT.fullmatch(cell):
        return int(cell)
    if _FLOAT.fullmatch(cell) and not re.fullmatch(r"[+-]?0[0-9]+", cell):
        return float(cell)
    return cell


def split_list(cell: str) -> list[str]:
    """The non-empty, stripped parts of a ``|``-separated cell."""
    return [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]


def parse_float(cell: str) -> float:
    """A finite number.

    >>> parse_float("nan")
    Traceback (most recent call last):
    ...
    ValueError: 'nan' is not a finite number
    """
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{cell!r} is not a finite number")
    return value


def parse_int(cell: str) -> int:
    """An integer."""
    try:
        return int(cell)
    except ValueError:
        raise ValueError(f"{cell!r} is not an integer") from None


def parse_bool(cell: str) -> bool:
    """``true``/``false`` (also ``yes``/``no``, ``1``/``0``, ``t``/``f``, ``y``/``n``; any case)."""
    word = cell.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{cell!r} is not true or false")
