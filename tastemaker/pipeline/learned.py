"""The learned ranker inside a placement: LightGBM LambdaRank over each candidate's features.

The candidate table the ranker sees is built from the placement's merged candidates exactly as
training built it (:mod:`tastemaker.ranking.candidates`): per source the score and the 1-based
rank, ``k + 1`` where the source did not propose the item (``k`` the candidates per source the
ranker was trained with). Features come from the same :class:`CandidateFeatures` as in training,
as of the request time, over the dataset the serving models were trained on, with the user's
current segment. Per-feature contributions (SHAP values) are folded back onto the sources they
describe (``score:ease`` and ``rank:ease`` → ``ease``), so explanations name sources as with the
hybrids, while ``features`` keeps every feature's value.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.models.data import Dataset
from tastemaker.pipeline.models import LoadedRanker
from tastemaker.pipeline.ranking import Ranker
from tastemaker.pipeline.state import Candidates, UserState
from tastemaker.ranking import CandidateFeatures
from tastemaker.ranking.candidates import rank_column, score_column
from tastemaker.ranking.features import SEGMENT

BIAS = "bias"


class LearnedRanking(Ranker):
    """Scores candidates with a loaded :class:`~tastemaker.ranking.LearnedRanker`."""

    name = "learned"

    def __init__(
        self,
        loaded: LoadedRanker,
        features: CandidateFeatures,
        now: int,
        context: dict[str, Any] | None = None,
    ) -> None:
        self.loaded = loaded
        self.builder = features
        self.now = now
        self.context = {
            k: v for k, v in (context or {}).items() if isinstance(v, str | int | float | bool)
        }

    def table(self, candidates: Candidates, user: UserState) -> pd.DataFrame:
        """The candidate table in the ranker's training layout."""
        ranker = self.loaded.ranker
        k = ranker.config.candidates
        n = len(candidates)
        cols: dict[str, Any] = {
            Columns.USER: np.full(n, user.user_key, dtype=object),
            Columns.ITEM: np.asarray(candidates.item_ids, dtype=object),
        }
        where = {s: j for j, s in enumerate(candidates.sources)}
        for source in ranker.sources_:
            j = where.get(source)
            if j is None:
                cols[score_column(source)] = np.full(n, np.nan)
                cols[rank_column(source)] = np.full(n, k + 1, dtype=np.int64)
                continue
            raw = candidates.raw[:, j]
            rank = candidates.rank[:, j].astype(np.int64)
            # Beyond the training k a source's proposals look like "not proposed", as in training.
            absent = (rank == 0) | (rank > k)
            cols[score_column(source)] = np.where(absent, np.nan, raw)
            cols[rank_column(source)] = np.where(absent, k + 1, rank)
        return pd.DataFrame(cols)

    def rank(self, candidates: Candidates, user: UserState) -> None:
        if not len(candidates):
            candidates.score = np.zeros(0)
            return
        ranker = self.loaded.ranker
        users = None
        if user.segment is not None:
            users = pd.DataFrame({SEGMENT: [user.segment]}, index=[user.user_key])
        features = self.builder.build(
            self.table(candidates, user), self.now, users=users, context=self.context
        )
        candidates.score = ranker.score(features)
        contributions = ranker.contributions(features)
        by_source: dict[str, np.ndarray] = {}
        for column in contributions.columns:
            if column == BIAS:
                continue
            owner = _owner(column)
            values = contributions[column].to_numpy()
            by_source[owner] = by_source.get(owner, 0.0) + values
        candidates.contributions = by_source
        candidates.features = features.to_numpy(dtype=np.float64, na_value=np.nan)
        candidates.feature_names = [str(c) for c in features.columns]


def _owner(feature: str) -> str:
    """What a feature's contribution is credited to: its source, ``context``, ``user``, or the
    feature itself (item popularity, age, affinities …)."""
    prefix, _, rest = feature.partition(":")
    if not rest:
        return feature
    if prefix in ("score", "rank", "nscore"):
        return rest
    return "context" if prefix == "ctx" else prefix


class FeatureBuilders:
    """One feature builder per (ranker version, dataset): indexing a dataset takes a while, so
    it is done once per model swap, not per request."""

    def __init__(self) -> None:
        self._builders: dict[tuple[str, int, int], CandidateFeatures] = {}
        self._lock = threading.Lock()

    def get(self, loaded: LoadedRanker, data: Dataset) -> CandidateFeatures:
        key = (loaded.name, loaded.version, id(data))
        with self._lock:
            builder = self._builders.get(key)
            if builder is None:
                self._builders = {
                    k: v for k, v in self._builders.items() if k[:2] != key[:2] and k[0] != key[0]
                }
                builder = self._builders[key] = loaded.ranker.feature_builder(data)
            return builder
