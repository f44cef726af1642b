"""The serving state of an app: the pipeline, its models and catalog, and their refresh.

Models are polled every ``settings.model_poll_seconds``: a version that went live
(``tastemaker train``, from any process) is loaded beside the old one and swapped in atomically,
so no request is dropped or waits for the load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tastemaker.config import Settings
from tastemaker.errors import NotFound
from tastemaker.pipeline.catalog import LiveCatalog, ServingCatalog
from tastemaker.pipeline.config import PlacementConfig, default_placements
from tastemaker.pipeline.models import ModelSet
from tastemaker.pipeline.pipeline import Pipeline
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
    """Called with the names of the models a refresh swapped (cache invalidation, metrics)."""

    def model_names(self) -> set[str]:
        names: set[str] = {"content", "item_knn"}  # similar items
        for config in self.pipeline.placements.values():
            names |= config.models()
        return names

    def refresh_models(self) -> list[str]:
        changed = self.models.refresh(self.model_names())
        if changed:
            for hook in self.on_swap:
                hook(changed)
        return changed

    def set_placements(self, placements: Mapping[str, PlacementConfig]) -> None:
        self.pipeline.placements = dict(placements)  # one assignment: requests see old or new


def placements_of(settings: Settings) -> dict[str, PlacementConfig]:
    """The built-in placements overridden (by name) and extended by the settings'."""
    return {**default_placements(), **settings.placements}


def start(settings: Settings, store: DataStore, profiles: ProfileUpdater | None) -> Serving:
    """Load the catalog and the active models; build the pipeline."""
    catalog = LiveCatalog(ServingCatalog.from_items(store.items.iterate()))
    models = ModelSet(store)
    writer = ExposureWriter(store)
    pipeline = Pipeline(
        settings,
        store,
        models,
        catalog,
        placements_of(settings),
        profiles,
        shown=lambda rid, user_id: shown_before(store, writer, rid, user_id),
    )
    serving = Serving(pipeline, models, catalog, writer)
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
        raise NotFound(f"no recommendation {recommendation_id!r} for this user")
    shown = {i.item_id for e in pages.values() for i in e.items}
    return max(pages) + 1, shown


async def poll_models(serving: Serving, interval: float) -> None:
    """Hot-swap new model versions until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(serving.refresh_models)
        except Exception:  # the store may be briefly unavailable: try again next time
            log.exception("checking for new model versions failed")
