"""Numeric per-user features from profiles, and the preparation pipeline for clustering.

Columns (``NaN`` where a value is undefined; imputation is the pipeline's job):

==========================  ======================================================================
column                      meaning
==========================  ======================================================================
``events``                  ``log1p`` of the user's events other than impressions
``events_per_active_day``   events other than impressions per UTC day with any event
``sessions``                sessions (runs of events without a ``session_gap_minutes`` pause)
``avg_session_minutes``     mean time from the first to the last event of a session
``avg_dwell_seconds``       mean value of ``dwell`` events
``avg_scroll_depth``        mean value of ``scroll`` events (percent)
``ctr``                     clicks over impressions
``purchase_rate``           purchases per session
``recency_days``            days from the latest event to ``now``
``engagement``              the engagement score in [0, 1] (:mod:`tastemaker.profiles.engagement`)
``type_share:<type>``       share of the user's events of each configured event type
``tag_share:<tag>``         the user's positive top-level tag affinities at ``now`` (decayed,
                            feedback-weighted, explicit preferences included), normalized to sum 1
``device_share:<device>``   share of the user's events per device (``unknown`` when none was sent)
``channel_share:<channel>`` share of the user's events per configured channel
==========================  ======================================================================

Which ``tag_share:``, ``device_share:`` and ``channel_share:`` columns exist is a
:class:`FeatureSpace`: by default the tags and devices the given profiles have seen, but a model
fitted on one frame must be fed later rows in the same space, so keep it and pass it back.

Examples
--------
>>> import numpy as np
>>> from tastemaker.profiles.item_index import ItemMeta
>>> from tastemaker.profiles.profile import Profile
>>> from tastemaker.profiles.rules import DAY, MINUTE, ProfileEvent, ProfileRules
>>> p = Profile("k1", ProfileRules.default())
>>> news = ItemMeta(tags=(("News > Politics", 1.0), ("News", 0.5)), author=None, source=None)
>>> for i, (kind, minute) in enumerate([("impression", 0), ("click", 1), ("view", 2)]):
...     _ = p.update(ProfileEvent(f"e{i}", "a1", kind, None, minute * MINUTE, "web"), news)
>>> frame = feature_frame([p], now=DAY)
>>> row = frame.loc["k1"]
>>> row[["events", "sessions", "ctr", "recency_days", "tag_share:News"]].round(3).tolist()
[1.099, 1.0, 1.0, 0.999, 1.0]
>>> bool(np.isnan(row["avg_dwell_seconds"]))
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.tags import SEPARATOR
from tastemaker.profiles.profile import Profile
from tastemaker.profiles.rules import ProfileRules, as_micros

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

BASE_FEATURES: Final = (
    "events",
    "events_per_active_day",
    "sessions",
    "avg_session_minutes",
    "avg_dwell_seconds",
    "avg_scroll_depth",
    "ctr",
    "purchase_rate",
    "recency_days",
    "engagement",
)
"""The columns every feature frame starts with, in this order."""
TYPE_SHARE: Final = "type_share:"
TAG_SHARE: Final = "tag_share:"
DEVICE_SHARE: Final = "device_share:"
CHANNEL_SHARE: Final = "channel_share:"


@dataclass(frozen=True)
class FeatureSpace:
    """The vocabularies behind the share columns, i.e. which columns a feature frame has.

    Attributes
    ----------
    event_types, tags, devices, channels
        The names after ``type_share:``, ``tag_share:``, ``device_share:`` and
        ``channel_share:``, in column order.

    Examples
    --------
    >>> space = FeatureSpace(event_types=("view",), tags=("News",), devices=(), channels=("web",))
    >>> space.columns[-3:]
    ['type_share:view', 'tag_share:News', 'channel_share:web']
    """

    event_types: tuple[str, ...]
    tags: tuple[str, ...]
    devices: tuple[str, ...]
    channels: tuple[str, ...]

    @classmethod
    def of(cls, profiles: Iterable[Profile], rules: ProfileRules | None = None) -> FeatureSpace:
        """The configured event types and channels, and every top-level tag and device the
        profiles have seen (sorted). ``rules`` default to the first profile's."""
        tags: set[str] = set()
        devices: set[str] = set()
        for profile in profiles:
            rules = rules or profile.rules
            tags.update(k for k in profile.tags if SEPARATOR not in k)
            tags.update(k for k in profile.prior["tags"] if SEPARATOR not in k)
            devices.update(profile.devices)
        return cls(
            event_types=rules.event_types if rules else (),
            tags=tuple(sorted(tags)),
            devices=tuple(sorted(devices)),
            channels=rules.channels if rules else (),
        )

    @cached_property
    def columns(self) -> list[str]:
        """Every column name of a feature frame in this space, in order."""
        return [
            *BASE_FEATURES,
            *(TYPE_SHARE + t for t in self.event_types),
            *(TAG_SHARE + t for t in self.tags),
            *(DEVICE_SHARE + d for d in self.devices),
            *(CHANNEL_SHARE + c for c in self.channels),
        ]


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _shares(counts: Mapping[str, float], names: Sequence[str], out: list[float]) -> None:
    total = sum(counts.values())
    if total > 0:
        out.extend(counts.get(name, 0.0) / total for name in names)
    else:
        out.extend(math.nan for _ in names)


def _top_level_tags(profile: Profile, now: int) -> dict[str, float]:
    """The positive affinities of top-level tags at ``now``, prior included."""
    scores = profile.tags
    values = {k: scores.at(k, now) for k in scores if SEPARATOR not in k}
    for k, extra in profile.prior["tags"].items():
        if SEPARATOR not in k:
            values[k] = values.get(k, 0.0) + extra
    return {k: v for k, v in values.items() if v > 0}


def _values(profile: Profile, t: int, space: FeatureSpace) -> list[float]:
    """The features in ``space.columns`` order."""
    actions = profile.actions
    days = profile.active_days
    sessions = profile.sessions
    out = [
        math.log1p(actions),
        actions / days if days else math.nan,
        float(sessions),
        _num(profile.avg_session_minutes),
        _num(profile.avg_dwell_seconds),
        _num(profile.avg_scroll_depth),
        _num(profile.ctr),
        profile.purchases / sessions if sessions else math.nan,
        _num(profile.recency_days(t)),
        profile.engagement(t),
    ]
    _shares(profile.counts, space.event_types, out)
    _shares(_top_level_tags(profile, t), space.tags, out)
    # Shares of all events: names outside the space (if any) still count in the denominator.
    events = profile.events
    for names, found in ((space.devices, profile.devices), (space.channels, profile.channels)):
        if events:
            out.extend(found.get(name, 0) / events for name in names)
        else:
            out.extend(math.nan for _ in names)
    return out


def profile_features(
    profile: Profile, now: datetime | int, space: FeatureSpace | None = None
) -> dict[str, float]:
    """One profile's features, in column order (cheap enough to call on every update).

    Parameters
    ----------
    profile
        The profile.
    now
        The time to measure recency and decay affinities at (a datetime or epoch microseconds).
    space
        The share columns to produce; the profile's own vocabulary when not given.
    """
    space = space or FeatureSpace.of([profile])
    return dict(zip(space.columns, _values(profile, as_micros(now), space), strict=True))


def feature_vector(profile: Profile, now: datetime | int, space: FeatureSpace) -> np.ndarray:
    """:func:`profile_features` as a float64 array in ``space.columns`` order."""
    return np.array(_values(profile, as_micros(now), space), dtype=np.float64)


def feature_frame(
    profiles: Iterable[Profile], now: datetime | int, space: FeatureSpace | None = None
) -> pd.DataFrame:
    """Every profile's features as a frame indexed by user key (``Columns.USER``).

    Parameters
    ----------
    profiles
        The profiles (e.g. :meth:`ProfileUpdater.snapshot` or
        :func:`~tastemaker.profiles.rebuild.store_profiles`).
    now
        The time to measure recency and decay affinities at.
    space
        The share columns; :meth:`FeatureSpace.of` the profiles when not given.

    Returns
    -------
    pandas.DataFrame
        float64 columns ``space.columns``, one row per profile.
    """
    profiles = list(profiles)
    space = space or FeatureSpace.of(profiles)
    t = as_micros(now)
    index = pd.Index([p.key for p in profiles], name=Columns.USER, dtype=object)
    if not profiles:
        return pd.DataFrame(index=index, columns=space.columns, dtype=np.float64)
    rows = np.array([_values(p, t, space) for p in profiles], dtype=np.float64)
    return pd.DataFrame(rows, index=index, columns=space.columns, dtype=np.float64)


def preparation(n_components: int | None = None, *, seed: int = 0) -> Pipeline:
    """The scikit-learn pipeline that prepares a feature frame for clustering.

    Median imputation of missing values (a column with no value at all becomes 0, so the output
    keeps one column per input column), standard scaling, and optionally PCA.

    Parameters
    ----------
    n_components
        Components PCA keeps; no reduction when ``None``.
    seed
        Seed of PCA's randomized solver.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0]])
    >>> preparation().fit_transform(x).round(3).tolist()
    [[-1.225, 0.0], [0.0, -1.225], [1.225, 1.225]]
    >>> preparation(n_components=1).fit_transform(x).shape
    (3, 1)
    """
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if n_components is not None and n_components < 1:
        raise ValueError("n_components must be at least 1, or None for no reduction")
    steps: list[tuple[str, object]] = [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
    ]
    if n_components is not None:
        steps.append(("reduce", PCA(n_components=n_components, random_state=seed)))
    return Pipeline(steps)
