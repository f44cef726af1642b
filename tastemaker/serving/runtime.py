"""The serving state of an app: the pipeline, its models and catalog, and their refresh.

Models are polled every ``settings.model_poll_seconds``: a version that went live
(``tastemaker train``, from any process) is loaded beside the old one and swapped in atomically,
so no request is dropped or waits for the load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from tastemaker.config import Settings
from tastemaker.errors import ConfigurationError, UnknownRecommendation
from tastemaker.experiments.assignment import RunningExperiments
from tastemaker.experiments.definition import Experiment
from tastemaker.pipeline.catalog import LiveCatalog, ServingCatalog
from tastemaker.pipeline.config import PlacementConfig, default_placements
from tastemaker.pipeline.learned import FeatureBuilders, LearnedRanking
from tastemaker.pipeline.models import LoadedModel, LoadedRanker, ModelSet
from tastemaker.pipeline.pipeline import Pipeline
from tastemaker.pipeline.state import RecommendationRequest
from tastemaker.profiles import ProfileUpdater
from tastemaker.serving.exposures import ExposureWriter
from tastemaker.storage import DataStore

log = logging.getLogger(__name__)


@dataclass
class Serving:
    """What the read path of one process holds."""

    pipeline: Pipeline
    models: ModelSet
    catalog: LiveCatalog
    exposures: ExposureWriter
    on_swap: list[Callable[[list[str]], None]] = field(default_factory=list)
    """Called with the names of the models a refresh swapped, or with none when placements
    changed (cache invalidation, metrics)."""
    placements_revision: int = -1
    builders: FeatureBuilders = field(init=False)
    experiments: RunningExperiments = field(default_factory=lambda: RunningExperiments([]))
    """The running experiments, reloaded with the models (see :meth:`refresh_experiments`)."""

    def __post_init__(self) -> None:
        self.builders = FeatureBuilders(self.pipeline.store, self.pipeline.settings.feedback)

    def model_names(self) -> set[str]:
        names: set[str] = {"content", "item_knn"}  # similar items
        for config in self.pipeline.placements.values():
            names |= config.models()
            if config.ranking.kind == "learned":
                names.add(config.ranking.ranker)
        return names

    def learned(
        self, config: PlacementConfig, request: RecommendationRequest, now: int
    ) -> LearnedRanking | None:
        """The placement's learned ranker for a request, or ``None`` while it is not trained,
        none of its sources is loaded, or its features are still being indexed."""
        found = self._ranker(config.ranking.ranker)
        if found is None:
            return None
        loaded, source = found
        ready = self.builders.ready(loaded, source)
        if ready is None:  # its features are being indexed (just swapped in)
            return None
        builder, read_at = ready
        context = dict(request.context)
        return LearnedRanking(loaded, builder, now, context, since=read_at)

    def _ranker(self, name: str) -> tuple[LoadedRanker, LoadedModel] | None:
        """A loaded ranker and the first of its sources that is loaded."""
        loaded = self.models.ranker(name)
        if loaded is None:
            return None
        source = next(
            (m for s in loaded.ranker.sources_ if (m := self.models.get(s)) is not None), None
        )
        return None if source is None else (loaded, source)

    def prepare_rankers(self) -> None:
        """Index the features of every learned ranker the placements use, ahead of requests
        (after a swap, a ranker's first request would otherwise wait for it)."""
        for config in list(self.pipeline.placements.values()):
            if config.ranking.kind == "learned":
                found = self._ranker(config.ranking.ranker)
                if found is not None:
                    self.builders.get(*found)

    def refresh_models(self) -> list[str]:
        changed = self.models.refresh(self.model_names())
        if changed:
            self.prepare_rankers()
            for hook in self.on_swap:
                hook(changed)
        return changed

    def set_placements(self, placements: Mapping[str, PlacementConfig]) -> None:
        self.pipeline.placements = dict(placements)  # one assignment: requests see old or new

    def rebuild_exploration(self) -> dict[str, int]:
        """The exploration bandits of the placements that explore, from the exposure log."""
        pipeline = self.pipeline
        if not any(p.exploration.count(p.k) for p in pipeline.placements.values()):
            return {}
        return pipeline.exploration.rebuild_from(pipeline.store, pipeline.settings.feedback)

    def refresh_placements(self) -> bool:
        """Reload the placements if any was changed through the API (by any replica)."""
        revision = self.pipeline.store.placements.revision()
        if revision == self.placements_revision:
            return False
        self.set_placements(load_placements(self.pipeline.settings, self.pipeline.store))
        self.placements_revision = revision
        for hook in self.on_swap:
            hook([])
        return True

    def refresh_experiments(self) -> bool:
        """Reload the running experiments if any started or stopped (in any process)."""
        running = RunningExperiments(load_experiments(self.pipeline.store))
        if running.fingerprint() == self.experiments.fingerprint():
            return False
        self.experiments = running  # one assignment: requests see the old set or the new
        return True


def load_experiments(store: DataStore) -> list[Experiment]:
    """The running experiments; one whose stored definition no longer validates is skipped
    with an error in the log (its requests are answered without it)."""
    out = []
    for stored in store.experiments.list("running"):
        try:
            out.append(Experiment.from_stored(stored))
        except ValidationError:
            log.exception("stored experiment %s is invalid; not served", stored.experiment_id)
    return out


def configured_placements(settings: Settings) -> dict[str, PlacementConfig]:
    """The built-in placements overridden (by name) and extended by the settings'."""
    return {**default_placements(), **settings.placements}


def load_placements(settings: Settings, store: DataStore) -> dict[str, PlacementConfig]:
    """The configured placements, overridden and extended by those stored through the API.

    A stored configuration that no longer validates (the schema changed) is skipped with an
    error in the log; the configured one of that name, if any, serves instead.
    """
    out = configured_placements(settings)
    for name, (version, config) in store.placements.list().items():
        try:
            out[name] = PlacementConfig.model_validate(config)
        except ValidationError:
            log.exception("stored placement %s version %d is invalid; not served", name, version)
    return out


def check_placements(settings: Settings) -> None:
    """Placements of the settings must name configured models (built-in ones may name models
    a deployment removed: they answer with the rest, saying which source is missing)."""
    known = set(settings.training.models)
    bad = [
        f"placements.{name}.{field}: {model!r}"
        for name, config in settings.placements.items()
        for field, model in config.unknown_models(known)
    ]
    if bad:
        raise ConfigurationError(
            "placements name models that training.models does not configure: " + "; ".join(bad)
        )


def start(settings: Settings, store: DataStore, profiles: ProfileUpdater | None) -> Serving:
    """Load the catalog and the active models; build the pipeline."""
    check_placements(settings)
    catalog = LiveCatalog(ServingCatalog.from_items(store.items.iterate()))
    models = ModelSet(store)
    writer = ExposureWriter(store)
    pipeline = Pipeline(
        settings,
        store,
        models,
        catalog,
        load_placements(settings, store),
        profiles,
        shown=lambda rid, user_id: shown_before(store, writer, rid, user_id),
    )
    serving = Serving(pipeline, models, catalog, writer)
    pipeline.learned = serving.learned
    serving.placements_revision = store.placements.revision()
    serving.rebuild_exploration()
    serving.refresh_experiments()
    loaded = serving.refresh_models()
    log.info(
        "serving: %d items, models loaded: %s", len(catalog.current), ", ".join(loaded) or "none"
    )
    return serving


def shown_before(
    store: DataStore, writer: ExposureWriter, recommendation_id: str, user_id: str
) -> tuple[int, set[str]]:
    """The next page number of a recommendation and the items its pages showed (queued
    exposures included, so an immediate next page does not repeat them)."""
    pages = {e.page: e for e in store.exposures.get(recommendation_id)}
    pages.update((e.page, e) for e in writer.pending(recommendation_id))
    if not pages or any(e.user_id != user_id for e in pages.values()):
        # Another user's id is reported like an unknown one: ids must not leak lists.
        raise UnknownRecommendation(recommendation_id)
    shown = {i.item_id for e in pages.values() for i in e.items}
    return max(pages) + 1, shown


EXPLORATION_REBUILD_SECONDS = 60.0
"""How often the exploration bandits are rebuilt from the exposure log and the attributed
events (every replica then agrees). Between rebuilds a bandit keeps what it last learnt:
outcomes reach it with the next rebuild, not at once."""


async def poll_models(serving: Serving, interval: float) -> None:
    """Hot-swap new model versions, changed placements and experiments until cancelled;
    rebuild the exploration bandits from the log now and then."""
    last_rebuild = time.monotonic()
    while True:
        await asyncio.sleep(interval)
        if time.monotonic() - last_rebuild >= EXPLORATION_REBUILD_SECONDS:
            last_rebuild = time.monotonic()
            try:
                await asyncio.to_thread(serving.rebuild_exploration)
            except Exception:
                log.exception("rebuilding the exploration bandits failed")
        try:
            await asyncio.to_thread(serving.refresh_models)
            await asyncio.to_thread(serving.refresh_placements)
            await asyncio.to_thread(serving.refresh_experiments)
        except Exception:  # the store may be briefly unavailable: try again next time
            log.exception("checking for new model versions failed")


def single_threaded_math() -> None:
    """One BLAS/OpenMP thread per server process: a request's small products and solves run
    several times slower when the math library spreads them over threads that compete with the
    server's own (bench/serve.py: 25–28 → 14–18 ms of CPU per cold request). Scale with more
    processes instead."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
