"""``tastemaker train-ranker``: the learned ranker of the placements, into the model registry.

From history (the default): the configured source models are fitted on the interactions before a
time cut, propose candidates to the users active after it, and LightGBM LambdaRank learns to
put what those users went on to do first (:meth:`LearnedRanker.fit`). From exposures: the
logged exposures, with the features they were served with, labelled by the events attributed to
them (``context.recommendation_id``), so the ranker learns from what was really shown, without
train/serve skew (:meth:`LearnedRanker.fit_exposures`).

The ranker is stored under ``name`` (``ranker``) and made live; servers load it with the next
model poll. Placements whose ``ranking.kind`` is ``learned`` use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tastemaker.config import Settings
from tastemaker.errors import ConfigurationError, FieldProblem, InvalidInput
from tastemaker.models.catalog import model_class
from tastemaker.ranking import CandidateSources, LearnedRanker, RankerConfig
from tastemaker.ranking.examples import exposure_labels
from tastemaker.storage import DataStore
from tastemaker.storage.base import ModelVersion
from tastemaker.training.trainer import Snapshot, segment_labels

KIND = "learned_ranker"


@dataclass(frozen=True)
class RankerOutcome:
    version: ModelVersion
    examples: int
    source: str


def train_ranker(
    store: DataStore,
    settings: Settings,
    now: datetime,
    *,
    name: str = "ranker",
    from_exposures: bool = False,
) -> RankerOutcome:
    """Train the learned ranker and make it live; see the module docstring."""
    spec = settings.training.ranker
    config = RankerConfig.model_validate(spec.params)
    labels = segment_labels(store, settings, now)
    if from_exposures:
        exposures = store.exposures.frame()
        if exposures.empty:
            raise ConfigurationError("there are no logged exposures to learn from yet")
        events = store.snapshot.events(detail=True)
        labelled = exposure_labels(exposures, events, settings.feedback, config.grade_thresholds)
        ranker = LearnedRanker(config).fit_exposures(
            labelled, segments=sorted(set(labels.values())) if labels else None
        )
        n, origin = len(labelled), "exposures"
    else:
        unknown = [s for s in spec.sources if s not in settings.training.models]
        if unknown:
            raise InvalidInput(
                "the ranker's sources must be configured models",
                [
                    FieldProblem(
                        field="training.ranker.sources", reason=f"{s!r} is not in training.models"
                    )
                    for s in unknown
                ],
            )
        snap = Snapshot.load(store, settings)
        if snap.feedback.empty:
            raise ConfigurationError("there are no usable events to train on")
        models = {
            s: model_class(settings.training.models[s].model)(**settings.training.models[s].params)
            for s in spec.sources
        }
        sources = CandidateSources(models, config.candidates)
        ranker = LearnedRanker(config).fit(snap.feedback, sources, snap.items, segments=labels)
        n, origin = len(snap.feedback), "history"
    version = store.models.save(
        name,
        KIND,
        ranker.to_bytes(),
        config.model_dump(mode="json"),
        {"trained_from": origin, "rows": n, "sources": ranker.sources_},
        now,
    )
    version = store.models.activate(name, version.version)
    store.models.prune(name, settings.training.keep_versions)
    return RankerOutcome(version, n, origin)
