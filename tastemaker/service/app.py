"""The application factory."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from tastemaker import __version__
from tastemaker.config import Settings
from tastemaker.errors import ConfigurationError
from tastemaker.service import errors, openapi
from tastemaker.service.answers import Replays
from tastemaker.service.deps import KeyCache
from tastemaker.service.limits import BodyLimit
from tastemaker.service.routes import (
    events,
    experiments,
    health,
    items,
    metrics,
    placements,
    profiles,
    recommendations,
    segments,
    users,
)
from tastemaker.service.timing import RequestMetrics
from tastemaker.serving import runtime as serving
from tastemaker.serving.cache import RecommendationCache, open_cache
from tastemaker.serving.metrics import ServiceMetrics
from tastemaker.storage import DataStore, open_store

log = logging.getLogger(__name__)

INSECURE_BANNER = (
    "\n" + "!" * 78 + "\n"
    "!!  INSECURE DEVELOPMENT MODE: no API keys are checked and a built-in secret\n"
    "!!  encrypts personal data. Never expose this server or keep real data in it.\n" + "!" * 78
)


def check_startup(settings: Settings, store: DataStore) -> None:
    """Refuse to serve without API keys unless in insecure development mode."""
    if settings.insecure_dev:
        log.warning(INSECURE_BANNER)
        return
    if not store.keys.any_active():
        raise ConfigurationError(
            "no API key is configured: create one with `tastemaker keys create --scope write` "
            "(and `--scope read`), or start with --insecure-dev for local development"
        )


def create_app(
    settings: Settings, store: DataStore | None = None, cache: RecommendationCache | None = None
) -> FastAPI:
    """A Tastemaker API. Without ``store`` the lifespan opens (and migrates) the configured one;
    without ``cache`` the app opens the configured recommendation cache (and closes it)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        app.state.store = open_store(settings) if store is None else store
        try:
            check_startup(settings, app.state.store)
            app.state.profiles = await run_in_threadpool(profiles.start, settings, app.state.store)
            app.state.serving = await run_in_threadpool(
                serving.start, settings, app.state.store, app.state.profiles
            )
            _watch_models(app)
            app.state.metrics.watch_exposures(app.state.serving.exposures.counts)
            poller = asyncio.create_task(
                serving.poll_models(app.state.serving, settings.model_poll_seconds)
            )
            try:
                yield
            finally:
                poller.cancel()
                await run_in_threadpool(app.state.serving.exposures.close)
        finally:
            if own:
                app.state.store.close()
            if cache is None:
                app.state.cache.close()

    app = FastAPI(
        title="Tastemaker",
        version=__version__,
        summary="Personalized recommendations: ingest a catalog and events, get ranked lists",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Work handed to threads, bounded per kind: more threads only fight over the interpreter
    # lock. SQLite takes one writer at a time anyway.
    sqlite = settings.database_url.startswith("sqlite")
    app.state.ingest_limiter = anyio.CapacityLimiter(
        settings.ingest_concurrency or (1 if sqlite else 4)
    )
    app.state.read_limiter = anyio.CapacityLimiter(recommendations.READ_THREADS)
    app.state.replays = Replays()
    app.state.key_cache = KeyCache()
    app.state.cache = open_cache(settings) if cache is None else cache
    app.state.computes_on_loop = recommendations.computes_on_loop(settings)
    app.state.metrics = ServiceMetrics()
    if store is not None:
        app.state.store = store
    errors.install(app)
    openapi.install(app)
    for module in (health, items, users, profiles, events):
        app.include_router(module.router)
    app.include_router(segments.router)
    app.include_router(recommendations.router)
    app.include_router(placements.router)
    app.include_router(experiments.router)
    app.include_router(metrics.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)  # outermost: times the 413s
    return app


def _watch_models(app: FastAPI) -> None:
    """Report the model versions in the metrics, and drop every cached list when a model
    version is swapped in (the lists it would rank differently)."""
    runtime: serving.Serving = app.state.serving
    metrics: ServiceMetrics = app.state.metrics
    cache: RecommendationCache = app.state.cache

    def swapped(names: list[str]) -> None:
        cache.invalidate_all()
        for name, version in runtime.models.versions().items():
            metrics.model_version(name, version)

    runtime.on_swap.append(swapped)
    for name, version in runtime.models.versions().items():
        metrics.model_version(name, version)


def tune_server_process() -> None:
    """Prepare a server process whose app exists for a long life of requests.

    What exists now (modules, classes, the app) lives as long as the process. Frozen, it is
    left out of the collector's full passes, which large event batches trigger every few
    requests and which would otherwise rescan all of it each time. A 1,000-event batch
    allocates some 30,000 container objects; at the default threshold (700) that is ~40
    young-generation passes and several older ones per request. Measured on ingestion: ~10 %
    less CPU per batch and fewer latency spikes with these thresholds. Math runs on one thread
    (:func:`~tastemaker.serving.runtime.single_threaded_math`).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)
    serving.single_threaded_math()


def app_from_env() -> FastAPI:
    """An app configured from the environment, in a process tuned for serving
    (:func:`tune_server_process`), for process managers that import a factory:
    ``uvicorn --factory tastemaker.service.app:app_from_env --workers 4`` (what
    ``tastemaker serve --workers 4`` runs)."""
    from tastemaker.config import load_settings

    app = create_app(load_settings())
    tune_server_process()
    return app
