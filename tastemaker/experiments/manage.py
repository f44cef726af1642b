"""Creating, starting and stopping experiments: what the API and the CLI both call."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from tastemaker.errors import NotFound
from tastemaker.experiments.definition import Experiment, ExperimentSpec, check_references
from tastemaker.experiments.planning import resolve
from tastemaker.storage import DataStore

__all__ = [
    "create_experiment",
    "get_experiment",
    "list_experiments",
    "start_experiment",
    "stop_experiment",
]


def create_experiment(
    store: DataStore,
    spec: ExperimentSpec,
    placements: Collection[str],
    event_types: Collection[str],
    now: datetime,
) -> Experiment:
    """Store ``spec`` as a draft; ``InvalidInput`` if it names an unknown placement or event
    type or has no horizon, ``Conflict`` if the id is taken."""
    check_references(spec, placements, event_types)
    experiment = resolve(spec, now)
    store.experiments.create(experiment.to_stored())
    return experiment


def get_experiment(store: DataStore, experiment_id: str) -> Experiment:
    stored = store.experiments.get(experiment_id)
    if stored is None:
        raise NotFound(f"no experiment {experiment_id!r}")
    return Experiment.from_stored(stored)


def list_experiments(store: DataStore, status: str | None = None) -> list[Experiment]:
    return [Experiment.from_stored(s) for s in store.experiments.list(status)]


def start_experiment(
    store: DataStore,
    experiment_id: str,
    placements: Collection[str],
    event_types: Collection[str],
    now: datetime,
) -> Experiment:
    """Start a draft. Its placements are checked again: one may have gone since it was
    created."""
    check_references(get_experiment(store, experiment_id), placements, event_types)
    return Experiment.from_stored(store.experiments.start(experiment_id, now))


def stop_experiment(store: DataStore, experiment_id: str, now: datetime) -> Experiment:
    return Experiment.from_stored(store.experiments.stop(experiment_id, now))
