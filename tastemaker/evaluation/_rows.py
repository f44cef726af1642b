"""Row-level helpers of the splits: integer codes, time keys, per-user positions, filters.

Everything here is vectorized over all rows at once; no Python loop runs per user or per row.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.evaluation._checks import BoolArray, FloatArray, IntArray, invalid

EPS = 1e-9
"""Keeps ``floor(fraction * n)`` exact where binary floats fall short (0.29 * 100 < 29)."""

_EPOCH = pd.Timestamp(0, tz=UTC)


def id_codes(frame: pd.DataFrame) -> tuple[IntArray, IntArray]:
    """Dense integer codes of the user and item columns."""
    out = []
    for column in (Columns.USER, Columns.ITEM):
        values = np.asarray(pd.factorize(frame[column])[0], dtype=np.int64)
        if values.size and values.min() < 0:
            raise invalid(column, "has missing values; drop or fill those rows first")
        out.append(values)
    return out[0], out[1]


def time_keys(frame: pd.DataFrame) -> IntArray:
    """The timestamp column as int64 keys that order like the timestamps."""
    column = frame[Columns.TIMESTAMP]
    if column.isna().any():
        raise invalid(Columns.TIMESTAMP, "has missing values; drop or fill those rows first")
    if pd.api.types.is_integer_dtype(column.dtype):
        return column.to_numpy(dtype=np.int64)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return np.asarray(pd.DatetimeIndex(column).asi8, dtype=np.int64)
    raise invalid(
        Columns.TIMESTAMP,
        f"must be int64 microseconds since the epoch or datetime64, got {column.dtype}",
    )


def at_or_after(column: pd.Series, at: int | datetime | np.datetime64) -> BoolArray:
    """Which rows are at or after ``at``, comparing in the column's own representation."""
    if pd.api.types.is_integer_dtype(column.dtype):
        cut = int(at) if isinstance(at, int | np.integer) else _micros(pd.Timestamp(at))
        return column.to_numpy(dtype=np.int64) >= cut
    if isinstance(at, int | np.integer):
        stamp = pd.Timestamp(int(at), unit="us", tz=UTC)
    else:
        stamp = pd.Timestamp(at)
        stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    if getattr(column.dtype, "tz", None) is None:
        stamp = stamp.tz_convert(None)  # a naive column holds UTC wall times
    return np.asarray(column >= stamp, dtype=np.bool_)


def _micros(stamp: pd.Timestamp) -> int:
    aware = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return (aware - _EPOCH) // pd.Timedelta(microseconds=1)


def positions_within_users(
    users: IntArray, keys: IntArray | FloatArray
) -> tuple[IntArray, IntArray]:
    """Each row's 0-based position among its user's rows ordered by ``keys``, and that count.

    ``np.lexsort`` is stable, so rows with equal keys keep their input order.
    """
    n = len(users)
    order = np.lexsort((keys, users))
    counts = np.bincount(users, minlength=int(users.max()) + 1 if n else 0)
    starts = np.cumsum(counts) - counts
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n, dtype=np.int64) - starts[users[order]]
    return position, np.asarray(counts[users], dtype=np.int64)


def holdout_sizes(size: IntArray, fraction: float, min_interactions: int) -> IntArray:
    """``max(1, floor(fraction * n))`` per row's user, at most ``n - 1``; 0 for short users."""
    if fraction <= 0:
        return np.zeros_like(size)
    n: IntArray = np.floor(size * fraction + EPS).astype(np.int64)
    n = np.minimum(np.maximum(n, 1), size - 1)
    n[size < min_interactions] = 0
    return n


def keep_holdout(
    users: IntArray,
    items: IntArray,
    train: BoolArray,
    *,
    drop_cold_users: bool,
    drop_cold_items: bool,
    drop_seen: bool,
) -> BoolArray:
    """Rows that survive the cold-start and seen-pair filters (meaningful for held-out rows)."""
    keep = np.ones(len(users), dtype=np.bool_)
    if not len(users):
        return keep
    n_items = int(items.max()) + 1
    if drop_cold_users:
        keep &= np.bincount(users[train], minlength=int(users.max()) + 1)[users] > 0
    if drop_cold_items:
        keep &= np.bincount(items[train], minlength=n_items)[items] > 0
    if drop_seen:
        pairs = users * n_items + items
        held_out = ~train
        keep[held_out] &= ~np.isin(pairs[held_out], pairs[train])
    return keep
