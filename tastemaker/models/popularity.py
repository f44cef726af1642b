"""Most popular and trending items: the non-personalized baseline and cold-start fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from tastemaker.catalog.columns import Columns
from tastemaker.errors import FieldProblem, InvalidInput
from tastemaker.models.base import ItemFilter, ModelConfig, Recommender, _top_k
from tastemaker.models.data import Dataset

_MICROS_PER_DAY = 86_400 * 1_000_000

SEGMENT = "segment"
"""Column of :meth:`Popularity.recommend_segments`: the segment a list is for."""


class PopularityConfig(ModelConfig):
    """``by`` counts distinct users, summed weights or raw interactions; with ``half_life_days``
    each interaction counts ``0.5 ** (age / half_life)`` at the data's newest time (trending).

    With ``by_segment`` and segment labels on the training data (:meth:`Dataset.with_segments`)
    popularity is also counted within each segment: a labelled user gets their segment's list,
    everyone else the overall one."""

    by: Literal["users", "weight", "interactions"] = "users"
    half_life_days: float | None = Field(default=None, gt=0)
    by_segment: bool = False


class Popularity(Recommender[PopularityConfig]):
    """Scores every item by its (optionally time-decayed) popularity; the same list for all.

    Restrict to a tag subtree with ``ItemFilter(include_tags=...)`` at recommend time. With
    ``by_segment`` it is a per-segment candidate source: :meth:`recommend_segments` gives the
    lists of segments by label (e.g. the segment the online profile assigned a new user).

    >>> from tastemaker.models.data import Dataset
    >>> ds = Dataset.from_interactions(pd.DataFrame(
    ...     {"user_id": ["u", "v", "v", "w"], "item_id": ["a", "a", "b", "c"]}))
    >>> Popularity().fit(ds).recommend(["new-user"], k=2)["item_id"].tolist()
    ['a', 'b']
    >>> by_segment = Popularity(by_segment=True).fit(ds.with_segments({"w": "s", "u": "t"}))
    >>> by_segment.recommend_segments(["s", "unknown"], k=1)[["segment", "item_id"]].values.tolist()
    [['s', 'c'], ['unknown', 'a']]
    """

    name = "popularity"
    Config = PopularityConfig
    folds_in = False
    personalized = False

    def _fit(self, data: Dataset) -> None:
        cfg = self.config
        inter = data.interactions
        items = inter[Columns.ITEM].to_numpy()
        if cfg.by == "users":
            weights = np.ones(len(inter), dtype=np.float64)
            # Each (user, item) pair counts once.
            pairs = inter[[Columns.USER, Columns.ITEM]].to_numpy()
            if len(pairs):
                first = np.unique(pairs, axis=0, return_index=True)[1]
                keep = np.zeros(len(inter), dtype=bool)
                keep[first] = True
                weights = weights * keep
        elif cfg.by == "weight":
            weights = inter[Columns.WEIGHT].to_numpy(dtype=np.float64)
        else:
            weights = np.ones(len(inter), dtype=np.float64)
        if cfg.half_life_days is not None and len(inter):
            ts = inter[Columns.TIMESTAMP].to_numpy(dtype=np.int64)
            age_days = (ts.max() - ts) / _MICROS_PER_DAY
            weights = weights * np.power(0.5, age_days / cfg.half_life_days)
        scores = np.bincount(items, weights=weights, minlength=data.n_items)
        self.scores_ = scores.astype(np.float32)
        # The fallback for cold users follows the same notion of popularity.
        self.popularity_ = self.scores_
        self.segments_ = np.array([], dtype=str)
        self.segment_scores_ = np.zeros((0, data.n_items), dtype=np.float32)
        self.user_segment_ = np.full(data.n_users, -1, dtype=np.int64)
        if cfg.by_segment and data.user_segments is not None:
            self._fit_segments(data, items, weights)

    def _fit_segments(self, data: Dataset, items: np.ndarray, weights: np.ndarray) -> None:
        assert data.user_segments is not None
        labelled = data.user_segments != ""
        names, codes = np.unique(data.user_segments[labelled], return_inverse=True)
        self.segments_ = names.astype(str)
        self.user_segment_[labelled] = codes
        seg = self.user_segment_[data.interactions[Columns.USER].to_numpy(dtype=np.int64)]
        keep = seg >= 0
        flat = np.bincount(
            seg[keep] * data.n_items + items[keep],
            weights=weights[keep],
            minlength=len(names) * data.n_items,
        )
        self.segment_scores_ = flat.reshape(len(names), data.n_items).astype(np.float32)

    def _score(
        self,
        users: np.ndarray,
        positives: sp.csr_matrix,
        negatives: sp.csr_matrix,
        folded: np.ndarray,
    ) -> np.ndarray:
        segment = np.full(len(users), -1, dtype=np.int64)
        known = users >= 0
        segment[known] = self.user_segment_[users[known]]
        if not (segment >= 0).any():
            return np.broadcast_to(self.scores_, (len(users), len(self.scores_)))
        scores = np.tile(self.scores_, (len(users), 1))
        labelled = segment >= 0
        scores[labelled] = self.segment_scores_[segment[labelled]]
        return scores

    def recommend_segments(
        self,
        segments: Sequence[str],
        k: int,
        *,
        items: Sequence[str] | None = None,
        filters: ItemFilter | None = None,
    ) -> pd.DataFrame:
        """The top-``k`` items of each segment: columns ``SEGMENT, ITEM, SCORE, RANK``.

        A label the training data did not have (or any label when the model was fitted without
        ``by_segment`` or without labels) gets the overall list. ``items`` and ``filters`` work
        as in :meth:`recommend`; nothing is excluded as seen.

        Raises
        ------
        tastemaker.errors.InvalidInput
            ``k`` is below 1.
        """
        if k < 1:
            raise InvalidInput("k must be at least 1", [FieldProblem(field="k", reason="≥ 1")])
        labels = [str(s) for s in segments]
        allowed = (
            self._allowed(items, filters) if items is not None else self._allowed_cached(filters)
        )
        index = {str(name): j for j, name in enumerate(self.segments_)}
        scores = np.tile(self.scores_, (len(labels), 1))
        for r, label in enumerate(labels):
            if label in index:
                scores[r] = self.segment_scores_[index[label]]
        scores[:, ~allowed] = -np.inf
        frame = _top_k(scores, labels, self.data.item_ids, k, self.popularity_)
        return frame.rename(columns={Columns.USER: SEGMENT})

    def _state(self) -> dict[str, np.ndarray]:
        return {
            "scores": self.scores_,
            "segments": self.segments_,
            "segment_scores": self.segment_scores_,
            "user_segment": self.user_segment_,
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.scores_ = arrays["scores"]
        # Versions saved before segments existed have none.
        n_items = len(self.scores_)
        self.segments_ = arrays.get("segments", np.array([], dtype=str))
        self.segment_scores_ = arrays.get(
            "segment_scores", np.zeros((0, n_items), dtype=np.float32)
        )
        self.user_segment_ = arrays.get(
            "user_segment", np.full(self.data.n_users, -1, dtype=np.int64)
        )
