"""Segmentation: recovery of the planted sample segments, naming, artifacts, assignment."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from tastemaker.catalog.sample import SampleConfig, generate_sample
from tastemaker.config import Settings
from tastemaker.errors import InvalidInput, NotFound
from tastemaker.profiles import (
    ItemIndex,
    Profile,
    ProfileRules,
    event_frame,
    feature_frame,
    rebuild_profiles,
)
from tastemaker.profiles.segments import (
    UNSEGMENTED,
    UNSEGMENTED_NAME,
    FittedSegmentation,
    Segmentation,
    SegmentationConfig,
    fit_segmentation,
    load_segmentation,
    profile_assigner,
    save_segmentation,
)
from tastemaker.profiles.segments.assigners import (
    CentroidAssigner,
    CoreSampleAssigner,
    MixtureAssigner,
)
from tastemaker.profiles.segments.naming import segment_name, unique_names
from tastemaker.profiles.segments.summary import describe_segments, top_items
from tastemaker.storage import DataStore, open_store
from tastemaker.storage.types import to_micros

# 600 users keep the suite fast; the planted structure holds at this size (seeds 1, 2, 3, 5, 7,
# 9, 11 and 42 all recover it).
SAMPLE = SampleConfig(seed=1, n_items=600, n_users=600)
# What each planted segment's cluster must be named after.
EXPECTED_WORD = {
    "Tech Enthusiasts": "Tech",
    "Sports Fans": "Sports",
    "News Junkies": "News",
    "Lifestyle Browsers": "Lifestyle",
    "Deal Hunters": "Deal Hunters",
}
NOW = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sample:
    frame: pd.DataFrame
    truth: pd.Series
    profiles: dict[str, Profile]
    end: int


@pytest.fixture(scope="module")
def sample() -> Sample:
    data = generate_sample(SAMPLE)
    profiles = rebuild_profiles(
        event_frame(data.events), ProfileRules.default(), ItemIndex.from_items(data.items)
    )
    for user in data.users:
        if user.id in profiles:
            profiles[user.id].apply_preferences(user.preferences)
    end = to_micros(data.config.end)
    frame = feature_frame(profiles.values(), end)
    truth = pd.Series([data.segments[u] for u in frame.index], index=frame.index)
    return Sample(frame, truth, profiles, end)


@pytest.fixture(scope="module")
def kmeans(sample: Sample) -> FittedSegmentation:
    return fit_segmentation(sample.frame, SegmentationConfig(method="kmeans", seed=0))


@pytest.fixture(scope="module")
def gmm(sample: Sample) -> FittedSegmentation:
    return fit_segmentation(sample.frame, SegmentationConfig(method="gmm", seed=0))


@pytest.fixture(scope="module")
def dbscan(sample: Sample) -> FittedSegmentation:
    return fit_segmentation(sample.frame, SegmentationConfig(method="dbscan", seed=0))


def best_match(fitted: FittedSegmentation, truth: pd.Series) -> dict[str, str]:
    """Planted segment → name of the cluster holding most of its users."""
    names = fitted.labels.map(fitted.segmentation.name_of)
    return {
        planted: Counter(names[truth == planted]).most_common(1)[0][0]
        for planted in sorted(set(truth))
    }


# --- recovery of the planted segments --------------------------------------------------------


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_auto_k_recovers_the_planted_segments(
    method: str, sample: Sample, request: pytest.FixtureRequest
) -> None:
    fitted: FittedSegmentation = request.getfixturevalue(method)
    seg = fitted.segmentation
    assert seg.k == 5
    assert adjusted_rand_score(sample.truth, fitted.labels) >= 0.8
    # The silhouette table: one row per candidate k, exactly one chosen, every score reported.
    assert [c.k for c in seg.candidates] == list(range(2, 11))
    assert [c.chosen for c in seg.candidates].count(True) == 1
    assert seg.chosen.k == 5
    assert all(c.silhouette is not None and -1 <= c.silhouette <= 1 for c in seg.candidates)
    if method == "gmm":
        assert all(c.bic is not None for c in seg.candidates)
    else:
        inertia = [c.inertia for c in seg.candidates if c.inertia is not None]
        assert len(inertia) == len(seg.candidates)
        assert inertia == sorted(inertia, reverse=True)


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_each_planted_segment_gets_a_sensible_name(
    method: str, sample: Sample, request: pytest.FixtureRequest
) -> None:
    fitted: FittedSegmentation = request.getfixturevalue(method)
    matched = best_match(fitted, sample.truth)
    for planted, name in matched.items():
        assert EXPECTED_WORD[planted] in name, (planted, name)
    assert len(set(matched.values())) == 5  # five planted segments, five different clusters
    names = [s.name for s in fitted.segmentation.segments]
    assert len(names) == len(set(names))


def test_segments_are_numbered_by_size_and_summarized(kmeans: FittedSegmentation) -> None:
    seg = kmeans.segmentation
    sizes = [s.size for s in seg.segments]
    assert [s.id for s in seg.segments] == list(range(5))
    assert sizes == sorted(sizes, reverse=True)
    assert sum(sizes) == seg.n_users == len(kmeans.labels)
    assert sum(s.share for s in seg.segments) == pytest.approx(1.0, abs=1e-5)
    for s in seg.segments:
        assert (kmeans.labels == s.id).sum() == s.size
        z = [abs(d.z) for d in s.distinguishing]
        assert z == sorted(z, reverse=True)
        assert s.distinguishing[0].feature.startswith("tag_share:")
        assert s.means["events"] is not None
        assert "above average" in s.description


def test_dbscan_reports_noise_as_unsegmented(dbscan: FittedSegmentation, sample: Sample) -> None:
    seg = dbscan.segmentation
    noise = int((dbscan.labels == UNSEGMENTED).sum())
    assert noise > 0
    last = seg.segments[-1]
    assert (last.id, last.name, last.size) == (UNSEGMENTED, UNSEGMENTED_NAME, noise)
    assert "noise" in last.description
    assert seg.k == len(seg.segments) - 1 >= 2
    assert seg.metrics()["noise_share"] == pytest.approx(noise / seg.n_users)
    assert all(c.eps is not None and c.noise_share is not None for c in seg.candidates)
    # The chosen eps segments the users best by coverage-weighted silhouette.
    scores = [
        c.silhouette * (1 - (c.noise_share or 0))
        for c in seg.candidates
        if c.silhouette is not None
    ]
    chosen = seg.chosen
    assert chosen.silhouette is not None
    assert chosen.silhouette * (1 - (chosen.noise_share or 0)) == pytest.approx(max(scores))
    # What DBSCAN does find are planted segments, named as such.
    found = dbscan.labels != UNSEGMENTED
    assert adjusted_rand_score(sample.truth[found], dbscan.labels[found]) >= 0.8


def test_dbscan_with_a_given_eps_tries_only_that(sample: Sample) -> None:
    config = SegmentationConfig(method="dbscan", eps=0.9, min_samples=10)
    seg = fit_segmentation(sample.frame, config).segmentation
    assert [c.eps for c in seg.candidates] == [0.9]
    assert seg.chosen.eps == 0.9


def test_fixed_k_fits_one_candidate(sample: Sample) -> None:
    fitted = fit_segmentation(sample.frame, SegmentationConfig(k=3, seed=4))
    assert [c.k for c in fitted.segmentation.candidates] == [3]
    assert fitted.segmentation.k == 3
    assert set(fitted.labels) == {0, 1, 2}


def test_bic_criterion_picks_the_lowest_bic(sample: Sample) -> None:
    config = SegmentationConfig(method="gmm", criterion="bic", k_max=7)
    seg = fit_segmentation(sample.frame, config).segmentation
    bics = [c.bic for c in seg.candidates if c.bic is not None]
    assert seg.chosen.bic == min(bics)


def test_equal_seeds_give_equal_segmentations(sample: Sample) -> None:
    config = SegmentationConfig(k_max=6, seed=3, silhouette_sample=200)
    a = fit_segmentation(sample.frame, config)
    b = fit_segmentation(sample.frame, config)
    assert a.labels.equals(b.labels)
    assert [c.silhouette for c in a.segmentation.candidates] == [
        c.silhouette for c in b.segmentation.candidates
    ]


# --- artifacts and assignment ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_a_loaded_artifact_assigns_the_training_users_as_fitted(
    method: str, sample: Sample, request: pytest.FixtureRequest
) -> None:
    fitted: FittedSegmentation = request.getfixturevalue(method)
    blob = fitted.segmentation.to_bytes()
    loaded = Segmentation.from_bytes(blob)
    assert loaded.header() == fitted.segmentation.header()
    assert np.array_equal(loaded.assign(sample.frame), fitted.labels.to_numpy())
    # One user is a batch of one.
    for key in sample.frame.index[:25]:
        row = sample.frame.loc[key].to_dict()
        assert loaded.assign_one(row) == fitted.labels[key]
        assert loaded.assign(sample.frame.loc[[key]])[0] == fitted.labels[key]


def test_dbscan_artifact_reproduces_core_points_and_noise(
    dbscan: FittedSegmentation, sample: Sample
) -> None:
    loaded = Segmentation.from_bytes(dbscan.segmentation.to_bytes())
    assigner = loaded.assigner
    assert isinstance(assigner, CoreSampleAssigner)
    z = loaded.preparation.transform(sample.frame[list(loaded.features)].to_numpy())
    cores = {row.tobytes() for row in assigner.cores}
    is_core = np.array([row.tobytes() in cores for row in z])
    assigned = loaded.assign(sample.frame)
    fitted = dbscan.labels.to_numpy()
    assert is_core.sum() == len(assigner.cores) > 0
    assert np.array_equal(assigned[is_core], fitted[is_core])
    noise = fitted == UNSEGMENTED
    assert np.array_equal(assigned[noise], fitted[noise])
    # Border points join the segment of their nearest core point: nearly always DBSCAN's.
    border = ~is_core & ~noise
    assert np.mean(assigned[border] == fitted[border]) >= 0.95


def test_pca_preparation_round_trips(sample: Sample) -> None:
    config = SegmentationConfig(k=5, n_components=4, seed=2)
    fitted = fit_segmentation(sample.frame, config)
    loaded = Segmentation.from_bytes(fitted.segmentation.to_bytes())
    assert loaded.preparation.components.shape == (4, len(loaded.features))
    assert np.array_equal(loaded.assign(sample.frame), fitted.labels.to_numpy())


def test_minibatch_kmeans_above_the_threshold(sample: Sample) -> None:
    config = SegmentationConfig(k=5, minibatch_above=100, seed=1)
    fitted = fit_segmentation(sample.frame, config)
    assert adjusted_rand_score(sample.truth, fitted.labels) >= 0.8
    loaded = Segmentation.from_bytes(fitted.segmentation.to_bytes())
    assert np.array_equal(loaded.assign(sample.frame), fitted.labels.to_numpy())


def test_missing_values_are_imputed_at_fit_and_assignment(sample: Sample) -> None:
    frame = sample.frame.copy()
    frame.loc[frame.index[::7], "avg_dwell_seconds"] = np.nan
    frame["never_known"] = np.nan
    config = SegmentationConfig(k=5, features=("tag_share:*", "avg_dwell_seconds", "never_known"))
    fitted = fit_segmentation(frame, config)
    assert fitted.dropped == ("never_known",)
    seg = Segmentation.from_bytes(fitted.segmentation.to_bytes())
    assert "never_known" not in seg.features
    assert np.array_equal(seg.assign(frame), fitted.labels.to_numpy())
    # A brand-new user with nothing known lands somewhere, deterministically.
    empty = seg.assign_one({})
    assert empty == seg.assign_one(dict.fromkeys(seg.features))
    assert 0 <= empty < seg.k


def test_assignment_needs_the_features(kmeans: FittedSegmentation, sample: Sample) -> None:
    with pytest.raises(InvalidInput, match="tag_share:News"):
        kmeans.segmentation.assign(sample.frame.drop(columns=["tag_share:News"]))
    with pytest.raises(NotFound, match="no segment 9"):
        kmeans.segmentation.segment(9)


@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical"])
def test_mixture_assigner_matches_scikit_learn(kind: str) -> None:
    rng = np.random.default_rng(5)
    x = np.vstack([rng.normal(c, 1.0, size=(80, 3)) for c in (0.0, 3.0, 6.0)])
    model = GaussianMixture(3, covariance_type=kind, random_state=0).fit(x)
    ours = MixtureAssigner.from_sklearn(model)
    queries = rng.normal(3.0, 3.0, size=(500, 3))
    assert np.array_equal(ours.predict(queries), model.predict(queries))
    theirs = model._estimate_weighted_log_prob(queries)
    assert np.allclose(ours.log_likelihood(queries), theirs)


def test_centroid_assigner_matches_scikit_learn() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 4))
    model = KMeans(6, n_init=2, random_state=0).fit(x)
    ours = CentroidAssigner(model.cluster_centers_)
    queries = rng.normal(size=(1000, 4))
    assert np.array_equal(ours.predict(queries), model.predict(queries))


# --- configuration and input errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "dbscan", "k": 4}, "DBSCAN finds the number"),
        ({"criterion": "bic"}, "needs method 'gmm'"),
        ({"k_min": 6, "k_max": 3}, "k_max must be at least k_min"),
        ({"k": 1}, "at least 2"),
        ({"kmeans": True}, "Extra inputs"),
    ],
)
def test_invalid_configs_are_rejected(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SegmentationConfig.model_validate(params)


def test_input_problems_are_explained(sample: Sample) -> None:
    with pytest.raises(InvalidInput, match="unknown feature 'evnets'"):
        fit_segmentation(sample.frame, SegmentationConfig(features=("evnets",)))
    with pytest.raises(InvalidInput, match="at least 3 users"):
        fit_segmentation(sample.frame.head(2))
    with pytest.raises(InvalidInput, match="n_components=20"):
        fit_segmentation(sample.frame, SegmentationConfig(n_components=20))


def test_auto_k_stays_below_the_number_of_users(sample: Sample) -> None:
    fitted = fit_segmentation(sample.frame.head(5), SegmentationConfig())
    assert [c.k for c in fitted.segmentation.candidates] == [2, 3, 4]


# --- naming ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("z", "name"),
    [
        ({"tag_share:Technology": 2.0, "events": 1.0}, "Loyal Tech Readers"),
        (
            {"tag_share:Sports": 1.5, "device_share:mobile": 1.2, "events": 0.9},
            "Mobile Sports Fans",
        ),
        ({"tag_share:Shop": 1.5, "purchase_rate": 1.0}, "Deal Hunters"),
        ({"tag_share:Technology": 1.5, "purchase_rate": 1.0}, "Tech Buyers"),
        ({"purchase_rate": 2.0}, "Frequent Buyers"),
        ({"purchase_rate": 2.0, "events": -1.0}, "Casual Buyers"),
        ({"events": -1.0, "device_share:mobile": 0.8}, "Casual Mobile Browsers"),
        ({"events": 0.1, "tag_share:News": 0.2}, "Mainstream Browsers"),
        ({"tag_share:Gardening": 1.0}, "Gardening Readers"),
    ],
)
def test_names_come_from_the_distinguishing_features(z: dict[str, float], name: str) -> None:
    assert segment_name(z) == name


def test_equal_names_get_suffixes_by_size() -> None:
    assert unique_names(["A", "B", "A", "A"], [1, 5, 9, 3]) == ["A 3", "B", "A", "A 2"]


def test_summary_statistics_are_in_feature_units() -> None:
    frame = pd.DataFrame(
        {"tag_share:News": [0.9, 0.7, 0.1, 0.1], "avg_dwell_seconds": [10.0, np.nan, 50, 70]}
    )
    first, second = describe_segments(frame, np.array([0, 0, 1, 1]))
    assert first.means == {"tag_share:News": pytest.approx(0.8), "avg_dwell_seconds": 10.0}
    assert second.means["avg_dwell_seconds"] == 60.0
    news = next(d for d in first.distinguishing if d.feature == "tag_share:News")
    assert news.z == pytest.approx((0.8 - 0.45) / np.std([0.9, 0.7, 0.1, 0.1]), abs=1e-4)
    assert news.overall == pytest.approx(0.45)


def test_top_items_count_each_user_once_per_item() -> None:
    labels = pd.Series({"u1": 0, "u2": 0, "u3": 1, "u4": 1, "u5": 2})
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u3", "u4", "u4", "u5", "u5", "stranger"],
            "item_id": ["a", "a", "b", "b", "c", "c", "a", "y", "x", "z"],
        }
    )
    top = top_items(labels, events, {"b": "Beta"}, n=2)
    assert [(t.item_id, t.users, t.share, t.title) for t in top[0]] == [
        ("b", 2, 1.0, "Beta"),
        ("a", 1, 0.5, None),
    ]
    assert [(t.item_id, t.users) for t in top[1]] == [("c", 2), ("a", 1)]
    assert [t.item_id for t in top[2]] == ["x", "y"]  # a tie goes to the smaller id
    with_items = describe_segments(pd.DataFrame({"x": [1.0, 2.0]}), np.array([0, 1]))
    assert with_items[0].top_items == ()


# --- online assignment and the registry ------------------------------------------------------


def test_the_profile_hook_gives_each_profile_its_segment_name(
    kmeans: FittedSegmentation, sample: Sample
) -> None:
    seg = kmeans.segmentation
    assign = profile_assigner(seg, clock=lambda: sample.end)
    for key in list(sample.profiles)[:100]:
        assert assign(sample.profiles[key]) == seg.name_of(int(kmeans.labels[key]))


def test_registry_round_trip(kmeans: FittedSegmentation, dbscan: FittedSegmentation) -> None:
    store: DataStore = open_store(Settings(database_url="sqlite://", secret_keys=["k" * 32]))
    try:
        assert load_segmentation(store) is None
        first = save_segmentation(store, kmeans.segmentation, NOW)
        second = save_segmentation(store, dbscan.segmentation, NOW)
        assert (first.name, first.kind) == ("segments", "segmentation")
        assert second.version == first.version + 1
        assert second.config["method"] == "dbscan"
        assert second.metrics["k"] == dbscan.segmentation.k
        assert second.metrics["noise_share"] > 0
        loaded = load_segmentation(store)
        assert loaded is not None
        record, seg = loaded
        assert record.version == second.version
        assert record.status == "active"
        assert seg.header() == dbscan.segmentation.header()
        old = load_segmentation(store, first.version)
        assert old is not None
        assert old[1].method == "kmeans"
        with pytest.raises(NotFound):
            load_segmentation(store, 99)
    finally:
        store.close()
