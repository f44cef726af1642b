"""Train / validation / test splits of interaction frames.

Every split takes a :class:`pandas.DataFrame` with the :class:`~tastemaker.catalog.columns.Columns`
names (``user_id``, ``item_id`` and, for the time-based splits, ``timestamp``) and returns
*row subsets of it*: the original index and row order are kept, so a held-out row can always be
traced back to its input row. Nothing is seeded globally; the random split takes its seed.

Held-out rows that a collaborative model could not score may be dropped:

``drop_cold_items``
    drop held-out rows whose item never occurs in the training part (default ``True``: such an
    item has no learned representation, so no model index can rank it).
``drop_cold_users``
    drop held-out rows whose user never occurs in the training part (only :func:`time_split`
    can produce such rows; default ``True``).
``drop_seen``
    drop held-out rows whose (user, item) pair also occurs in the training part (default
    ``False``; set it when the recommender excludes items the user has already seen, or those
    rows can never be hit).

With all three off, the parts partition the input exactly. To tune without ever touching the
test set, split the training part again with the same protocol (:func:`carve_validation`).

>>> import pandas as pd
>>> from tastemaker.catalog.columns import Columns
>>> frame = pd.DataFrame({
...     Columns.USER: ["a"] * 5 + ["b"] * 2,
...     Columns.ITEM: [1, 2, 3, 4, 1, 2, 3],
...     Columns.TIMESTAMP: [10, 20, 30, 40, 50, 10, 20],
... })
>>> train, test = chronological_split(frame, drop_cold_items=False)
>>> test.index.tolist()     # the last 20% of user "a"; user "b" is too short to be tested
[4]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Concatenate, ParamSpec

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.evaluation._checks import check_fraction, invalid, require_columns
from tastemaker.evaluation._rows import (
    EPS,
    at_or_after,
    holdout_sizes,
    id_codes,
    keep_holdout,
    positions_within_users,
    time_keys,
)

__all__ = ["carve_validation", "chronological_split", "random_split", "time_split"]

P = ParamSpec("P")


def chronological_split(
    interactions: pd.DataFrame,
    test_fraction: float = 0.2,
    *,
    min_interactions: int = 5,
    drop_cold_items: bool = True,
    drop_seen: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out the most recent interactions of every user (leave-last-fraction-out).

    A user with ``n >= min_interactions`` rows gives their latest
    ``max(1, floor(test_fraction * n))`` rows (never all of them) to the test part; users with
    fewer rows stay entirely in training. Rows are ordered by timestamp, and rows with equal
    timestamps by their position in ``interactions`` (a stable sort), so the split is fully
    determined by the input.

    Parameters
    ----------
    interactions : pandas.DataFrame
        Columns ``user_id``, ``item_id`` and ``timestamp`` (``int64`` microseconds since the
        epoch, or ``datetime64``); other columns are carried along.
    test_fraction : float, default 0.2
        Share of each eligible user's rows to hold out, in ``(0, 1)``.
    min_interactions : int, default 5
        Users with fewer rows are not tested; at least 2.
    drop_cold_items : bool, default True
        Drop test rows whose item does not occur in the training part.
    drop_seen : bool, default False
        Drop test rows whose (user, item) pair occurs in the training part.

    Returns
    -------
    train, test : pandas.DataFrame
        Row subsets of ``interactions`` with its index and row order.

    Raises
    ------
    tastemaker.errors.InvalidInput
        A column is missing or has missing values, or a parameter is out of range.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({
    ...     "user_id": ["a"] * 6,
    ...     "item_id": [1, 2, 3, 4, 5, 6],
    ...     "timestamp": [60, 50, 40, 30, 20, 10],
    ... })
    >>> train, test = chronological_split(frame, test_fraction=0.34, drop_cold_items=False)
    >>> test["timestamp"].tolist()     # floor(0.34 * 6) = 2 latest rows
    [60, 50]
    """
    check_fraction("test_fraction", test_fraction)
    if min_interactions < 2:
        raise invalid("min_interactions", f"must be at least 2, got {min_interactions}")
    require_columns(interactions, (Columns.USER, Columns.ITEM, Columns.TIMESTAMP))
    users, items = id_codes(interactions)
    position, size = positions_within_users(users, time_keys(interactions))
    n_test = holdout_sizes(size, test_fraction, min_interactions)
    test = position >= size - n_test
    train = ~test
    keep = keep_holdout(
        users,
        items,
        train,
        drop_cold_users=False,
        drop_cold_items=drop_cold_items,
        drop_seen=drop_seen,
    )
    return interactions.loc[train], interactions.loc[test & keep]


def random_split(
    interactions: pd.DataFrame,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    *,
    seed: int | np.random.Generator,
    min_interactions: int = 5,
    drop_cold_items: bool = True,
    drop_seen: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split every user's interactions at random into train, validation and test.

    Each user's rows are shuffled; a user with ``n >= min_interactions`` rows gives
    ``max(1, floor(f * n))`` of them to each held-out part with a non-zero fraction ``f`` and
    keeps the rest (always at least one row) for training. Users with fewer rows stay entirely
    in training. The same ``seed`` and input give the same split.

    Parameters
    ----------
    interactions : pandas.DataFrame
        Columns ``user_id`` and ``item_id``; other columns are carried along.
    fractions : tuple of float, default (0.8, 0.1, 0.1)
        Train, validation and test shares; non-negative, train positive, summing to 1.
        A zero validation share gives an empty validation part.
    seed : int or numpy.random.Generator
        Source of randomness; a ``Generator`` is advanced, an ``int`` seeds a fresh one.
    min_interactions : int, default 5
        Users with fewer rows are not held out; at least 1 plus the number of non-empty
        held-out parts.
    drop_cold_items : bool, default True
        Drop held-out rows whose item does not occur in the training part.
    drop_seen : bool, default False
        Drop held-out rows whose (user, item) pair occurs in the training part.

    Returns
    -------
    train, validation, test : pandas.DataFrame
        Row subsets of ``interactions`` with its index and row order.

    Raises
    ------
    tastemaker.errors.InvalidInput
        A column is missing or has missing values, or a parameter is out of range.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"user_id": ["a"] * 10, "item_id": range(10)})
    >>> train, validation, test = random_split(frame, seed=7, drop_cold_items=False)
    >>> len(train), len(validation), len(test)
    (8, 1, 1)
    >>> again = random_split(frame, seed=7, drop_cold_items=False)
    >>> again[2].equals(test)
    True
    """
    if len(fractions) != 3 or min(fractions) < 0 or fractions[0] <= 0:
        raise invalid("fractions", f"need three non-negative shares, train > 0, got {fractions}")
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise invalid("fractions", f"must sum to 1, got {fractions} (sum {sum(fractions)})")
    validation_share, test_share = float(fractions[1]), float(fractions[2])
    smallest = 1 + (validation_share > 0) + (test_share > 0)
    if min_interactions < smallest:
        raise invalid(
            "min_interactions",
            f"must be at least {smallest} for {fractions}, got {min_interactions}",
        )
    require_columns(interactions, (Columns.USER, Columns.ITEM))
    users, items = id_codes(interactions)
    rng = np.random.default_rng(seed)
    position, size = positions_within_users(users, rng.random(len(users)))
    n_test = holdout_sizes(size, test_share, min_interactions)
    n_validation = np.minimum(
        holdout_sizes(size, validation_share, min_interactions), np.maximum(size - 1 - n_test, 0)
    )
    test = position < n_test
    validation = ~test & (position < n_test + n_validation)
    train = ~test & ~validation
    keep = keep_holdout(
        users,
        items,
        train,
        drop_cold_users=False,
        drop_cold_items=drop_cold_items,
        drop_seen=drop_seen,
    )
    return (
        interactions.loc[train],
        interactions.loc[validation & keep],
        interactions.loc[test & keep],
    )


def time_split(
    interactions: pd.DataFrame,
    at: int | datetime | np.datetime64 | None = None,
    *,
    quantile: float | None = None,
    drop_cold_users: bool = True,
    drop_cold_items: bool = True,
    drop_seen: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cut all interactions at one point in time: earlier rows train, the rest test.

    Give exactly one of ``at`` and ``quantile``. Rows with ``timestamp < cut`` go to training
    and rows with ``timestamp >= cut`` to the test part.

    Parameters
    ----------
    interactions : pandas.DataFrame
        Columns ``user_id``, ``item_id`` and ``timestamp``; other columns are carried along.
    at : int or datetime or numpy.datetime64, optional
        The cut. An ``int`` is microseconds since the epoch; a naive ``datetime`` is taken to be
        UTC (as everywhere in Tastemaker).
    quantile : float, optional
        Cut at the timestamp of the ``ceil(quantile * n)``-th earliest row (0-based), so about
        ``quantile`` of the rows train -- fewer when many rows share the cut timestamp.
    drop_cold_users : bool, default True
        Drop test rows whose user does not occur in the training part.
    drop_cold_items : bool, default True
        Drop test rows whose item does not occur in the training part.
    drop_seen : bool, default False
        Drop test rows whose (user, item) pair occurs in the training part.

    Returns
    -------
    train, test : pandas.DataFrame
        Row subsets of ``interactions`` with its index and row order.

    Raises
    ------
    tastemaker.errors.InvalidInput
        Both or neither of ``at`` and ``quantile`` given, a column missing, or ``at`` not
        comparable with the timestamp column.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({
    ...     "user_id": ["a", "b", "a", "b", "c"],
    ...     "item_id": [1, 2, 2, 1, 1],
    ...     "timestamp": [10, 20, 30, 40, 50],
    ... })
    >>> train, test = time_split(frame, at=30)
    >>> test["timestamp"].tolist()   # the row of the unseen user "c" is dropped
    [30, 40]
    >>> train, test = time_split(frame, quantile=0.6, drop_cold_users=False)
    >>> train["timestamp"].tolist(), test["timestamp"].tolist()
    ([10, 20, 30], [40, 50])
    """
    if (at is None) == (quantile is None):
        raise invalid("at", "give exactly one of `at` (a timestamp) and `quantile`")
    require_columns(interactions, (Columns.USER, Columns.ITEM, Columns.TIMESTAMP))
    users, items = id_codes(interactions)
    keys = time_keys(interactions)
    if quantile is not None:
        check_fraction("quantile", quantile)
        if len(keys):
            k = min(max(math.ceil(quantile * len(keys) - EPS), 0), len(keys) - 1)
            test = keys >= np.partition(keys, k)[k]
        else:
            test = np.zeros(0, dtype=np.bool_)
    else:
        assert at is not None
        test = at_or_after(interactions[Columns.TIMESTAMP], at)
    train = ~test
    keep = keep_holdout(
        users,
        items,
        train,
        drop_cold_users=drop_cold_users,
        drop_cold_items=drop_cold_items,
        drop_seen=drop_seen,
    )
    return interactions.loc[train], interactions.loc[test & keep]


def carve_validation(
    train: pd.DataFrame,
    split: Callable[Concatenate[pd.DataFrame, P], tuple[pd.DataFrame, pd.DataFrame]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a training part again, with the same protocol, into fit and validation parts.

    Hyper-parameters are tuned by fitting on ``fit`` and scoring on ``validation``; the test
    part is used once, after tuning, so no choice is ever made by looking at it.

    Parameters
    ----------
    train : pandas.DataFrame
        The training part of an earlier split (never the whole data set).
    split : callable
        A two-way split such as :func:`chronological_split` or :func:`time_split`.
    *args, **kwargs
        Passed to ``split`` after ``train``; give the same options as for the test split. A
        :func:`time_split` cut given with ``at`` must move earlier; ``quantile`` carries over.

    Returns
    -------
    fit, validation : pandas.DataFrame
        Row subsets of ``train``.

    Raises
    ------
    tastemaker.errors.InvalidInput
        The validation part came out empty, so tuning on it would measure nothing.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({
    ...     "user_id": ["a"] * 10,
    ...     "item_id": [1, 2, 3, 1, 2, 3, 1, 2, 3, 1],
    ...     "timestamp": range(10),
    ... })
    >>> train, test = chronological_split(frame)
    >>> fit, validation = carve_validation(train, chronological_split)
    >>> fit["timestamp"].tolist(), validation["timestamp"].tolist(), test["timestamp"].tolist()
    ([0, 1, 2, 3, 4, 5, 6], [7], [8, 9])
    """
    fit, validation = split(train, *args, **kwargs)
    if len(validation) == 0:
        raise invalid(
            "validation",
            f"the validation part carved from {len(train)} training rows is empty; use a larger "
            "fraction, fewer minimum interactions, or (for time_split) an earlier cut",
        )
    return fit, validation
