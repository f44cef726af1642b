"""`train`: holdout measurement, registry versions and the quality gate, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.sample import SampleConfig, generate_sample
from tastemaker.cli.demo import load_sample
from tastemaker.config import Settings
from tastemaker.errors import ConfigurationError, InvalidInput
from tastemaker.models import Recommender
from tastemaker.storage import DataStore
from tastemaker.training import train

NOW = datetime(2026, 10, 2, tzinfo=UTC)
SMALL = SampleConfig(seed=3, n_items=300, n_users=150)


@pytest.fixture
def filled(store: DataStore) -> DataStore:
    load_sample(store, generate_sample(SMALL), NOW)
    return store


def test_train_publishes_measured_versions(filled: DataStore, settings: Settings) -> None:
    outcomes = train(filled, settings, NOW, ["popular", "item_knn"])
    assert [o.name for o in outcomes] == ["popular", "item_knn"]
    for o in outcomes:
        assert o.activated
        assert o.reason == "first version"
        assert o.score is not None
        assert 0.0 < o.score.metric("ndcg@10") <= 1.0
        active = filled.models.active(o.name)
        assert active is not None
        assert active.version == 1
        assert active.metrics["metrics"]["ndcg@10"] == pytest.approx(o.score.metric("ndcg@10"))
    # The personalized model beats the popularity baseline on this planted data.
    by_name = {o.name: o.score.metric("ndcg@10") for o in outcomes if o.score}
    assert by_name["item_knn"] > by_name["popular"]

    blob = filled.models.blob("item_knn", 1)
    model = Recommender.from_bytes(blob)
    user = filled.snapshot.events()[Columns.USER].iloc[0]
    recs = model.recommend([user], k=5)
    assert len(recs) == 5


def test_gate_keeps_a_worse_version_out_unless_forced(
    filled: DataStore, settings: Settings
) -> None:
    train(filled, settings, NOW, ["popular"])
    # Same data, same model: equal quality passes the gate.
    [again] = train(filled, settings, NOW, ["popular"])
    assert again.activated
    assert again.version.version == 2
    # Pretend the live version was far better: the next one must not replace it.
    filled.models.save(
        "popular", "popularity", b"x", {}, {"metrics": {"ndcg@10": 0.99}}, NOW, activate=True
    )
    [worse] = train(filled, settings, NOW, ["popular"])
    assert not worse.activated
    assert "<" in worse.reason
    live = filled.models.active("popular")
    assert live is not None
    assert live.version == 3
    [forced] = train(filled, settings, NOW, ["popular"], force=True)
    assert forced.activated
    assert forced.reason == "forced"


def test_old_versions_are_pruned(filled: DataStore, settings: Settings) -> None:
    tight = settings.model_copy(
        update={"training": settings.training.model_copy(update={"keep_versions": 1})}
    )
    for _ in range(4):
        train(filled, tight, NOW, ["popular"])
    assert [v.version for v in filled.models.versions("popular")] == [4, 3]


def test_unknown_model_and_empty_store(store: DataStore, settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="unknown model"):
        train(store, settings, NOW, ["nope"])
    with pytest.raises(ConfigurationError, match="no usable events"):
        train(store, settings, NOW, ["popular"])


def test_bad_parameters_fail_before_any_work(store: DataStore, settings: Settings) -> None:
    bad = settings.model_copy(
        update={
            "training": settings.training.model_copy(
                update={
                    "models": {
                        "x": settings.training.models["ease"].model_copy(
                            update={"params": {"l2": -1}}
                        )
                    }
                }
            )
        }
    )
    with pytest.raises(ConfigurationError, match="l2"):
        train(store, bad, NOW, ["x"])
    assert store.models.versions() == []


def test_segment_aware_models_train_with_the_active_segmentation(
    filled: DataStore, settings: Settings
) -> None:
    from tastemaker.profiles.segments import SegmentationConfig, segment_store

    segment_store(filled, settings, SegmentationConfig(method="kmeans"), NOW)
    [outcome] = train(filled, settings, NOW, ["trending_by_segment"])
    assert outcome.activated
    model = Recommender.from_bytes(filled.models.blob("trending_by_segment", 1))
    sample = generate_sample(SMALL)
    by_segment: dict[str, list[str]] = {}
    for user, planted in sample.segments.items():
        key = filled.snapshot.user_key(user)
        by_segment.setdefault(planted, []).append(key)
    firsts = {
        planted: tuple(model.recommend(users[:1], k=3, exclude_seen=False)[Columns.ITEM])
        for planted, users in by_segment.items()
    }
    # Different planted segments get different lists (plain trending would give one list).
    assert len(set(firsts.values())) > 1
