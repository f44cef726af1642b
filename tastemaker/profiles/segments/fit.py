"""Fitting a segmentation: select features, prepare them, search, name and summarize.

Segment ids are renumbered by size: 0 is the largest segment. The noise of DBSCAN keeps id
``-1`` and is reported as the segment "Unsegmented".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tastemaker.errors import FieldProblem, InvalidInput
from tastemaker.profiles.segments.artifact import Segmentation
from tastemaker.profiles.segments.assigners import UNSEGMENTED, Labels
from tastemaker.profiles.segments.config import SegmentationConfig
from tastemaker.profiles.segments.preparation import Preparation, preparation_pipeline
from tastemaker.profiles.segments.search import (
    Progress,
    SearchResult,
    search_dbscan,
    search_kmeans_or_gmm,
)
from tastemaker.profiles.segments.selection import resolve_features
from tastemaker.profiles.segments.summary import describe_segments

MIN_USERS = 3
SINGLE_THREAD_USERS = 50_000
"""Up to this many users the clusterers run on one thread."""


@dataclass(frozen=True)
class FittedSegmentation:
    """A fitted :class:`Segmentation` and the segment of each training user."""

    segmentation: Segmentation
    labels: pd.Series
    """Segment id per user key (the frame's index); ``-1`` = unsegmented."""
    dropped: tuple[str, ...] = ()
    """Selected features left out because no user has a value for them."""


def _problem(message: str, field: str, reason: str) -> InvalidInput:
    return InvalidInput(message, [FieldProblem(field=field, reason=reason)])


def _by_size(result: SearchResult) -> tuple[SearchResult, Labels]:
    """Renumber segments so 0 is the largest (ties: the lower old id first)."""
    labels = result.labels
    ids = np.unique(labels[labels != UNSEGMENTED])
    sizes = np.array([(labels == i).sum() for i in ids])
    order = ids[np.lexsort((ids, -sizes))].astype(np.int64)
    if len(order) == 0:
        return result, labels
    rename = np.full(int(ids.max()) + 1, UNSEGMENTED, dtype=np.int64)
    rename[order] = np.arange(len(order))
    new = np.where(labels == UNSEGMENTED, UNSEGMENTED, rename[np.maximum(labels, 0)])
    full_order = order
    if result.assigner.method != "dbscan":
        # Every component/centroid gets a new id, also one that took no training user.
        rest = np.setdiff1d(np.arange(_n_parts(result)), order)
        full_order = np.concatenate([order, rest]).astype(np.int64)
    return SearchResult(result.candidates, result.assigner.relabel(full_order), new), new


def _n_parts(result: SearchResult) -> int:
    arrays = result.assigner.arrays()
    return len(arrays["centroids"] if "centroids" in arrays else arrays["weights"])


def fit_segmentation(
    frame: pd.DataFrame,
    config: SegmentationConfig | None = None,
    progress: Progress | None = None,
) -> FittedSegmentation:
    """Segment the users of a feature frame.

    Parameters
    ----------
    frame
        One row per user, indexed by user key; numeric feature columns, NaN for missing.
        Every numeric column feeds the names and statistics; ``config.features`` selects the
        ones clustered on.
    config
        Method, k (or ``"auto"``), features, seed …; the defaults when not given.
    progress
        Called with a short message before each long step.

    Returns
    -------
    FittedSegmentation
        The segmentation and each user's segment.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sports = np.clip(rng.normal(0.8, 0.05, 60), 0, 1)
    >>> news = np.clip(rng.normal(0.2, 0.05, 60), 0, 1)
    >>> frame = pd.DataFrame({
    ...     "tag_share:Sports": np.r_[sports, 1 - sports],
    ...     "tag_share:News": np.r_[1 - sports, sports],
    ...     "events": rng.normal(3, 0.2, 120)}, index=[f"u{i}" for i in range(120)])
    >>> config = SegmentationConfig(features=("tag_share:*", "events"), k_max=4, seed=1)
    >>> fitted = fit_segmentation(frame, config)
    >>> seg = fitted.segmentation
    >>> seg.k, sorted(s.name for s in seg.segments)
    (2, ['News Readers', 'Sports Fans'])
    >>> bool((seg.assign(frame) == fitted.labels.to_numpy()).all())
    True
    """
    config = config or SegmentationConfig()
    numeric = [str(c) for c in frame.select_dtypes(include="number").columns]
    selected = resolve_features(numeric, config.features)
    x = frame[selected].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    x[~np.isfinite(x)] = np.nan
    known = ~np.isnan(x).all(axis=0)
    dropped = tuple(c for c, k in zip(selected, known, strict=True) if not k)
    features = [c for c, k in zip(selected, known, strict=True) if k]
    x = x[:, known]
    n = len(x)
    if n < MIN_USERS:
        raise _problem(
            f"segmentation needs at least {MIN_USERS} users with features; found {n}",
            "users",
            "too few",
        )
    if not features:
        raise _problem(
            "no user has a value for any selected feature", "features", "all values missing"
        )
    if config.n_components is not None and config.n_components > min(n, len(features)):
        raise _problem(
            f"n_components={config.n_components} exceeds the {len(features)} features "
            f"or the {n} users",
            "n_components",
            "too large",
        )
    if config.method != "dbscan":
        # silhouette needs 2 ≤ k ≤ n − 1; for a fixed k we let scikit-learn complain.
        if config.k == "auto":
            config = config.model_copy(update={"k_max": max(2, min(config.k_max, n - 1))})
            config = config.model_copy(update={"k_min": min(config.k_min, config.k_max)})
        elif int(config.k) > n:
            raise _problem(f"k={config.k} exceeds the {n} users", "k", "too large")
    if progress:
        progress("preparing features")
    pipeline = preparation_pipeline(config.n_components, config.seed)
    pipeline.fit(x)
    preparation = Preparation.from_pipeline(pipeline, len(features))
    z = preparation.transform(x)
    # Below some size, starting OpenMP/BLAS threads costs more than they save — on a busy
    # machine a K-Means of 1,000 users took 0.3 s with threads and 0.01 s without.
    with threadpool_limits(1 if n <= SINGLE_THREAD_USERS else None):
        if config.method == "dbscan":
            result = search_dbscan(z, config, progress)
        else:
            result = search_kmeans_or_gmm(z, config, progress)
    result, labels = _by_size(result)
    if progress:
        progress("naming segments")
    segments = describe_segments(frame, labels)
    segmentation = Segmentation(
        config=config,
        features=tuple(features),
        preparation=preparation,
        assigner=result.assigner,
        segments=tuple(segments),
        candidates=tuple(result.candidates),
        n_users=n,
    )
    return FittedSegmentation(
        segmentation, pd.Series(labels, index=frame.index, name="segment"), dropped
    )
