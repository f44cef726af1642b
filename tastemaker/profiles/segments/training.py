"""Segmenting the users of a store: profiles → features → fit → top items → registry.

This is what ``tastemaker segment`` runs. The profiles are rebuilt from the stored events with
the same code as the online updater (:meth:`ProfileUpdater.rebuild`; at most
``settings.profiles.capacity`` users, the most recently active), so the features a segmentation
is fitted on are the features it is later assigned from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from tastemaker.config import FeedbackClass, Settings
from tastemaker.models.data import FEEDBACK, classify_events
from tastemaker.profiles.features import FeatureSpace, feature_frame
from tastemaker.profiles.segments.artifact import Segmentation
from tastemaker.profiles.segments.config import SegmentationConfig
from tastemaker.profiles.segments.fit import FittedSegmentation, fit_segmentation
from tastemaker.profiles.segments.online import feature_space
from tastemaker.profiles.segments.registry import save_segmentation
from tastemaker.profiles.segments.summary import top_items
from tastemaker.profiles.updater import ProfileUpdater
from tastemaker.storage.base import DataStore, ModelVersion

Progress = Callable[[str], None]
TOP_ITEMS = 10


@dataclass(frozen=True)
class SegmentRun:
    """What segmenting a store did: the fit, the saved segmentation, its version, timings."""

    fitted: FittedSegmentation
    segmentation: Segmentation
    version: ModelVersion
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per step: ``profiles``, ``fit``, ``top_items``, ``save``."""


def store_features(
    store: DataStore, settings: Settings, now: datetime, space: FeatureSpace | None = None
) -> pd.DataFrame:
    """Every user's features at ``now``, from profiles rebuilt from the store.

    ``space`` fixes the share columns (the profiles' own vocabulary when not given).
    """
    updater = ProfileUpdater(settings, store)
    updater.rebuild(store)
    return feature_frame(updater.snapshot(), now, space)


def label_store(
    store: DataStore, settings: Settings, segmentation: Segmentation, now: datetime
) -> pd.Series:
    """The segment name of every user of the store (index: user key), by ``segmentation``.

    For per-segment models and reports: the same labels the online assignment gives.
    """
    frame = store_features(store, settings, now, feature_space(segmentation.features))
    labels = segmentation.assign(frame)
    return pd.Series(
        [segmentation.name_of(int(label)) for label in labels], index=frame.index, name="segment"
    )


def positive_interactions(store: DataStore, settings: Settings) -> pd.DataFrame:
    """The stored events that count as positive feedback (``USER`` is the user key)."""
    feedback = classify_events(store.snapshot.events(), settings.feedback)
    return feedback[feedback[FEEDBACK] == FeedbackClass.POSITIVE.value]


def segment_store(
    store: DataStore,
    settings: Settings,
    config: SegmentationConfig,
    now: datetime,
    progress: Progress | None = None,
    top_n: int = TOP_ITEMS,
) -> SegmentRun:
    """Fit a segmentation of the store's users and save it as the active ``segments`` version.

    Parameters
    ----------
    store
        The durable store (events, catalog, model registry).
    settings
        Profile rules and feedback policy.
    config
        How to segment.
    now
        The time features are measured at and the version's creation time.
    progress
        Called with a short message before each step.
    top_n
        Popular items kept per segment.
    """
    seconds: dict[str, float] = {}
    say = progress or (lambda _: None)

    start = time.perf_counter()
    say("rebuilding profiles from the stored events")
    frame = store_features(store, settings, now)
    seconds["profiles"] = time.perf_counter() - start

    start = time.perf_counter()
    fitted = fit_segmentation(frame, config, say)
    seconds["fit"] = time.perf_counter() - start

    start = time.perf_counter()
    say("finding each segment's popular items")
    titles = store.snapshot.items()["title"]
    popular = top_items(
        fitted.labels,
        positive_interactions(store, settings),
        {str(k): str(v) for k, v in titles.items()},
        top_n,
    )
    segmentation = fitted.segmentation.with_top_items(popular)
    seconds["top_items"] = time.perf_counter() - start

    start = time.perf_counter()
    say("saving the segmentation")
    version = save_segmentation(store, segmentation, now)
    seconds["save"] = time.perf_counter() - start
    return SegmentRun(fitted, segmentation, version, seconds)
