"""The learned ranker inside a placement: LightGBM LambdaRank over each candidate's features.

The candidate table the ranker sees is built from the placement's merged candidates exactly as
training built it (:mod:`tastemaker.ranking.candidates`): per source the score and the 1-based
rank, ``k + 1`` where the source did not propose the item (``k`` the candidates per source the
ranker was trained with). Features come from the same :class:`CandidateFeatures` as in training,
as of the request time, over the dataset the serving models were trained on plus the user's
positive events received since (as the models fold them in), with the user's current segment.
Per-feature contributions (SHAP values) are folded back onto the sources they describe
(``score:ease`` and ``rank:ease`` → ``ease``), so explanations name sources as with the hybrids,
while ``features`` keeps every feature's value.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.config import FeedbackClass, FeedbackPolicy
from tastemaker.models.data import classify_events
from tastemaker.pipeline.models import LoadedModel, LoadedRanker
from tastemaker.pipeline.ranking import Ranker
from tastemaker.pipeline.state import Candidates, UserState
from tastemaker.ranking import CandidateFeatures
from tastemaker.ranking.candidates import rank_column, score_column
from tastemaker.ranking.examples import dataset_of
from tastemaker.ranking.features import SEGMENT
from tastemaker.storage import DataStore
from tastemaker.storage.types import to_micros

BIAS = "bias"

log = logging.getLogger(__name__)


class LearnedRanking(Ranker):
    """Scores candidates with a loaded :class:`~tastemaker.ranking.LearnedRanker`."""

    name = "learned"

    def __init__(
        self,
        loaded: LoadedRanker,
        features: CandidateFeatures,
        now: int,
        context: dict[str, Any] | None = None,
        since: int | None = None,
    ) -> None:
        self.loaded = loaded
        self.builder = features
        self.now = now
        self.since = since
        """When the features' dataset was taken (microseconds): the user's positive events
        received later count as their items too (``None``: only the dataset's)."""
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
            self.table(candidates, user),
            self.now,
            users=users,
            context=self.context,
            recent=self._recent(user),
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

    def _recent(self, user: UserState) -> dict[str, list[tuple[str, int]]] | None:
        """The user's positive events the features' dataset does not hold."""
        if self.since is None:
            return None
        since = self.since
        events = [
            (e.item_id, e.ts)
            for e in user.history
            if e.received_at > since and e.feedback is FeedbackClass.POSITIVE and e.weight > 0
        ]
        return {user.user_key: events} if events else None


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
    """The feature builder of each loaded ranker, over the store's events as training read
    them: a model artifact keeps no interaction rows, so a builder over a loaded model's
    dataset would count nothing (every history feature 0 or ``NaN``: train/serve skew).

    One builder per (ranker version, source model version): indexing the events takes a while
    (it reads every event, like training), so it is done when a ranker or its source model is
    swapped in, not per request. Events received after the read reach a request's features
    through :class:`LearnedRanking`'s ``since``.
    """

    def __init__(self, store: DataStore, feedback: FeedbackPolicy) -> None:
        self.store = store
        self.feedback = feedback
        self._builders: dict[tuple[str, int, str, int], tuple[CandidateFeatures, int]] = {}
        self._lock = threading.Lock()  # one build at a time
        self._building: set[tuple[str, int, str, int]] = set()

    def get(self, loaded: LoadedRanker, source: LoadedModel) -> tuple[CandidateFeatures, int]:
        """The builder for ``loaded`` (made now if it is not yet) and when its events were
        read (microseconds)."""
        key = (loaded.name, loaded.version, source.name, source.version)
        with self._lock:
            found = self._builders.get(key)
            if found is None:
                found = self._build(loaded)
                # Older versions of this ranker are dropped with their indexes.
                self._builders = {k: v for k, v in self._builders.items() if k[0] != key[0]}
                self._builders[key] = found
            return found

    def ready(
        self, loaded: LoadedRanker, source: LoadedModel
    ) -> tuple[CandidateFeatures, int] | None:
        """The builder if it is made, else ``None`` at once, having started making it in the
        background: a request never waits for the events to be read (it is answered by the
        weighted hybrid meanwhile)."""
        key = (loaded.name, loaded.version, source.name, source.version)
        found = self._builders.get(key)
        if found is None and key not in self._building:
            self._building.add(key)

            def build() -> None:
                try:
                    self.get(loaded, source)
                except Exception:
                    log.exception("indexing the features of ranker %s failed", loaded.name)
                finally:
                    self._building.discard(key)

            threading.Thread(target=build, name="ranker-features", daemon=True).start()
        return found

    def _build(self, loaded: LoadedRanker) -> tuple[CandidateFeatures, int]:
        started = time.perf_counter()
        read_at = to_micros(datetime.now(UTC))
        events = self.store.snapshot.events()
        data = dataset_of(classify_events(events, self.feedback), self.store.snapshot.items())
        builder = loaded.ranker.feature_builder(data)
        log.info(
            "ranker %s v%d: features indexed over %d events in %.2f s",
            loaded.name,
            loaded.version,
            len(events),
            time.perf_counter() - started,
        )
        return builder, read_at
