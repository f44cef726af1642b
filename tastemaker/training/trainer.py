"""`tastemaker train`: fit the configured models on the store and publish them behind a gate.

For each model: measure it on a chronological holdout of the current data, fit it on all data,
save the artifact as a new version, and make it the served version only if its gate metric is at
least ``(1 - gate_tolerance)`` × the active version's recorded figure (or there is none, or the
caller forces it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from tastemaker.config import ModelSpec, Settings
from tastemaker.errors import ConfigurationError, FieldProblem, InvalidInput
from tastemaker.models.catalog import model_class
from tastemaker.models.data import Dataset, classify_events
from tastemaker.storage.base import DataStore, ModelVersion
from tastemaker.training.holdout import Holdout, ModelScore, score_model

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainOutcome:
    """What training one model did."""

    name: str
    version: ModelVersion
    score: ModelScore | None
    activated: bool
    reason: str


@dataclass(frozen=True)
class Snapshot:
    """Everything training reads from the store, read once."""

    feedback: pd.DataFrame
    items: pd.DataFrame

    @classmethod
    def load(cls, store: DataStore, settings: Settings) -> Snapshot:
        events = store.snapshot.events()
        items = store.snapshot.items()
        return cls(feedback=classify_events(events, settings.feedback), items=items)


def train(
    store: DataStore,
    settings: Settings,
    now: datetime,
    names: Sequence[str] | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
    snapshot: Snapshot | None = None,
) -> list[TrainOutcome]:
    """Train the named models (all configured ones by default); see the module docstring."""
    cfg = settings.training
    chosen = list(names) if names else list(cfg.models)
    unknown = [n for n in chosen if n not in cfg.models]
    if unknown:
        raise InvalidInput(
            "unknown model name(s)",
            [
                FieldProblem(
                    field="model",
                    reason=f"{n!r} is not in training.models ({', '.join(cfg.models)})",
                )
                for n in unknown
            ],
        )
    for n in chosen:  # fail before any work if a model or parameter is wrong
        model_class(cfg.models[n].model)(**cfg.models[n].params)
    say = progress or (lambda _msg: None)
    say("reading the store")
    snap = snapshot or Snapshot.load(store, settings)
    if snap.feedback.empty:
        raise ConfigurationError(
            "there are no usable events to train on: import events or run `tastemaker demo-data`"
        )
    labels = None
    if any(_uses_segments(cfg.models[n]) for n in chosen):
        say("labelling users by the active segmentation")
        labels = segment_labels(store, settings, now)
    holdout = Holdout.split(
        snap.feedback,
        snap.items,
        test_fraction=cfg.test_fraction,
        min_interactions=cfg.min_user_interactions,
        segments=labels,
    )
    train_data = holdout.dataset()
    full_data = Dataset.from_feedback(snap.feedback, snap.items)
    if labels is not None:
        full_data = full_data.with_segments(labels)
    outcomes = []
    for name in chosen:
        spec = cfg.models[name]
        score: ModelScore | None = None
        if not holdout.test.empty:
            say(f"{name}: measuring on the holdout")
            score = score_model(name, spec, holdout, data=train_data)
        say(f"{name}: fitting on all {len(snap.feedback):,} interactions")
        model = model_class(spec.model)(**spec.params).fit(full_data)
        metrics = score.as_dict() if score else {}
        version = store.models.save(
            name, spec.model, model.to_bytes(), model.get_config(), metrics, now
        )
        activated, reason = _gate(store, name, score, cfg.gate_metric, cfg.gate_tolerance, force)
        if activated:
            version = store.models.activate(name, version.version)
        store.models.prune(name, cfg.keep_versions)
        say(
            f"{name}: version {version.version} {'is live' if activated else 'kept as candidate'}"
            f" ({reason})"
        )
        outcomes.append(TrainOutcome(name, version, score, activated, reason))
    return outcomes


def _uses_segments(spec: ModelSpec) -> bool:
    return spec.model == "segmented" or bool(spec.params.get("by_segment"))


def segment_labels(store: DataStore, settings: Settings, now: datetime) -> dict[str, str] | None:
    """Every user's segment by the active segmentation (``None`` when none is trained)."""
    from tastemaker.profiles.segments.registry import load_segmentation
    from tastemaker.profiles.segments.training import label_store

    loaded = load_segmentation(store)
    if loaded is None:
        return None
    _, segmentation = loaded
    return {str(k): str(v) for k, v in label_store(store, settings, segmentation, now).items()}


def _gate(
    store: DataStore,
    name: str,
    score: ModelScore | None,
    metric: str,
    tolerance: float,
    force: bool,
) -> tuple[bool, str]:
    if force:
        return True, "forced"
    active = store.models.active(name)
    if active is None:
        return True, "first version"
    before = active.metrics.get("metrics", {}).get(metric)
    if score is None or before is None:
        return True, f"no {metric} to compare"
    now_value = score.metric(metric)
    floor = (1.0 - tolerance) * float(before)
    if now_value >= floor:
        return True, f"{metric} {now_value:.4f} ≥ {floor:.4f}"
    return False, f"{metric} {now_value:.4f} < {floor:.4f} (active {float(before):.4f})"
