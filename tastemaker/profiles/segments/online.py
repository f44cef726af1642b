"""Online assignment: a profile's segment, recomputed whenever the profile changes.

:func:`profile_assigner` turns a :class:`~tastemaker.profiles.segments.artifact.Segmentation`
into the ``assign`` hook of :class:`~tastemaker.profiles.updater.ProfileUpdater`: it computes the
profile's features in the segmentation's own feature space and returns the segment's name. The
work is constant per call — one feature row, a few small matrix products — and needs no
scikit-learn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tastemaker.profiles.features import (
    CHANNEL_SHARE,
    DEVICE_SHARE,
    TAG_SHARE,
    TYPE_SHARE,
    FeatureSpace,
    profile_features,
)
from tastemaker.profiles.profile import Profile
from tastemaker.profiles.segments.artifact import Segmentation


def feature_space(features: Sequence[str]) -> FeatureSpace:
    """The smallest :class:`FeatureSpace` whose columns include ``features``.

    >>> space = feature_space(["events", "tag_share:News", "device_share:mobile"])
    >>> space.tags, space.devices, space.event_types
    (('News',), ('mobile',), ())
    """

    def names(prefix: str) -> tuple[str, ...]:
        return tuple(f[len(prefix) :] for f in features if f.startswith(prefix))

    return FeatureSpace(
        event_types=names(TYPE_SHARE),
        tags=names(TAG_SHARE),
        devices=names(DEVICE_SHARE),
        channels=names(CHANNEL_SHARE),
    )


def _now_micros() -> int:
    return time.time_ns() // 1000


def profile_assigner(
    segmentation: Segmentation, clock: Callable[[], int] = _now_micros
) -> Callable[[Profile], str | None]:
    """The ``ProfileUpdater.assign`` hook for a segmentation: profile → segment name.

    Parameters
    ----------
    segmentation
        The active segmentation.
    clock
        Current time in epoch microseconds (recency and affinity decay are measured at it).

    Returns
    -------
    Callable[[Profile], str | None]
        The name of the profile's segment ("Unsegmented" for DBSCAN's noise).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from tastemaker.profiles.item_index import ItemMeta
    >>> from tastemaker.profiles.rules import ProfileEvent, ProfileRules
    >>> from tastemaker.profiles.segments.fit import fit_segmentation
    >>> from tastemaker.profiles.segments.config import SegmentationConfig
    >>> rng = np.random.default_rng(0)
    >>> a = np.clip(rng.normal(0.85, 0.05, 40), 0, 1)
    >>> frame = pd.DataFrame({"tag_share:News": np.r_[a, 1 - a],
    ...                       "tag_share:Sports": np.r_[1 - a, a]})
    >>> seg = fit_segmentation(frame, SegmentationConfig(k=2, features=("tag_share:*",)))
    >>> p = Profile("k1", ProfileRules.default())
    >>> sports = ItemMeta(tags=(("Sports", 1.0),), author=None, source=None)
    >>> _ = p.update(ProfileEvent("e1", "a1", "view", None, 0, "web"), sports)
    >>> profile_assigner(seg.segmentation, clock=lambda: 1)(p)
    'Sports Fans'
    """
    space = feature_space(segmentation.features)

    def assign(profile: Profile) -> str | None:
        values = profile_features(profile, clock(), space)
        return segmentation.name_of(segmentation.assign_one(values))

    return assign
