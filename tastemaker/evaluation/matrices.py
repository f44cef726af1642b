"""From interaction frames to the integer arrays the metrics take.

Splits work on frames with external ids; metrics work on integer indices. These helpers map one
to the other through an explicit id order (``users`` and ``items``: position = index), usually
the id maps of the model being evaluated, so rows and columns line up with its output.

>>> import pandas as pd
>>> test = pd.DataFrame({"user_id": ["b", "a"], "item_id": ["y", "x"]})
>>> relevance_matrix(test, users=["a", "b"], items=["x", "y", "z"]).toarray().tolist()
[[1, 0, 0], [0, 1, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from tastemaker.catalog.columns import Columns
from tastemaker.evaluation._checks import IntArray, invalid, require_columns

__all__ = ["item_popularity", "recommendation_array", "relevance_matrix", "user_activity"]

Ids = Sequence[Any] | npt.NDArray[Any] | pd.Index


def relevance_matrix(interactions: pd.DataFrame, users: Ids, items: Ids) -> sp.csr_matrix[np.int8]:
    """Binary user x item matrix of the (held-out) interactions, for the accuracy metrics.

    Rows whose user is not in ``users`` or whose item is not in ``items`` are left out: to
    count held-out cold items as misses rather than ignore them, pass an ``items`` that
    includes them (for example the whole catalog).

    Parameters
    ----------
    interactions : pandas.DataFrame
        Columns ``user_id`` and ``item_id``; repeated pairs count once.
    users, items : sequence or pandas.Index
        Distinct ids; position ``i`` is row (column) ``i`` of the result.

    Returns
    -------
    scipy.sparse.csr_matrix of int8, shape (len(users), len(items))

    Examples
    --------
    >>> import pandas as pd
    >>> test = pd.DataFrame({"user_id": [1, 1, 1, 3], "item_id": [7, 7, 8, 9]})
    >>> relevance_matrix(test, users=[1, 2], items=[7, 8]).toarray().tolist()
    [[1, 1], [0, 0]]
    """
    require_columns(interactions, (Columns.USER, Columns.ITEM))
    user_index, item_index = _index(users, "users"), _index(items, "items")
    rows = user_index.get_indexer(pd.Index(interactions[Columns.USER]))
    cols = item_index.get_indexer(pd.Index(interactions[Columns.ITEM]))
    known = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.int8), (rows[known], cols[known])),
        shape=(len(user_index), len(item_index)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def item_popularity(interactions: pd.DataFrame, items: Ids) -> IntArray:
    """Interactions per item (in ``items`` order), for novelty; unknown items are ignored.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 2, 2], "item_id": ["x", "x", "y"]})
    >>> item_popularity(train, items=["x", "y", "z"]).tolist()
    [2, 1, 0]
    """
    require_columns(interactions, (Columns.ITEM,))
    return _count(interactions[Columns.ITEM], _index(items, "items"))


def user_activity(interactions: pd.DataFrame, users: Ids) -> IntArray:
    """Interactions per user (in ``users`` order), e.g. for :func:`activity_buckets`.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 2, 2], "item_id": ["x", "x", "y"]})
    >>> user_activity(train, users=[2, 1, 3]).tolist()
    [2, 1, 0]
    """
    require_columns(interactions, (Columns.USER,))
    return _count(interactions[Columns.USER], _index(users, "users"))


def recommendation_array(recommendations: pd.DataFrame, users: Ids, items: Ids, k: int) -> IntArray:
    """Turn a recommendation frame into the ``(n_users, k)`` array the metrics take.

    Slot ``rank - 1`` of a user's row holds the item of that ``rank`` (1-based); without a
    ``rank`` column the frame's row order within each user is the ranking. Slots nobody fills
    stay ``-1``, ranks beyond ``k`` are cut, and users not in ``users`` are ignored.

    Parameters
    ----------
    recommendations : pandas.DataFrame
        Columns ``user_id``, ``item_id`` and optionally ``rank``.
    users, items : sequence or pandas.Index
        Distinct ids; position ``i`` is row (item index) ``i``.
    k : int
        Number of columns.

    Returns
    -------
    numpy.ndarray of int64, shape (len(users), k)

    Raises
    ------
    tastemaker.errors.InvalidInput
        An item is not in ``items``, a rank is below 1, or a user has two items at one rank.

    Examples
    --------
    >>> import pandas as pd
    >>> reco = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["y", "x", "x"],
    ...                      "rank": [2, 1, 1]})
    >>> recommendation_array(reco, users=["a", "b", "c"], items=["x", "y"], k=2).tolist()
    [[0, 1], [0, -1], [-1, -1]]
    """
    if k < 1:
        raise invalid("k", f"must be a positive integer, got {k}")
    require_columns(recommendations, (Columns.USER, Columns.ITEM))
    user_index, item_index = _index(users, "users"), _index(items, "items")
    rows = user_index.get_indexer(pd.Index(recommendations[Columns.USER]))
    cols = item_index.get_indexer(pd.Index(recommendations[Columns.ITEM]))
    if Columns.RANK in recommendations.columns:
        rank = recommendations[Columns.RANK].to_numpy()
        if not np.issubdtype(rank.dtype, np.integer) or (rank.size and rank.min() < 1):
            raise invalid(Columns.RANK, "must hold integer ranks starting at 1")
        slot: IntArray = rank.astype(np.int64) - 1
    else:
        slot = np.asarray(recommendations.groupby(rows, sort=False).cumcount(), dtype=np.int64)
    chosen = (rows >= 0) & (slot < k)
    if (cols[chosen] < 0).any():
        unknown = recommendations[Columns.ITEM].to_numpy()[chosen & (cols < 0)][:5].tolist()
        raise invalid(Columns.ITEM, f"recommended items not in `items`: {unknown}")
    out = np.full((len(user_index), k), -1, dtype=np.int64)
    flat = rows[chosen].astype(np.int64) * k + slot[chosen]
    if len(np.unique(flat)) != len(flat):
        raise invalid(Columns.RANK, "a user has two recommendations at the same rank")
    out[rows[chosen], slot[chosen]] = cols[chosen]
    return out


def _index(ids: Ids, name: str) -> pd.Index:
    index = pd.Index(ids)
    if not index.is_unique:
        raise invalid(name, "ids must be distinct (position i is index i)")
    return index


def _count(values: pd.Series, index: pd.Index) -> IntArray:
    codes = index.get_indexer(pd.Index(values))
    return np.bincount(codes[codes >= 0], minlength=len(index)).astype(np.int64)
