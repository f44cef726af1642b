"""Feature frames from profiles, and the preparation pipeline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.sample import SampleConfig, generate_sample
from tastemaker.catalog.users import Preferences
from tastemaker.profiles import (
    BASE_FEATURES,
    FeatureSpace,
    ItemIndex,
    ItemMeta,
    Profile,
    ProfileEvent,
    ProfileRules,
    event_frame,
    feature_frame,
    feature_vector,
    preparation,
    profile_features,
    rebuild_profiles,
)
from tastemaker.profiles.rules import DAY, MINUTE

T0 = 1_780_000_000_000_000
TECH = ItemMeta(tags=(("Tech > AI", 1.0), ("Tech", 0.5)), author="Ann", source=None)
NEWS = ItemMeta(tags=(("News > Politics", 1.0), ("News", 0.5)), author="Bo", source=None)

EXPECTED_COLUMNS = [
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
    "type_share:impression",
    "type_share:view",
    "type_share:click",
    "type_share:dwell",
    "type_share:scroll",
    "type_share:like",
    "type_share:dislike",
    "type_share:rating",
    "type_share:share",
    "type_share:add_to_cart",
    "type_share:purchase",
    "tag_share:News",
    "tag_share:Tech",
    "device_share:mobile",
    "device_share:unknown",
    "channel_share:web",
    "channel_share:app",
    "channel_share:email",
    "channel_share:social",
]


def reader() -> Profile:
    p = Profile("reader", ProfileRules.default())
    rows = [
        ("impression", None, 0, TECH, "mobile", "web"),
        ("impression", None, 0, NEWS, "mobile", "web"),
        ("click", None, 1, TECH, "mobile", "web"),
        ("dwell", 40.0, 3, TECH, "mobile", "web"),
        ("scroll", 90.0, 3, TECH, "mobile", "web"),
        ("view", None, 24 * 60, NEWS, None, "app"),  # the next day: a second session
        ("purchase", 12.0, 24 * 60 + 10, TECH, None, "app"),
    ]
    for i, (kind, value, minute, item, device, channel) in enumerate(rows):
        event = ProfileEvent(f"e{i}", "x", kind, value, T0 + minute * MINUTE, channel, device)
        p.update(event, item)
    return p


def test_columns_and_known_values() -> None:
    now = T0 + 2 * DAY
    frame = feature_frame([reader()], now)
    assert list(frame.columns) == EXPECTED_COLUMNS
    assert frame.index.name == Columns.USER
    assert frame.dtypes.eq(np.float64).all()
    row = frame.loc["reader"]
    assert row["events"] == pytest.approx(math.log1p(5))
    assert row["events_per_active_day"] == 2.5
    assert row["sessions"] == 2
    assert row["avg_session_minutes"] == pytest.approx((3 + 10) / 2)
    assert (row["avg_dwell_seconds"], row["avg_scroll_depth"]) == (40.0, 90.0)
    assert row["ctr"] == 0.5
    assert row["purchase_rate"] == 0.5
    assert row["recency_days"] == pytest.approx(2 - (24 * 60 + 10) / (24 * 60))
    assert 0 < row["engagement"] < 1
    assert row["type_share:impression"] == pytest.approx(2 / 7)
    assert row["type_share:rating"] == 0.0
    assert row["device_share:mobile"] == pytest.approx(5 / 7)
    assert row["channel_share:app"] == pytest.approx(2 / 7)
    assert row["channel_share:social"] == 0.0

    # At the top level (half of the leaf): Tech gets click 1, dwell 1 (≥ 30 s), scroll 0.5
    # (≥ 75 %) and purchase 4; News gets view 1. Each halves every 30 days until `now`.
    def decayed(minute: int) -> float:
        return float(2 ** (-(2 * 24 * 60 - minute) / (30 * 24 * 60)))

    tech = 0.5 * (decayed(1) + 1.5 * decayed(3) + 4 * decayed(24 * 60 + 10))
    news = 0.5 * decayed(24 * 60)
    assert row["tag_share:Tech"] == pytest.approx(tech / (tech + news))
    assert row["tag_share:Tech"] + row["tag_share:News"] == pytest.approx(1.0)


def test_undefined_values_are_nan() -> None:
    p = Profile("quiet", ProfileRules.default())
    p.update(ProfileEvent("e", "x", "view", None, T0, "web", None))  # no item metadata
    row = feature_frame([p], T0).loc["quiet"]
    for column in ("avg_dwell_seconds", "avg_scroll_depth", "ctr"):
        assert math.isnan(row[column]), column
    assert row["sessions"] == 1
    assert row["avg_session_minutes"] == 0.0
    assert row["recency_days"] == 0.0
    empty = Profile("empty", ProfileRules.default())
    values = profile_features(empty, T0)
    assert math.isnan(values["recency_days"])
    assert math.isnan(values["purchase_rate"])
    assert math.isnan(values["type_share:view"])
    assert values["engagement"] == 0.0


def test_tag_shares_include_preferences_and_ignore_negative_affinity() -> None:
    p = Profile("p", ProfileRules.default())
    p.update(ProfileEvent("e1", "x", "dislike", None, T0, "web", None), NEWS)  # News: −1
    p.apply_preferences(Preferences(tags=["Tech"]))  # Tech: +2, never decays
    row = profile_features(p, T0 + 365 * DAY)
    assert row["tag_share:Tech"] == 1.0
    assert "tag_share:News" in row  # a known tag, with no positive affinity
    assert row["tag_share:News"] == 0.0


def test_a_fixed_space_keeps_columns_stable() -> None:
    space = FeatureSpace.of([reader()])
    other = Profile("other", ProfileRules.default())
    other.update(ProfileEvent("e", "x", "view", None, T0, "email", "tablet"), TECH)
    frame = feature_frame([other], T0, space)
    assert list(frame.columns) == space.columns == EXPECTED_COLUMNS
    row = frame.loc["other"]
    assert row["device_share:mobile"] == 0.0  # the tablet is not in the space
    assert row["channel_share:email"] == 1.0
    vector = feature_vector(other, T0, space)
    np.testing.assert_array_equal(vector, frame.loc["other"].to_numpy())
    assert list(feature_frame([], T0, space).columns) == EXPECTED_COLUMNS
    assert list(feature_frame([], T0).columns) == list(BASE_FEATURES)


def test_preparation_imputes_scales_and_reduces() -> None:
    x = np.array(
        [[1.0, np.nan, np.nan], [3.0, 4.0, np.nan], [5.0, 8.0, np.nan], [7.0, 6.0, np.nan]]
    )
    out = preparation().fit_transform(x)
    assert out.shape == (4, 3)  # an all-missing column stays (as zeros)
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out[:, :2].std(axis=0), 1.0)
    assert preparation(2, seed=1).fit_transform(x).shape == (4, 2)
    assert [name for name, _ in preparation(2).steps] == ["impute", "scale", "reduce"]
    with pytest.raises(ValueError, match="n_components"):
        preparation(0)


def test_sample_data_features() -> None:
    data = generate_sample(SampleConfig(n_items=200, n_users=60, seed=5))
    frame = event_frame(data.events)
    profiles = rebuild_profiles(frame, ProfileRules.default(), ItemIndex.from_items(data.items))
    features = feature_frame(profiles.values(), data.config.end)
    assert len(features) == len({e.user_id for e in data.events})
    assert not np.isinf(features.to_numpy()).any()
    for prefix in ("type_share:", "device_share:", "channel_share:", "tag_share:"):
        shares = features.filter(like=prefix).sum(axis=1, min_count=1)
        np.testing.assert_allclose(shares.dropna(), 1.0, err_msg=prefix)
    assert {"tag_share:Technology", "tag_share:Shop"} <= set(features.columns)
    assert features["engagement"].between(0, 1).all()
    prepared = preparation(5).fit_transform(features)
    assert prepared.shape == (len(features), 5)
    assert isinstance(features, pd.DataFrame)
