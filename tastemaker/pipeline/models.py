"""The trained models a server answers with, hot-swapped when a new version goes live.

:class:`ModelSet` holds the active version of every model the placements read. ``refresh``
compares the registry's active versions with the loaded ones (one cheap query per model) and
loads what changed *beside* the old version, then swaps the whole mapping in one assignment:
a request that started on the old version finishes on it, the next one gets the new version,
and no request waits for a load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tastemaker.errors import TastemakerError
from tastemaker.models.base import Recommender
from tastemaker.ranking import LearnedRanker
from tastemaker.storage.base import DataStore

log = logging.getLogger(__name__)


RANKER_KIND = "learned_ranker"
"""Registry kind of the learned rankers (``tastemaker train-ranker``)."""


@dataclass(frozen=True)
class LoadedRanker:
    """One active learned-ranker version in memory."""

    name: str
    version: int
    ranker: LearnedRanker


@dataclass(frozen=True)
class LoadedModel:
    """One active model version in memory."""

    name: str
    version: int
    kind: str
    model: Recommender[Any]
    trained_at_micros: int
    """When the version was stored: events received later are folded in at request time."""


class ModelSet:
    """The active versions of the named models, loaded from the registry.

    Parameters
    ----------
    store
        The store whose registry holds the models.
    """

    def __init__(self, store: DataStore) -> None:
        self.store = store
        self._models: dict[str, LoadedModel] = {}
        self._rankers: dict[str, LoadedRanker] = {}
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()  # one refresh at a time; readers never take it

    def get(self, name: str) -> LoadedModel | None:
        return self._models.get(name)

    def ranker(self, name: str) -> LoadedRanker | None:
        return self._rankers.get(name)

    def versions(self) -> dict[str, int]:
        out = {name: m.version for name, m in self._models.items()}
        out.update((name, r.version) for name, r in self._rankers.items())
        return out

    def failures(self) -> Mapping[str, str]:
        """Models that could not be loaded, with the reason."""
        return dict(self._failed)

    def refresh(self, names: Iterable[str]) -> list[str]:
        """Load the active version of each named model where it changed; returns the names
        swapped in. A model whose load fails keeps its previous version (or stays absent) and
        is reported by :meth:`failures`."""
        from tastemaker.storage.types import to_micros

        with self._lock:
            current: dict[str, LoadedModel | LoadedRanker] = {**self._models, **self._rankers}
            changed: list[str] = []
            for name in sorted(set(names)):
                try:
                    record = self.store.models.active(name)
                except TastemakerError as exc:
                    self._failed[name] = str(exc)
                    continue
                if record is None:
                    if name in current:
                        del current[name]
                        changed.append(name)
                    continue
                loaded = current.get(name)
                if loaded is not None and loaded.version == record.version:
                    continue
                try:
                    blob = self.store.models.blob(name, record.version)
                    fresh: LoadedModel | LoadedRanker = (
                        LoadedRanker(name, record.version, LearnedRanker.from_bytes(blob))
                        if record.kind == RANKER_KIND
                        else LoadedModel(
                            name,
                            record.version,
                            record.kind,
                            Recommender.from_bytes(blob),
                            to_micros(record.created_at),
                        )
                    )
                except Exception as exc:  # a corrupt or incompatible artifact must not stop serving
                    log.exception("could not load model %s version %s", name, record.version)
                    self._failed[name] = f"version {record.version}: {exc}"
                    continue
                self._failed.pop(name, None)
                current[name] = fresh
                changed.append(name)
            # One assignment each: readers see the old or the new mapping, never a mix within.
            self._models = {n: m for n, m in current.items() if isinstance(m, LoadedModel)}
            self._rankers = {n: m for n, m in current.items() if isinstance(m, LoadedRanker)}
        for name in changed:
            log.info("model %s now serves version %s", name, self.versions().get(name, "-"))
        return changed
