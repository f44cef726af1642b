"""User segmentation: clusters of users found offline, named, and assigned online.

* :func:`fit_segmentation` — K-Means (MiniBatch for many users), Gaussian mixtures or DBSCAN
  over a chosen feature set of a feature frame, with the number of segments chosen by
  silhouette (and BIC for mixtures) and every candidate's scores reported;
* :class:`Segmentation` — the result: names, descriptions, statistics and top items per
  segment, ``assign`` for new feature rows (numpy only), saved without pickle;
* :func:`save_segmentation` / :func:`load_segmentation` — versions in the model registry under
  ``segments``;
* :func:`profile_assigner` — the online hook that gives every updated profile its segment;
* :func:`segment_store` — all of it for the users of a store (``tastemaker segment``);
  :func:`label_store` — every stored user's segment by a saved segmentation.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(3)
>>> tech = np.clip(rng.normal(0.8, 0.05, 100), 0, 1)
>>> frame = pd.DataFrame({
...     "tag_share:Technology": np.r_[tech[:60], 1 - tech[60:]],
...     "tag_share:Shop": np.r_[1 - tech[:60], tech[60:]],
...     "purchase_rate": np.r_[rng.normal(0.1, 0.02, 60), rng.normal(0.9, 0.05, 40)],
... }, index=[f"user{i}" for i in range(100)])
>>> fitted = fit_segmentation(frame, SegmentationConfig(features=("tag_share:*",), k_max=5))
>>> seg = Segmentation.from_bytes(fitted.segmentation.to_bytes())
>>> [(s.id, s.name, s.size) for s in seg.segments]
[(0, 'Tech Readers', 60), (1, 'Deal Hunters', 40)]
>>> seg.name_of(seg.assign_one({"tag_share:Technology": 0.9, "tag_share:Shop": 0.1}))
'Tech Readers'
"""

from tastemaker.profiles.segments.artifact import REGISTRY_KIND, REGISTRY_NAME, Segmentation
from tastemaker.profiles.segments.assigners import UNSEGMENTED
from tastemaker.profiles.segments.config import METHODS, Method, SegmentationConfig
from tastemaker.profiles.segments.fit import FittedSegmentation, fit_segmentation
from tastemaker.profiles.segments.online import profile_assigner
from tastemaker.profiles.segments.registry import load_segmentation, save_segmentation
from tastemaker.profiles.segments.search import Candidate
from tastemaker.profiles.segments.selection import DEFAULT_FEATURES
from tastemaker.profiles.segments.summary import (
    UNSEGMENTED_NAME,
    Distinction,
    SegmentInfo,
    TopItem,
)
from tastemaker.profiles.segments.training import SegmentRun, label_store, segment_store

__all__ = [
    "DEFAULT_FEATURES",
    "METHODS",
    "REGISTRY_KIND",
    "REGISTRY_NAME",
    "UNSEGMENTED",
    "UNSEGMENTED_NAME",
    "Candidate",
    "Distinction",
    "FittedSegmentation",
    "Method",
    "SegmentInfo",
    "SegmentRun",
    "Segmentation",
    "SegmentationConfig",
    "TopItem",
    "fit_segmentation",
    "label_store",
    "load_segmentation",
    "profile_assigner",
    "save_segmentation",
    "segment_store",
]
