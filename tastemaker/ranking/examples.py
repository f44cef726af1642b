"""Training examples of a learned ranker: from history (a time split) or from logged exposures.

A ranker learns from *queries*: one user's candidates at one moment, each with its features and
a graded label. Two sources of queries:

* **history** (:func:`history_examples`): the interactions are cut in time; the candidate sources
  are fitted on the part before the cut, propose candidates for every user with positive
  interactions after it, and those later interactions are the labels. Features are taken as of
  each user's cut, exactly as a request at that moment would see them.
* **exposures** (:func:`exposure_examples`): what was really shown (one row per shown item, with
  the features logged at serving time) and what the user then did with it. No features are
  recomputed, so nothing can differ between what was served and what is learned from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.config import FeedbackClass, FeedbackPolicy
from tastemaker.errors import FieldProblem, InvalidInput
from tastemaker.evaluation.splits import chronological_split, time_split
from tastemaker.models.data import FEEDBACK, Dataset, classify_frame
from tastemaker.ranking.candidates import CandidateSources
from tastemaker.ranking.features import CandidateFeatures, FeatureConfig

Split = Literal["per_user", "global"]


@dataclass(frozen=True)
class Examples:
    """Queries for a ranker: features, graded labels and query sizes, rows grouped by query.

    Attributes
    ----------
    features
        One ``float32`` row per candidate.
    labels
        Integer grade per row (0: nothing happened).
    groups
        Rows per query, in row order (they sum to ``len(features)``).
    keys
        ``USER, ITEM`` of every row (and the query id for exposures), for inspection.
    position
        0-based position each row was shown at (exposures), or ``None``.
    segments
        The segment vocabulary the ``segment`` feature was coded with.
    """

    features: pd.DataFrame
    labels: np.ndarray
    groups: np.ndarray
    keys: pd.DataFrame
    position: np.ndarray | None = None
    segments: list[str] = field(default_factory=list)

    @property
    def queries(self) -> int:
        return len(self.groups)


def grades(weights: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """Graded relevance of summed positive weights: 1 plus the thresholds reached (0 for none).

    >>> grades(np.array([0.0, 1.0, 3.0, 10.0]), (3.0, 10.0)).tolist()
    [0, 1, 2, 3]
    """
    w = np.asarray(weights, dtype=np.float64)
    out = (w > 0).astype(np.int32)
    for t in thresholds:
        out += (w >= t).astype(np.int32)
    return out


def history_examples(
    feedback: pd.DataFrame,
    sources: CandidateSources,
    items: pd.DataFrame | None = None,
    *,
    fraction: float = 0.2,
    split: Split = "per_user",
    min_interactions: int = 5,
    thresholds: tuple[float, ...] = (),
    features: FeatureConfig | None = None,
    segments: Mapping[str, str] | None = None,
    max_users: int | None = None,
    seed: int = 0,
) -> Examples:
    """Queries from a time split of ``feedback`` (the sources are left fitted on the early part).

    Parameters
    ----------
    feedback
        Classified events (``USER, ITEM, WEIGHT, FEEDBACK, TIMESTAMP``) or weighted positives
        (no ``FEEDBACK`` column).
    sources
        The candidate sources; they are refitted here on the part before the cut.
    items
        The item frame (indexed by item id), or ``None``.
    fraction, split, min_interactions
        ``"per_user"``: each user with at least ``min_interactions`` rows gives the latest
        ``fraction`` of them to the labels (the chronological protocol, each user cut at their own
        time); ``"global"``: one cut for everybody, the latest ``fraction`` of all rows.
    thresholds
        Weight thresholds of the grades (:func:`grades`).
    features
        Feature options (the ranker's).
    segments
        User id → segment label, attached to the early dataset.
    max_users
        Keep at most this many queries (drawn with ``seed``), to bound training time.

    Returns
    -------
    Examples
        Only queries with at least one positive candidate: a query without one carries no
        ranking signal.
    """
    if split == "per_user":
        early, later = chronological_split(
            feedback, fraction, min_interactions=min_interactions, drop_seen=True
        )
    else:
        early, later = time_split(feedback, quantile=1.0 - fraction, drop_seen=True)
    if FEEDBACK in later.columns:
        later = later[later[FEEDBACK] == FeedbackClass.POSITIVE.value]
    data = dataset_of(early, items)
    if segments:
        data = data.with_segments(segments)
    users = np.asarray(pd.unique(later[Columns.USER].astype(str)), dtype=str)
    users = users[data.user_index(users.tolist()) >= 0]
    if max_users is not None and len(users) > max_users:
        rng = np.random.default_rng(seed)
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    if len(users) == 0:
        raise InvalidInput(
            "no user has interactions on both sides of the time split",
            [FieldProblem(field="feedback", reason="add events or lower min_interactions")],
        )
    sources.fit(data)
    table = sources.candidates(users.tolist())
    if split == "per_user":
        last = (
            early.assign(**{Columns.USER: early[Columns.USER].astype(str)})
            .groupby(Columns.USER)[Columns.TIMESTAMP]
            .max()
        )
        now: pd.Series | int = (last.reindex(pd.Index(users)) + 1).astype(np.int64)
    else:
        now = int(later[Columns.TIMESTAMP].min())
    builder = CandidateFeatures(data, features)
    feats = builder.build(table, now)
    labels = _labels(table, later, thresholds)
    return _keep_queries_with_positives(
        Examples(
            features=feats,
            labels=labels,
            groups=_run_lengths(table[Columns.USER].to_numpy()),
            keys=table[[Columns.USER, Columns.ITEM]],
            segments=builder.segments,
        )
    )


def exposure_examples(exposures: pd.DataFrame, feature_names: list[str] | None = None) -> Examples:
    """Queries from logged exposures: one per recommendation id, rows in shown order.

    Parameters
    ----------
    exposures
        One row per shown item: ``USER, ITEM, RECOMMENDATION_ID, POSITION`` (0- or 1-based), the
        ``FEATURES`` logged at serving (a dict of feature name → number) and the ``LABEL``
        (the grade of what the user did with the item on that recommendation, 0 for nothing).
    feature_names
        Columns to build, in this order (missing values are ``NaN``); default every name found,
        in order of first appearance.

    Raises
    ------
    tastemaker.errors.InvalidInput
        A column is missing, or a label is negative or not a whole number.
    """
    needed = (Columns.USER, Columns.ITEM, Columns.RECOMMENDATION_ID, Columns.POSITION)
    missing = [c for c in (*needed, Columns.FEATURES, Columns.LABEL) if c not in exposures]
    if missing:
        raise InvalidInput(
            "the exposure frame lacks columns",
            [FieldProblem(field=c, reason="required") for c in missing],
        )
    frame = exposures.sort_values(
        [Columns.RECOMMENDATION_ID, Columns.POSITION], kind="stable"
    ).reset_index(drop=True)
    labels = pd.to_numeric(frame[Columns.LABEL], errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(labels).any() or (labels < 0).any() or (labels != np.round(labels)).any():
        raise InvalidInput(
            "exposure labels must be whole numbers ≥ 0",
            [FieldProblem(field=Columns.LABEL, reason="a grade: 0 for no outcome, 1, 2 …")],
        )
    feats = pd.DataFrame.from_records(list(frame[Columns.FEATURES]))
    if feature_names is not None:
        feats = feats.reindex(columns=feature_names)
    feats = feats.apply(pd.to_numeric, errors="coerce").astype(np.float32)
    position = frame[Columns.POSITION].to_numpy(dtype=np.int64)
    return Examples(
        features=feats,
        labels=labels.astype(np.int32),
        groups=_run_lengths(frame[Columns.RECOMMENDATION_ID].to_numpy()),
        keys=frame[[Columns.USER, Columns.ITEM, Columns.RECOMMENDATION_ID]],
        position=position - position.min() if len(position) else position,
    )


def dataset_of(frame: pd.DataFrame, items: pd.DataFrame | None = None) -> Dataset:
    """A :class:`Dataset` of classified events, or of weighted positives without ``FEEDBACK``."""
    if FEEDBACK in frame.columns:
        return Dataset.from_feedback(frame, items)
    return Dataset.from_interactions(frame, items)


def exposure_labels(
    exposures: pd.DataFrame,
    events: pd.DataFrame,
    policy: FeedbackPolicy | None = None,
    thresholds: tuple[float, ...] = (),
) -> pd.DataFrame:
    """``exposures`` with a ``LABEL`` column: the grade of what happened to each shown item.

    An event counts for a shown item when it names the same ``RECOMMENDATION_ID`` and
    ``ITEM`` (the client echoed the id). Events are classified by ``policy``; the positive
    weights of a shown item are summed and graded (:func:`grades`), so with the default weights (1
    for a click, 4 for a purchase) and ``thresholds=(3.0,)`` a click is grade 1, a purchase 2.
    Shown items without a positive event get 0.

    >>> shown = pd.DataFrame({"recommendation_id": ["r1", "r1", "r1"],
    ...                       "item_id": ["a", "b", "c"]})
    >>> events = pd.DataFrame({"recommendation_id": ["r1", "r1", "r2"],
    ...                        "item_id": ["b", "c", "a"], "type": ["click", "purchase", "click"],
    ...                        "value": [None, None, None]})
    >>> exposure_labels(shown, events, thresholds=(3.0,))["label"].tolist()
    [0, 1, 2]
    """
    attributed = events.dropna(subset=[Columns.RECOMMENDATION_ID, Columns.ITEM])
    classes, weights = classify_frame(attributed, policy or FeedbackPolicy())
    positive = classes == FeedbackClass.POSITIVE.value
    sums = (
        pd.DataFrame(
            {
                Columns.RECOMMENDATION_ID: attributed[Columns.RECOMMENDATION_ID].to_numpy()[
                    positive
                ],
                Columns.ITEM: attributed[Columns.ITEM].to_numpy()[positive],
                Columns.WEIGHT: weights[positive],
            }
        )
        .groupby([Columns.RECOMMENDATION_ID, Columns.ITEM])[Columns.WEIGHT]
        .sum()
    )
    keys = pd.MultiIndex.from_arrays(
        [exposures[Columns.RECOMMENDATION_ID].to_numpy(), exposures[Columns.ITEM].to_numpy()]
    )
    found = sums.reindex(keys).fillna(0.0).to_numpy()
    return exposures.assign(**{Columns.LABEL: grades(found, thresholds)})


def _labels(table: pd.DataFrame, later: pd.DataFrame, thresholds: tuple[float, ...]) -> np.ndarray:
    weight = (
        later[Columns.WEIGHT].to_numpy(dtype=np.float64)
        if Columns.WEIGHT in later.columns
        else np.ones(len(later))
    )
    sums = (
        pd.DataFrame(
            {
                Columns.USER: later[Columns.USER].astype(str).to_numpy(),
                Columns.ITEM: later[Columns.ITEM].astype(str).to_numpy(),
                Columns.WEIGHT: weight,
            }
        )
        .groupby([Columns.USER, Columns.ITEM])[Columns.WEIGHT]
        .sum()
    )
    keys = pd.MultiIndex.from_arrays(
        [table[Columns.USER].astype(str).to_numpy(), table[Columns.ITEM].astype(str).to_numpy()]
    )
    found = sums.reindex(keys).fillna(0.0).to_numpy()
    return grades(found, thresholds)


def _run_lengths(keys: np.ndarray) -> np.ndarray:
    """Sizes of the runs of equal consecutive keys (rows must be grouped by key)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    bounds = np.concatenate([[0], change, [len(keys)]])
    return np.diff(bounds).astype(np.int64)


def _keep_queries_with_positives(ex: Examples) -> Examples:
    query = np.repeat(np.arange(len(ex.groups)), ex.groups)
    best = np.zeros(len(ex.groups), dtype=np.int32)
    np.maximum.at(best, query, ex.labels)
    keep = (best > 0)[query]
    return Examples(
        features=ex.features[keep].reset_index(drop=True),
        labels=ex.labels[keep],
        groups=ex.groups[best > 0],
        keys=ex.keys[keep].reset_index(drop=True),
        position=None if ex.position is None else ex.position[keep],
        segments=ex.segments,
    )
