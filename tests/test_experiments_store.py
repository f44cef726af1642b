"""Stored experiments, on every backend: create, read, the life cycle, and layer slices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tastemaker.errors import Conflict, InvalidInput, NotFound
from tastemaker.storage import DataStore
from tastemaker.storage.base import StoredExperiment

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def draft(
    experiment_id: str, placement: str = "home", layer: str = "home", traffic: float = 1.0
) -> StoredExperiment:
    return StoredExperiment(
        experiment_id=experiment_id,
        placement=placement,
        layer=layer,
        traffic=traffic,
        definition={"id": experiment_id, "arms": [{"name": "a"}, {"name": "b"}], "ü": [1, None]},
        created_at=NOW,
    )


def test_create_then_get_and_list_round_trip(store: DataStore) -> None:
    assert store.experiments.get("x") is None
    assert store.experiments.list() == []
    store.experiments.create(draft("x"))
    store.experiments.create(draft("y", placement="email", layer="mail", traffic=0.25))
    got = store.experiments.get("x")
    assert got == draft("x")
    assert [e.experiment_id for e in store.experiments.list()] == ["x", "y"]
    assert [e.experiment_id for e in store.experiments.list("draft")] == ["x", "y"]
    assert store.experiments.list("running") == []
    other = store.experiments.get("y")
    assert other is not None
    assert (other.placement, other.layer, other.traffic) == ("email", "mail", 0.25)


def test_an_id_is_taken_once(store: DataStore) -> None:
    store.experiments.create(draft("x"))
    with pytest.raises(Conflict, match="exists already"):
        store.experiments.create(draft("x", placement="other"))
    assert store.experiments.get("x") == draft("x")


def test_nul_in_a_definition_is_refused(store: DataStore) -> None:
    bad = StoredExperiment("x", "home", "home", 1.0, {"description": "a\x00b"}, NOW)
    with pytest.raises(InvalidInput):
        store.experiments.create(bad)
    assert store.experiments.get("x") is None


def test_life_cycle_draft_running_stopped(store: DataStore) -> None:
    store.experiments.create(draft("x"))
    later = NOW + timedelta(hours=1)
    running = store.experiments.start("x", later)
    assert (running.status, running.started_at, running.slice) == ("running", later, (0.0, 1.0))
    assert store.experiments.get("x") == running
    assert [e.experiment_id for e in store.experiments.list("running")] == ["x"]
    with pytest.raises(Conflict, match="only a draft starts"):
        store.experiments.start("x", later)
    stopped = store.experiments.stop("x", later + timedelta(days=7))
    assert (stopped.status, stopped.stopped_at) == ("stopped", later + timedelta(days=7))
    assert stopped.slice == (0.0, 1.0)  # kept for the analysis
    with pytest.raises(Conflict, match="only a running one stops"):
        store.experiments.stop("x", later)
    with pytest.raises(Conflict):
        store.experiments.start("x", later)  # a stopped experiment never runs again


def test_unknown_ids_are_not_found(store: DataStore) -> None:
    with pytest.raises(NotFound):
        store.experiments.start("nope", NOW)
    with pytest.raises(NotFound):
        store.experiments.stop("nope", NOW)


def test_experiments_of_a_layer_get_disjoint_slices_and_freed_ones_are_reused(
    store: DataStore,
) -> None:
    for name, traffic in (("a", 0.5), ("b", 0.3), ("c", 0.3), ("d", 0.2)):
        store.experiments.create(draft(name, traffic=traffic))
    assert store.experiments.start("a", NOW).slice == (0.0, 0.5)
    assert store.experiments.start("b", NOW).slice == (0.5, 0.8)
    with pytest.raises(Conflict, match="no free share"):
        store.experiments.start("c", NOW)
    assert store.experiments.get("c") is not None
    assert store.experiments.get("c").status == "draft"  # type: ignore[union-attr]
    d = store.experiments.start("d", NOW).slice
    assert d is not None
    assert d == pytest.approx((0.8, 1.0))
    store.experiments.stop("a", NOW)
    assert store.experiments.start("c", NOW).slice == (0.0, 0.3)


def test_layers_are_independent_but_a_placement_keeps_to_one_layer(store: DataStore) -> None:
    store.experiments.create(draft("a", placement="home", layer="L1"))
    store.experiments.create(draft("b", placement="email", layer="L2"))
    store.experiments.create(draft("c", placement="home", layer="L3"))
    store.experiments.start("a", NOW)
    assert store.experiments.start("b", NOW).slice == (0.0, 1.0)  # another layer: all of it
    with pytest.raises(Conflict, match="must share a layer"):
        store.experiments.start("c", NOW)
