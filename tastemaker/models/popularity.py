"""Most popular and trending items: the non-personalized baseline and cold-start fallback."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from tastemaker.catalog.columns import Columns
from tastemaker.models.base import ModelConfig, Recommender
from tastemaker.models.data import Dataset

_MICROS_PER_DAY = 86_400 * 1_000_000


class PopularityConfig(ModelConfig):
    """``by`` counts distinct users, summed weights or raw interactions; with ``half_life_days``
    each interaction counts ``0.5 ** (age / half_life)`` at the data's newest time (trending)."""

    by: Literal["users", "weight", "interactions"] = "users"
    half_life_days: float | None = Field(default=None, gt=0)


class Popularity(Recommender):
    """Scores every item by its (optionally time-decayed) popularity; the same list for all.

    Restrict to a tag subtree with ``ItemFilter(include_tags=...)`` at recommend time.

    >>> import pandas as pd
    >>> from tastemaker.models.data import Dataset
    >>> ds = Dataset.from_interactions(pd.DataFrame(
    ...     {"user_id": ["u", "v", "v", "w"], "item_id": ["a", "a", "b", "c"]}))
    >>> Popularity().fit(ds).recommend(["new-user"], k=2)["item_id"].tolist()
    ['a', 'b']
    """

    name = "popularity"
    Config = PopularityConfig
    folds_in = False
    personalized = False

    def _fit(self, data: Dataset) -> None:
        cfg = self.config
        assert isinstance(cfg, PopularityConfig)
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

    def _score(
        self,
        users: np.ndarray,
        positives: sp.csr_matrix,
        negatives: sp.csr_matrix,
        folded: np.ndarray,
    ) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(users), len(self.scores_)))

    def _state(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.scores_ = arrays["scores"]
