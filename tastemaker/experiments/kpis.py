"""KPIs of an experiment from its logged exposures and the events attributed to them.

An event is attributed to a recommendation when it carries the recommendation's id in
``context.recommendation_id`` and comes from the user the recommendation was shown to (an id
echoed by another user counts for nothing). The statistical unit is the **user**: each exposed
user is one row with the arm of their exposures, how many lists (``exposures``, one per page)
and items (``impressions``) they were shown, and per metric (see
:mod:`tastemaker.experiments.metrics`) either ``1``/``0`` (a rate: any attributed event of the
metric's types) or their attributed values per exposure (a mean).

>>> import pandas as pd
>>> from tastemaker.experiments.metrics import parse_metric
>>> shown = pd.DataFrame({"recommendation_id": ["r1", "r1", "r2"], "user_id": ["u1", "u1", "u2"],
...                       "page": [0, 0, 0], "arm": ["a", "a", "b"]})
>>> events = pd.DataFrame({"recommendation_id": ["r1", "r2"], "user_id": ["u1", "u9"],
...                        "type": ["click", "click"], "value": [None, None]})
>>> users = user_outcomes(shown, events, [parse_metric("ctr")])
>>> users[["user_id", "arm", "impressions", "ctr"]].values.tolist()
[['u1', 'a', 2, 1.0], ['u2', 'b', 1, 0.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.experiments.definition import Experiment
from tastemaker.experiments.metrics import Metric
from tastemaker.storage import DataStore

__all__ = [
    "EXPOSURES",
    "IMPRESSIONS",
    "SEGMENT",
    "UNSEGMENTED",
    "GroupNumbers",
    "MetricSummary",
    "load_outcomes",
    "summarize",
    "user_outcomes",
]

EXPOSURES = "exposures"
IMPRESSIONS = "impressions"
SEGMENT = "segment"
UNSEGMENTED = "unsegmented"


def experiment_exposures(store: DataStore, experiment: Experiment) -> pd.DataFrame:
    """The experiment's exposures: one row per shown item (see ``ExposureLog.frame``)."""
    frame = store.exposures.frame(since=experiment.started_at, placement=experiment.placement)
    return frame[frame[Columns.EXPERIMENT] == experiment.id].reset_index(drop=True)


def load_outcomes(
    store: DataStore, experiment: Experiment, labels: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """:func:`user_outcomes` of a stored experiment, with a ``SEGMENT`` column by ``labels``
    (user key → segment; users without one are :data:`UNSEGMENTED`) when given."""
    exposures = experiment_exposures(store, experiment)
    events = store.snapshot.events(detail=True) if len(exposures) else None
    users = user_outcomes(exposures, events, experiment.metric_list())
    if labels is not None:
        users[SEGMENT] = users[Columns.USER].map(labels).fillna(UNSEGMENTED).astype(str)
    return users


def user_outcomes(
    exposures: pd.DataFrame, events: pd.DataFrame | None, metrics: Sequence[Metric]
) -> pd.DataFrame:
    """One row per exposed user: ``USER``, ``ARM``, ``exposures``, ``impressions`` and one
    column per metric (float).

    ``exposures`` needs ``RECOMMENDATION_ID, USER, PAGE, ARM``; ``events`` needs
    ``RECOMMENDATION_ID, USER, TYPE, VALUE``. A user logged under several arms (which a sound
    assignment never does) is kept in the arm of their first exposure.
    """
    columns = [Columns.USER, Columns.ARM, EXPOSURES, IMPRESSIONS, *(m.name for m in metrics)]
    if not len(exposures):
        return pd.DataFrame(
            {c: pd.Series(dtype=object if c in columns[:2] else float) for c in columns}
        )
    arm = exposures.groupby(Columns.USER, sort=False)[Columns.ARM].first()
    pages = exposures.drop_duplicates([Columns.RECOMMENDATION_ID, Columns.PAGE])
    users = pd.DataFrame(
        {
            Columns.ARM: arm.astype(str),
            EXPOSURES: pages.groupby(Columns.USER, sort=False).size().reindex(arm.index),
            IMPRESSIONS: exposures.groupby(Columns.USER, sort=False).size().reindex(arm.index),
        }
    )
    attributed = _attributed(exposures, events)
    for metric in metrics:
        mine = attributed[attributed[Columns.TYPE].isin(metric.types)]
        if metric.kind == "rate":
            hit = users.index.isin(mine[Columns.USER].unique())
            users[metric.name] = hit.astype(np.float64)
        else:
            values = mine[Columns.VALUE].fillna(1.0).groupby(mine[Columns.USER]).sum()
            total = values.reindex(users.index).fillna(0.0).to_numpy(dtype=np.float64)
            users[metric.name] = total / users[EXPOSURES].to_numpy(dtype=np.float64)
    users.index.name = Columns.USER
    return users.reset_index()[columns]


def _attributed(exposures: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """The events that carry one of the exposures' recommendation ids, from its user."""
    if events is None or not len(events):
        return pd.DataFrame(
            {Columns.USER: [], Columns.TYPE: [], Columns.VALUE: pd.Series(dtype=np.float64)}
        )
    owner = exposures.drop_duplicates(Columns.RECOMMENDATION_ID).set_index(
        Columns.RECOMMENDATION_ID
    )[Columns.USER]
    mine = events[events[Columns.RECOMMENDATION_ID].isin(owner.index)]
    same_user = (
        mine[Columns.RECOMMENDATION_ID].map(owner).to_numpy() == mine[Columns.USER].to_numpy()
    )
    out: pd.DataFrame = mine.loc[same_user, [Columns.USER, Columns.TYPE, Columns.VALUE]]
    return out


@dataclass(frozen=True)
class MetricSummary:
    """One metric over one group of users: its value, and what the tests need."""

    users: int
    value: float
    """The rate or the mean (NaN without users)."""
    variance: float
    """Per user: ``p(1 − p)`` for a rate, the sample variance (``ddof=1``) for a mean."""
    successes: int | None
    """Users with an event (rates only)."""


@dataclass(frozen=True)
class GroupNumbers:
    """The numbers of one group of users (an arm, the holdout, an arm within a segment)."""

    users: int
    exposures: int
    impressions: int
    metrics: dict[str, MetricSummary]


def summarize(users: pd.DataFrame, metrics: Sequence[Metric]) -> GroupNumbers:
    """The :class:`GroupNumbers` of some rows of :func:`user_outcomes`."""
    n = len(users)
    out: dict[str, MetricSummary] = {}
    for metric in metrics:
        values = users[metric.name].to_numpy(dtype=np.float64)
        mean = float(values.mean()) if n else float("nan")
        if metric.kind == "rate":
            successes = int(values.sum())
            out[metric.name] = MetricSummary(n, mean, mean * (1 - mean), successes)
        else:
            variance = float(values.var(ddof=1)) if n > 1 else float("nan")
            out[metric.name] = MetricSummary(n, mean, variance, None)
    return GroupNumbers(
        users=n,
        exposures=int(users[EXPOSURES].sum()),
        impressions=int(users[IMPRESSIONS].sum()),
        metrics=out,
    )
