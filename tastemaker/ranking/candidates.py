"""Candidates from several recommenders at once, merged into one table per (user, item).

A learned ranker or a hybrid does not score the whole catalog: each *source* (a fitted
:class:`~tastemaker.models.base.Recommender`) proposes its top ``k`` items per user and the
proposals are outer-merged, so every row is one candidate with every source's score and rank.
A source that did not propose an item leaves its score ``NaN`` and its rank ``k + 1`` (one past
its list): "not in my top k" is information, not a missing value.

>>> import pandas as pd
>>> from tastemaker.models.data import Dataset
>>> from tastemaker.models.popularity import Popularity
>>> from tastemaker.models.item_knn import ItemKNN
>>> ds = Dataset.from_interactions(pd.DataFrame({
...     "user_id": ["u", "u", "v", "v", "w"], "item_id": ["a", "b", "a", "c", "d"]}))
>>> sources = CandidateSources({"pop": Popularity(), "knn": ItemKNN()}, k={"pop": 2, "knn": 1})
>>> table = sources.fit(ds).candidates(["u"])
>>> table.columns.tolist()
['user_id', 'item_id', 'score:pop', 'rank:pop', 'score:knn', 'rank:knn']
>>> table[["item_id", "rank:pop", "rank:knn"]].values.tolist()   # knn did not propose d
[['c', 1, 1], ['d', 2, 2]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Self

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError, NotFittedError
from tastemaker.models.base import ItemFilter, Recommender
from tastemaker.models.data import Dataset

SCORE_PREFIX: Final = "score:"
"""Column of a source's score in a candidate table: ``score:<source>``."""
RANK_PREFIX: Final = "rank:"
"""Column of a source's 1-based rank in a candidate table: ``rank:<source>``."""


def score_column(source: str) -> str:
    """The candidate-table column of ``source``'s score.

    >>> score_column("ease")
    'score:ease'
    """
    return f"{SCORE_PREFIX}{source}"


def rank_column(source: str) -> str:
    """The candidate-table column of ``source``'s rank.

    >>> rank_column("ease")
    'rank:ease'
    """
    return f"{RANK_PREFIX}{source}"


def source_names(table: pd.DataFrame) -> list[str]:
    """The sources of a candidate table, in column order.

    >>> source_names(pd.DataFrame(columns=["user_id", "item_id", "score:a", "rank:a"]))
    ['a']
    """
    return [str(c)[len(SCORE_PREFIX) :] for c in table.columns if str(c).startswith(SCORE_PREFIX)]


def merge_candidates(lists: Mapping[str, pd.DataFrame], k: int | Mapping[str, int]) -> pd.DataFrame:
    """Outer-merge recommendation frames (``USER, ITEM, SCORE, RANK``) by (user, item).

    Parameters
    ----------
    lists
        Source name → its recommendations.
    k
        The list length each source was asked for (one for all, or per source): a candidate a
        source did not propose gets rank ``k + 1`` and score ``NaN`` for it.

    Returns
    -------
    pandas.DataFrame
        ``USER, ITEM`` then ``score:<s>`` (float32) and ``rank:<s>`` (int32) per source in the
        order given. Rows are grouped by user in order of first appearance in ``lists`` (taken
        in order), and within a user ordered by the best rank any source gave (ties: the earlier
        source, then the item id), so the table does not depend on how the merge orders rows.
    """
    if not lists:
        raise ConfigurationError("a candidate table needs at least one source")
    keys = [Columns.USER, Columns.ITEM]
    merged: pd.DataFrame | None = None
    for name, frame in lists.items():
        part = frame[[*keys, Columns.SCORE, Columns.RANK]].rename(
            columns={Columns.SCORE: score_column(name), Columns.RANK: rank_column(name)}
        )
        merged = part if merged is None else merged.merge(part, on=keys, how="outer", sort=False)
    assert merged is not None
    for name in lists:
        limit = k[name] if isinstance(k, Mapping) else k
        merged[score_column(name)] = merged[score_column(name)].astype(np.float32)
        merged[rank_column(name)] = merged[rank_column(name)].fillna(limit + 1).astype(np.int32)
    users = pd.unique(pd.concat([frame[Columns.USER] for frame in lists.values()]))
    return _ordered(merged, list(lists), pd.Index(users))


def rank_by(candidates: pd.DataFrame, scores: np.ndarray, k: int | None = None) -> pd.DataFrame:
    """Each user's candidates ordered by ``scores``: ``USER, ITEM, SCORE, RANK``.

    Users keep their order of first appearance; ties keep the table's order; ``k`` keeps each
    user's top ``k``.

    >>> table = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["a", "b", "a"]})
    >>> rank_by(table, np.array([0.1, 0.9, 0.5]))[["item_id", "rank"]].values.tolist()
    [['b', 1], ['a', 2], ['a', 1]]
    """
    users = candidates[Columns.USER].to_numpy()
    first = pd.Index(pd.unique(users)).get_indexer(pd.Index(users))
    order = np.lexsort((np.arange(len(users)), -np.asarray(scores), first))
    sorted_first = first[order]
    starts = np.flatnonzero(np.r_[True, sorted_first[1:] != sorted_first[:-1]])
    ranks = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)])) + 1
    out = pd.DataFrame(
        {
            Columns.USER: users[order],
            Columns.ITEM: candidates[Columns.ITEM].to_numpy()[order],
            Columns.SCORE: np.asarray(scores, dtype=np.float32)[order],
            Columns.RANK: ranks.astype(np.int32),
        }
    )
    if k is not None:
        out = out[out[Columns.RANK] <= k].reset_index(drop=True)
    return out


def _ordered(table: pd.DataFrame, names: list[str], users: pd.Index) -> pd.DataFrame:
    first = users.get_indexer(pd.Index(table[Columns.USER]))
    ranks = table[[rank_column(n) for n in names]].to_numpy()
    best = ranks.min(axis=1)
    best_source = ranks.argmin(axis=1)
    items = table[Columns.ITEM].to_numpy(dtype=str)
    order = np.lexsort((items, best_source, best, first))
    return table.iloc[order].reset_index(drop=True)


class CandidateSources:
    """Named recommenders that together propose the candidates of a placement.

    Parameters
    ----------
    sources
        Source name → recommender (fitted, or fitted here by :meth:`fit`).
    k
        Candidates each source proposes per user (one number for all, or per source name).

    Examples
    --------
    See the module docstring.
    """

    def __init__(self, sources: Mapping[str, Recommender[Any]], k: int | Mapping[str, int]) -> None:
        if not sources:
            raise ConfigurationError("give at least one candidate source")
        limits = {n: k[n] if isinstance(k, Mapping) else k for n in sources}
        low = [n for n, v in limits.items() if v < 1]
        if low:
            raise ConfigurationError(f"candidates per source must be ≥ 1 (sources {low})")
        self.sources = dict(sources)
        self.k = limits
        self.data_: Dataset | None = None

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    @property
    def data(self) -> Dataset:
        """The dataset the sources were last fitted on here (for the feature builder)."""
        if self.data_ is None:
            raise NotFittedError("the candidate sources were not fitted here: call fit() first")
        return self.data_

    def fit(self, data: Dataset) -> Self:
        """Fit every source on ``data`` from scratch; returns ``self``."""
        for model in self.sources.values():
            model.fit(data)
        self.data_ = data
        return self

    def candidates(
        self,
        user_ids: Sequence[str],
        *,
        exclude_seen: bool = True,
        filters: ItemFilter | None = None,
        items: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The merged candidate table of ``user_ids`` (see :func:`merge_candidates`).

        Batch-first: one call per source for the whole batch. A single user is a batch of one
        and gets the same rows as in any batch. ``exclude_seen``, ``filters`` and ``items`` are
        passed to every source's :meth:`~tastemaker.models.base.Recommender.recommend`.
        """
        lists = {
            name: model.recommend(
                list(user_ids),
                self.k[name],
                exclude_seen=exclude_seen,
                items=items,
                filters=filters,
            )
            for name, model in self.sources.items()
        }
        return merge_candidates(lists, self.k)
