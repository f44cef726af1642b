"""The model registry contract, on every store backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.errors import NotFound
from tastemaker.models import Dataset, Recommender
from tastemaker.models.popularity import Popularity
from tastemaker.storage import DataStore

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def test_versions_number_activate_and_retire(store: DataStore) -> None:
    reg = store.models
    assert reg.active("home") is None
    v1 = reg.save("home", "popularity", b"one", {"a": 1}, {"ndcg": 0.1}, NOW)
    v2 = reg.save("home", "als", b"two!", {"b": 2}, {"ndcg": 0.2}, NOW + timedelta(1))
    assert (v1.version, v2.version) == (1, 2)
    assert v1.status == v2.status == "candidate"
    assert reg.active("home") is None
    assert reg.activate("home", 1).status == "active"
    active = reg.activate("home", 2)
    assert active.version == 2
    assert active.metrics == {"ndcg": 0.2}
    assert [(v.version, v.status) for v in reg.versions("home")] == [(2, "active"), (1, "retired")]
    assert reg.blob("home", 1) == b"one"
    assert reg.blob("home", 2) == b"two!"
    assert reg.versions("home")[0].size_bytes == 4
    other = reg.save("email", "ease", b"x", {}, {}, NOW, activate=True)
    assert (other.version, other.status) == (1, "active")
    assert reg.active("home") is not None
    with pytest.raises(NotFound):
        reg.activate("home", 9)
    with pytest.raises(NotFound):
        reg.blob("nope", 1)


def test_prune_keeps_active_and_newest(store: DataStore) -> None:
    reg = store.models
    for n in range(5):
        reg.save("m", "popularity", bytes([n]), {}, {}, NOW)
    reg.activate("m", 1)
    assert reg.prune("m", keep=2) == 2
    assert [v.version for v in reg.versions("m")] == [5, 4, 1]
    assert reg.blob("m", 1) == b"\x00"


def test_a_model_round_trips_through_the_registry(store: DataStore) -> None:
    frame = pd.DataFrame(
        [("u", "a", 1.0, 1), ("v", "a", 1.0, 2), ("v", "b", 1.0, 3)],
        columns=list(Columns.INTERACTIONS),
    )
    model = Popularity().fit(Dataset.from_interactions(frame))
    saved = store.models.save(
        "default", model.name, model.to_bytes(), model.get_config(), {}, NOW, activate=True
    )
    active = store.models.active("default")
    assert active == saved
    loaded = Recommender.from_bytes(store.models.blob("default", active.version))
    pd.testing.assert_frame_equal(loaded.recommend(["x"], k=2), model.recommend(["x"], k=2))
