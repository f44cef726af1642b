"""User profiles, feature engineering and segmentation.

* :class:`Profile` — the online state of one user, updated in constant time per event;
* :class:`ItemIndex` — item id → tags (ancestors expanded), author, source;
* :class:`ProfileUpdater` — the profiles of a store, kept current as events are stored;
* :func:`rebuild_profiles` / :func:`store_profiles` — the same state rebuilt from stored events;
* :func:`feature_frame` / :func:`preparation` — numeric features and the scikit-learn pipeline
  that prepares them for clustering;
* :mod:`tastemaker.profiles.segments` — segmentation.
"""

from tastemaker.profiles.engagement import engagement_score
from tastemaker.profiles.features import (
    BASE_FEATURES,
    FeatureSpace,
    feature_frame,
    feature_vector,
    preparation,
    profile_features,
)
from tastemaker.profiles.item_index import ItemIndex, ItemMeta
from tastemaker.profiles.profile import Profile
from tastemaker.profiles.rebuild import event_frame, rebuild_profiles, store_profiles
from tastemaker.profiles.rules import ProfileEvent, ProfileRules
from tastemaker.profiles.updater import ProfileUpdater

__all__ = [
    "BASE_FEATURES",
    "FeatureSpace",
    "ItemIndex",
    "ItemMeta",
    "Profile",
    "ProfileEvent",
    "ProfileRules",
    "ProfileUpdater",
    "engagement_score",
    "event_frame",
    "feature_frame",
    "feature_vector",
    "preparation",
    "profile_features",
    "rebuild_profiles",
    "store_profiles",
]
