"""Segmentations in the model registry: saved under ``segments`` (kind ``segmentation``)."""

from __future__ import annotations

from datetime import datetime

from tastemaker.errors import NotFound
from tastemaker.profiles.segments.artifact import REGISTRY_KIND, REGISTRY_NAME, Segmentation
from tastemaker.storage.base import DataStore, ModelVersion


def save_segmentation(
    store: DataStore, segmentation: Segmentation, now: datetime, activate: bool = True
) -> ModelVersion:
    """Store a segmentation as a new version (made the served one unless ``activate=False``).

    The version's config is the :class:`SegmentationConfig`; its metrics are
    :meth:`Segmentation.metrics` (k, silhouette, BIC, share of unsegmented users, users).
    """
    return store.models.save(
        REGISTRY_NAME,
        REGISTRY_KIND,
        segmentation.to_bytes(),
        config=segmentation.config.model_dump(mode="json"),
        metrics=segmentation.metrics(),
        now=now,
        activate=activate,
    )


def load_segmentation(
    store: DataStore, version: int | None = None
) -> tuple[ModelVersion, Segmentation] | None:
    """A stored segmentation: ``version``, or the active one; ``None`` when there is none.

    Raises :class:`~tastemaker.errors.NotFound` for an unknown explicit ``version``.
    """
    if version is None:
        record = store.models.active(REGISTRY_NAME)
        if record is None:
            return None
    else:
        found = [v for v in store.models.versions(REGISTRY_NAME) if v.version == version]
        if not found:
            raise NotFound(f"no version {version} of the segmentation")
        record = found[0]
    return record, Segmentation.from_bytes(store.models.blob(REGISTRY_NAME, record.version))
