"""Score a model on a held-out split: the measurement behind `evaluate`, tuning and the gate.

The protocol is the one the benchmarks quote: per user, the last (``chronological``) or a random
``test_fraction`` of the interactions of every user with at least ``min_interactions`` of them is
held out; every item of the training data is a candidate and each user's training items are
excluded (full ranking). Held-out rows whose (user, item) pair already occurs in training are
dropped by default, because a recommender that excludes seen items can never hit them.

With segment labels (user → segment, e.g. from the active segmentation) the training data carries
them (:meth:`Dataset.with_segments`, for per-segment models) and every score is repeated per
segment of the test users.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.config import FeedbackClass, ModelSpec
from tastemaker.evaluation.matrices import recommendation_array, relevance_matrix
from tastemaker.evaluation.report import (
    MetricReport,
    activity_buckets,
    evaluate,
    evaluate_groups,
)
from tastemaker.evaluation.splits import carve_validation, chronological_split, random_split
from tastemaker.models.catalog import model_class
from tastemaker.models.data import FEEDBACK, Dataset

Protocol = Literal["chronological", "random"]
PROTOCOLS: tuple[Protocol, ...] = ("chronological", "random")

UNSEGMENTED = "unsegmented"
"""The group of test users without a segment label in the per-segment breakdown."""


@dataclass(frozen=True)
class Holdout:
    """A train/test split of classified events (see ``classify_events``) plus item metadata.

    ``test`` holds only positive feedback: what the user went on to like is what counts as
    relevant; negative and other feedback in the test period stays unseen by the model. Both
    parts keep the input frame's index, so every row can be traced back to its event.
    ``segments`` maps users to segment labels when a segmentation is known (``None``: none).

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "user_id": ["u"] * 5 + ["v"] * 5,
    ...     "item_id": ["a", "b", "c", "d", "a", "b", "c", "d", "e", "a"],
    ...     "weight": 1.0, "feedback": "positive", "timestamp": list(range(10)),
    ... })
    >>> holdout = Holdout.split(frame)
    >>> holdout.test.index.tolist()
    [9]
    """

    train: pd.DataFrame
    test: pd.DataFrame
    items: pd.DataFrame | None
    protocol: Protocol
    test_fraction: float = 0.2
    min_interactions: int = 5
    seed: int = 0
    drop_seen: bool = True
    segments: Mapping[str, str] | None = None

    @classmethod
    def split(
        cls,
        feedback: pd.DataFrame,
        items: pd.DataFrame | None = None,
        *,
        protocol: Protocol = "chronological",
        test_fraction: float = 0.2,
        min_interactions: int = 5,
        seed: int = 0,
        drop_seen: bool = True,
        segments: Mapping[str, str] | None = None,
    ) -> Holdout:
        """Split classified events per user.

        Parameters
        ----------
        feedback
            Classified events (``USER, ITEM, WEIGHT, FEEDBACK, TIMESTAMP``).
        items
            The item frame (indexed by item id) the models see, or ``None``.
        protocol
            ``"chronological"``: each user's latest rows are held out; ``"random"``: a random
            share of each user's rows, drawn with ``seed``.
        test_fraction, min_interactions
            Share of each user's rows held out, and the fewest rows a user needs to be tested.
        seed
            Seed of the random protocol (unused by the chronological one).
        drop_seen
            Drop held-out rows whose (user, item) pair occurs in the training part.
        segments
            User id (as in ``feedback``) → segment label, or ``None``. Users missing from it
            have no segment.
        """
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
        train, test = _split(
            feedback,
            test_fraction,
            protocol=protocol,
            min_interactions=min_interactions,
            seed=seed,
            drop_seen=drop_seen,
        )
        return cls(
            train=train,
            test=_positive(test),
            items=items,
            protocol=protocol,
            test_fraction=test_fraction,
            min_interactions=min_interactions,
            seed=seed,
            drop_seen=drop_seen,
            segments=segments,
        )

    def validation(
        self,
        test_fraction: float | None = None,
        min_interactions: int | None = None,
        seed: int | None = None,
    ) -> Holdout:
        """A split of the training part alone, with the same protocol (for tuning).

        Options default to the ones this holdout was made with. The test part is never read.

        Raises
        ------
        tastemaker.errors.InvalidInput
            The validation part came out empty.
        """
        fraction = self.test_fraction if test_fraction is None else test_fraction
        minimum = self.min_interactions if min_interactions is None else min_interactions
        chosen_seed = self.seed if seed is None else seed
        fit, valid = carve_validation(
            self.train,
            _split,
            fraction,
            protocol=self.protocol,
            min_interactions=minimum,
            seed=chosen_seed,
            drop_seen=self.drop_seen,
        )
        return Holdout(
            train=fit,
            test=_positive(valid),
            items=self.items,
            protocol=self.protocol,
            test_fraction=fraction,
            min_interactions=minimum,
            seed=chosen_seed,
            drop_seen=self.drop_seen,
            segments=self.segments,
        )

    def dataset(self) -> Dataset:
        """The training part as a :class:`Dataset` (the whole item frame is its catalog), with
        the segment labels when there are any."""
        data = Dataset.from_feedback(self.train, self.items)
        return data if self.segments is None else data.with_segments(self.segments)

    def segment_of(self, users: Sequence[str]) -> pd.Categorical[str] | None:
        """Each user's segment label (:data:`UNSEGMENTED` without one), or ``None`` without a
        segmentation. Categories: the labels sorted, then ``UNSEGMENTED`` when it occurs.

        >>> frame = pd.DataFrame({"user_id": ["u"], "item_id": ["a"], "weight": 1.0,
        ...                       "feedback": "positive", "timestamp": [0]})
        >>> holdout = Holdout.split(frame, segments={"v": "Sports Fans"})
        >>> holdout.segment_of(["v", "u"]).tolist()
        ['Sports Fans', 'unsegmented']
        """
        if self.segments is None:
            return None
        get = self.segments.get
        labels = [str(get(u) or "") or UNSEGMENTED for u in users]
        named = sorted({label for label in labels if label != UNSEGMENTED})
        order = [*named, UNSEGMENTED] if UNSEGMENTED in labels else named
        return pd.Categorical(labels, categories=order)


def _positive(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame[FEEDBACK] == FeedbackClass.POSITIVE.value]


def _split(
    frame: pd.DataFrame,
    fraction: float,
    *,
    protocol: Protocol,
    min_interactions: int,
    seed: int,
    drop_seen: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two-way split by ``protocol``; both parts are row subsets of ``frame`` (index kept)."""
    if protocol == "chronological":
        return chronological_split(
            frame, fraction, min_interactions=min_interactions, drop_seen=drop_seen
        )
    train, _, test = random_split(
        frame,
        (1.0 - fraction, 0.0, fraction),
        seed=seed,
        min_interactions=min_interactions,
        drop_seen=drop_seen,
    )
    return train, test


@dataclass
class ModelScore:
    """What one model achieved on one holdout."""

    name: str
    model: str
    params: dict[str, Any]
    report: MetricReport
    by_activity: dict[str, dict[str, float]]
    fit_seconds: float
    ms_per_1000_users: float
    extra: dict[str, Any] = field(default_factory=dict)
    by_segment: dict[str, dict[str, float]] = field(default_factory=dict)
    """Every metric per segment of the test users (with ``"users"``), when segments are known."""

    def metric(self, key: str) -> float:
        """The mean of ``"metric@k"`` over the test users, e.g. ``score.metric("ndcg@10")``."""
        return float(self.report[key])

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON and the model registry."""
        return {
            "name": self.name,
            "model": self.model,
            "params": self.params,
            "metrics": self.report.as_dict(),
            "users": self.report.n_users,
            "users_evaluated": self.report.n_evaluated,
            "by_activity": self.by_activity,
            "fit_seconds": self.fit_seconds,
            "ms_per_1000_users": self.ms_per_1000_users,
            **({"by_segment": self.by_segment} if self.by_segment else {}),
            **self.extra,
        }


def score_model(
    name: str,
    spec: ModelSpec,
    holdout: Holdout,
    ks: Sequence[int] = (5, 10, 20),
    data: Dataset | None = None,
) -> ModelScore:
    """Fit ``spec`` on the holdout's training part and measure it on its test part.

    Full ranking: every recommendable item of the training data is a candidate, each user's
    training items excluded. Coverage is the share of those candidates that appear in any list;
    novelty is the mean ``-log2`` of the share of training users who interacted with a
    recommended item. ``by_activity`` repeats every metric for the users with few (``cold``),
    some (``warm``) and many (``heavy``) training items; ``by_segment`` per segment of the test
    users when ``holdout.segments`` is set (users without a label form ``"unsegmented"``).

    Parameters
    ----------
    name
        The configured name (e.g. ``"item_knn"``).
    spec
        Which model and with which parameters.
    holdout
        Where to fit (``train``) and what to measure against (``test``).
    ks
        Cut-offs of every metric.
    data
        ``holdout.dataset()`` if already built (it is shared between models).
    """
    data = data if data is not None else holdout.dataset()
    model = model_class(spec.model)(**spec.params)
    start = time.perf_counter()
    model.fit(data)
    fit_seconds = time.perf_counter() - start
    test = holdout.test[
        holdout.test[Columns.USER].isin(data.user_ids)
        & holdout.test[Columns.ITEM].isin(data.item_ids)
    ]
    users = np.asarray(pd.unique(test[Columns.USER]), dtype=str)
    k_max = max(ks)
    if len(users):
        # Steady-state speed: one-off set-up on the first call (caches) is not per request.
        model.recommend(list(users[:1]), k=k_max)
    start = time.perf_counter()
    recs = model.recommend(list(users), k=k_max)
    rec_seconds = time.perf_counter() - start
    rec_array = recommendation_array(recs, users, data.item_ids, k_max)
    relevant = relevance_matrix(test, users, data.item_ids)
    options: dict[str, Any] = {
        # Distinct users per item over the number of users: novelty in bits of "how few users
        # know this item".
        "item_popularity": np.asarray(data.positives.getnnz(axis=0), dtype=np.float64),
        "popularity_total": float(max(data.n_users, 1)),
        "item_tags": _tags(data),
        "catalog_size": _candidates(data),
    }
    report = evaluate(rec_array, relevant, ks, **options)
    counts = np.asarray(data.positives.getnnz(axis=1))[data.user_index(list(users))]
    by_group = evaluate_groups(rec_array, relevant, activity_buckets(counts), ks, **options)
    by_activity = {str(g): r.as_dict() | {"users": r.n_evaluated} for g, r in by_group.items()}
    by_segment: dict[str, dict[str, float]] = {}
    segments = holdout.segment_of(list(users))
    if segments is not None and len(users):
        by_seg = evaluate_groups(rec_array, relevant, segments, ks, **options)
        by_segment = {str(g): r.as_dict() | {"users": r.n_evaluated} for g, r in by_seg.items()}
    return ModelScore(
        name=name,
        model=spec.model,
        params=dict(spec.params),
        report=report,
        by_activity=by_activity,
        fit_seconds=fit_seconds,
        ms_per_1000_users=1000.0 * rec_seconds * 1000.0 / max(len(users), 1),
        by_segment=by_segment,
    )


def _tags(data: Dataset) -> Any:
    """The item × tag matrix for diversity, or ``None`` when the items carry no tags."""
    if data.items is None or data.items.tags.nnz == 0:
        return None
    return data.items.tags


def _candidates(data: Dataset) -> int:
    """How many items a list may hold: the recommendable items the model knows."""
    if data.items is None:
        return max(data.n_items, 1)
    return max(int(data.items.recommendable.sum()), 1)
