"""Every model by name, imported only when asked for."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from tastemaker.errors import ConfigurationError
from tastemaker.models.base import Recommender

MODELS: dict[str, str] = {
    "popularity": "tastemaker.models.popularity:Popularity",
    "item_knn": "tastemaker.models.item_knn:ItemKNN",
    "ease": "tastemaker.models.ease:EASE",
    "als": "tastemaker.models.als:ALS",
    "content": "tastemaker.models.content:ContentBased",
    "segmented": "tastemaker.models.segmented:SegmentedRecommender",
}


def model_class(name: str) -> type[Recommender[Any]]:
    """The class registered under ``name``."""
    try:
        module, _, attr = MODELS[name].partition(":")
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ConfigurationError(f"unknown model {name!r}; known: {known}") from None
    cls: type[Recommender[Any]] = getattr(import_module(module), attr)
    return cls
