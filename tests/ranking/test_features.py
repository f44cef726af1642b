"""The candidate feature builder: known values, no future information, batch = single user."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tastemaker.catalog.columns import Columns
from tastemaker.models.data import Dataset
from tastemaker.ranking.candidates import merge_candidates
from tastemaker.ranking.features import DAY, CandidateFeatures, FeatureConfig

ITEMS = pd.DataFrame(
    {
        "title": ["a", "b", "c", "d", "e"],
        "tags": [["Tech > Phones"], ["Tech > Phones"], ["Sport"], ["Tech > Laptops"], []],
        "author": ["ann", "ann", "bob", None, "bob"],
        "published_at": [0, 0, 2 * DAY, -1, 9 * DAY],
    },
    index=pd.Index(["a", "b", "c", "d", "e"], name="id"),
)


def dataset(rows: list[tuple[str, str, int]], items: pd.DataFrame | None = ITEMS) -> Dataset:
    frame = pd.DataFrame(rows, columns=[Columns.USER, Columns.ITEM, Columns.TIMESTAMP])
    return Dataset.from_interactions(frame, items)


def table(pairs: list[tuple[str, str]], k: int = 10) -> pd.DataFrame:
    recs = pd.DataFrame(pairs, columns=[Columns.USER, Columns.ITEM])
    recs[Columns.SCORE] = np.linspace(1.0, 0.5, len(pairs)).astype(np.float32)
    recs[Columns.RANK] = recs.groupby(Columns.USER).cumcount() + 1
    return merge_candidates({"src": recs}, k=k)


HISTORY = [
    ("u", "a", 0),
    ("v", "a", 1 * DAY),
    ("v", "c", 2 * DAY),
    ("w", "c", 3 * DAY),
    ("w", "a", 20 * DAY),  # after every `now` used below except the last test's
]


def test_item_statistics_are_taken_as_of_now() -> None:
    feats = CandidateFeatures(dataset(HISTORY), FeatureConfig(recent_days=1.5)).build(
        table([("u", "a"), ("u", "c"), ("u", "d")]), now=4 * DAY
    )
    # a: rated at day 0 and 1 (the day-20 rating is in the future); c: days 2 and 3; d: never.
    assert np.exp(feats["item_count"].to_numpy()) - 1 == pytest.approx([2, 2, 0])
    assert np.exp(feats["item_recent"].to_numpy()) - 1 == pytest.approx([0, 1, 0])
    assert feats["item_age_days"].tolist()[:2] == pytest.approx([4.0, 2.0])
    assert feats["item_idle_days"].tolist()[:2] == pytest.approx([3.0, 1.0])
    assert np.isnan(feats["item_age_days"].iloc[2])
    # published_at: a at 0, c at day 2, d unknown.
    assert feats["item_published_days"].tolist()[:2] == pytest.approx([4.0, 2.0])
    assert np.isnan(feats["item_published_days"].iloc[2])


def test_user_statistics_and_affinities() -> None:
    rows = [("u", "a", 0), ("u", "b", DAY // 2), ("u", "c", 2 * DAY), ("v", "d", 0)]
    feats = CandidateFeatures(dataset(rows)).build(
        table([("u", "b"), ("u", "d"), ("u", "e"), ("u", "c")]), now=3 * DAY
    )
    row = feats.iloc[0]
    assert np.exp(row["user_count"]) - 1 == pytest.approx(3)
    assert row["user_active_days"] == 2  # day 0 twice, day 2
    assert row["user_span_days"] == pytest.approx(3.0)
    assert row["user_idle_days"] == pytest.approx(1.0)
    # Two of the user's three items carry "Tech > Phones" (and "Tech"): b shares both.
    assert feats["tag_share"].tolist()[:3] == pytest.approx([2 / 3, 2 / 3, 0.0])
    # d shares only the parent "Tech": some affinity, less than b; e has no tags at all.
    b, d, e, c = feats["tag_affinity"].tolist()
    assert b > d > 0
    assert e == 0
    assert 0 < c < b
    # Authors: ann wrote a and b (2 of 3), bob c (1 of 3); d has no author.
    assert feats["author_affinity"].iloc[0] == pytest.approx(2 / 3)
    assert np.isnan(feats["author_affinity"].iloc[1])
    assert feats["author_affinity"].iloc[2] == pytest.approx(1 / 3)


def test_source_columns_and_unknown_users_and_items() -> None:
    feats = CandidateFeatures(dataset(HISTORY)).build(
        table([("stranger", "a"), ("stranger", "zz")], k=5), now=4 * DAY
    )
    assert feats.dtypes.eq(np.float32).all()
    assert feats["rank:src"].tolist() == [1, 2]
    assert feats["nscore:src"].tolist() == [1.0, 0.0]
    assert feats["sources"].tolist() == [1, 1]
    assert feats["user_count"].tolist() == [0, 0]
    assert feats["tag_share"].isna().all()
    assert feats["item_count"].iloc[1] == 0  # an item the data does not know


def test_segment_context_and_user_columns() -> None:
    data = dataset(HISTORY).with_segments({"u": "fans", "v": "browsers"})
    builder = CandidateFeatures(data)
    assert builder.segments == ["browsers", "fans"]
    users = pd.DataFrame({"segment": ["browsers"], "engagement": [0.7]}, index=["w"])
    feats = builder.build(
        table([("u", "c"), ("w", "c"), ("x", "c")]),
        now=4 * DAY,
        users=users,
        context={"hour": 9, "device": "app"},
    )
    assert feats["segment"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(feats["segment"].iloc[2])
    assert feats["user:engagement"].iloc[1] == pytest.approx(0.7)
    assert feats["ctx:hour"].tolist() == [9, 9, 9]
    assert feats["ctx:device=app"].tolist() == [1, 1, 1]


def test_per_user_now_is_each_users_own_time() -> None:
    builder = CandidateFeatures(dataset(HISTORY))
    candidates = table([("u", "a"), ("w", "a")])
    each = builder.build(candidates, now=pd.Series({"u": 4 * DAY, "w": 30 * DAY}))
    assert np.exp(each["item_count"].to_numpy()) - 1 == pytest.approx([2, 3])
    with pytest.raises(ValueError, match="no time for users"):
        builder.build(candidates, now=pd.Series({"u": 4 * DAY}))


# --- invariants ---------------------------------------------------------------------------------

USERS = ["u0", "u1", "u2", "u3"]
IDS = list(ITEMS.index)
histories = st.lists(
    st.tuples(st.sampled_from(USERS), st.sampled_from(IDS), st.integers(0, 40 * DAY)),
    min_size=1,
    max_size=40,
)
pair_lists = st.lists(
    st.tuples(st.sampled_from(USERS), st.sampled_from(IDS)), min_size=1, max_size=15, unique=True
)


def sorted_table(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return table(sorted(pairs))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, histories, pair_lists, st.integers(1, 40 * DAY))
def test_interactions_at_or_after_now_change_nothing(
    past: list[tuple[str, str, int]],
    extra: list[tuple[str, str, int]],
    pairs: list[tuple[str, str]],
    now: int,
) -> None:
    before = [r for r in past if r[2] < now]
    future = [(u, i, now + t) for u, i, t in extra]  # at or after now
    candidates = sorted_table(pairs)
    if not before:
        return
    a = CandidateFeatures(dataset(before)).build(candidates, now=now)
    b = CandidateFeatures(dataset(before + future)).build(candidates, now=now)
    pd.testing.assert_frame_equal(a, b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, pair_lists, st.integers(1, 45 * DAY))
def test_same_inputs_same_features_and_batch_equals_single_user(
    history: list[tuple[str, str, int]], pairs: list[tuple[str, str]], now: int
) -> None:
    builder = CandidateFeatures(dataset(history))
    candidates = sorted_table(pairs)
    batch = builder.build(candidates, now=now)
    pd.testing.assert_frame_equal(batch, CandidateFeatures(dataset(history)).build(candidates, now))
    for user in candidates[Columns.USER].unique():
        rows = np.flatnonzero(candidates[Columns.USER].to_numpy() == user)
        alone = builder.build(candidates.iloc[rows].reset_index(drop=True), now=now)
        pd.testing.assert_frame_equal(alone, batch.iloc[rows].reset_index(drop=True))


OWN_HISTORY = [
    "user_count",
    "user_active_days",
    "user_span_days",
    "user_idle_days",
    "tag_affinity",
    "tag_share",
    "author_affinity",
]
"""The columns that depend on the user's own items only (not on anyone's item counts)."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, histories, pair_lists, st.integers(1, 40 * DAY))
def test_recent_events_count_as_if_the_dataset_held_them(
    past: list[tuple[str, str, int]],
    newer: list[tuple[str, str, int]],
    pairs: list[tuple[str, str]],
    now: int,
) -> None:
    """A live request's events since the snapshot (``recent``) give the user the features a
    dataset holding them would; those at or after ``now``, and unknown items, are ignored."""
    candidates = sorted_table(pairs)
    recent: dict[str, list[tuple[str, int]]] = {}
    for user, item, ts in newer:
        recent.setdefault(user, []).append((item, ts))
    recent.setdefault("u0", []).append(("not-in-the-data", 0))
    served = CandidateFeatures(dataset(past)).build(candidates, now=now, recent=recent)
    held = CandidateFeatures(dataset(past + newer)).build(candidates, now=now)
    pd.testing.assert_frame_equal(served[OWN_HISTORY], held[OWN_HISTORY])
    unchanged = [c for c in served.columns if c.startswith(("item_", "score:", "rank:"))]
    pd.testing.assert_frame_equal(
        served[unchanged],
        CandidateFeatures(dataset(past)).build(candidates, now=now)[unchanged],
    )


def test_a_user_the_dataset_does_not_know_gets_a_history_from_recent_events() -> None:
    feats = CandidateFeatures(dataset(HISTORY)).build(
        table([("newcomer", "b")]), now=4 * DAY, recent={"newcomer": [("a", 3 * DAY)]}
    )
    row = feats.iloc[0]
    assert np.exp(row["user_count"]) - 1 == pytest.approx(1)
    assert row["user_idle_days"] == pytest.approx(1.0)
    assert row["tag_share"] == pytest.approx(1.0)  # a and b are both Tech > Phones
    assert row["author_affinity"] == pytest.approx(1.0)  # both by ann
