"""Exposures: what a recommendation response showed, to whom, why and with what probability.

Every response of the read path is logged as an :class:`Exposure` so that later events carrying
its ``recommendation_id`` can be attributed to the placement, model versions, experiment arm and
position, rankers can be retrained on the features they were served with, and bandit policies
can be evaluated off-policy from the logged propensities.

>>> from datetime import UTC, datetime
>>> exposure = Exposure(
...     recommendation_id="r-1",
...     user_id="u1",
...     placement="home",
...     created_at=datetime(2026, 3, 1, tzinfo=UTC),
...     items=[ExposedItem(item_id="a", position=0, score=0.9, source="als")],
...     models={"als": 3},
... )
>>> exposure.item_ids()
['a']
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import to_json

from tastemaker.catalog.common import ExternalId, UtcDatetime


def _no_infinity(value: float) -> float:
    if math.isinf(value):
        raise ValueError("a feature value must be finite, or NaN when it is missing")
    return value + 0.0  # -0.0 → 0.0: SQLite stores it as 0, and hashes must survive storage


FeatureValue = Annotated[float, AfterValidator(_no_infinity)]
"""A ranker feature: finite, or NaN for a missing value (stored as JSON ``null``)."""

Name = Annotated[str, Field(min_length=1, max_length=128)]


class ExposedItem(BaseModel):
    """One item of a recommendation list as it was shown."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("score", "propensity")
    @classmethod
    def _no_negative_zero(cls, value: float | None) -> float | None:
        # SQLite stores -0.0 as 0: normalized here so a stored exposure hashes as logged.
        return None if value is None else value + 0.0

    item_id: ExternalId
    position: int = Field(ge=0, description="0-based position within the whole list, all pages")
    score: float = Field(allow_inf_nan=False, description="The final score the list was ranked by")
    source: Name | None = Field(
        default=None, description="The candidate source that produced the item, e.g. 'als'"
    )
    propensity: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Probability the policy chose this item"
    )
    features: dict[str, FeatureValue] = Field(
        default_factory=dict, description="The ranker features used (NaN: missing)"
    )


class Exposure(BaseModel):
    """One page of one recommendation response.

    A response is identified by ``recommendation_id``; every further page of the same list is
    its own exposure with the same id and the next ``page``. Positions count across pages.
    """

    model_config = ConfigDict(extra="forbid")

    recommendation_id: Name
    user_id: ExternalId = Field(description="External id of the user, or an anonymous session id")
    placement: Name
    created_at: UtcDatetime
    page: int = Field(default=0, ge=0, description="0 for the first page")
    items: list[ExposedItem] = Field(default_factory=list)
    models: dict[str, int] = Field(default_factory=dict, description="Model name → version used")
    context: dict[str, Any] = Field(default_factory=dict, description="Free-form JSON")
    experiment: Name | None = None
    arm: Name | None = None
    fallback: str | None = Field(
        default=None, description="Why a non-personalized fallback answered, if one did"
    )

    @model_validator(mode="after")
    def _positions_unique(self) -> Exposure:
        positions = [i.position for i in self.items]
        if len(set(positions)) != len(positions):
            raise ValueError("every item of an exposure needs its own position")
        return self

    def item_ids(self) -> list[str]:
        """The shown item ids in list order."""
        return [i.item_id for i in self.items]

    def content_hash(self, features: Sequence[str] | None = None) -> bytes:
        """SHA-256 of the content: equal for equal exposures, whatever the order of their dicts.

        ``features`` are the items' :func:`features_json`, if the caller has them already.
        """
        digest = hashlib.sha256(_SERIALIZER.to_json(self, exclude=_FREE_FORM))
        for text in features if features is not None else map(features_json, self.items):
            digest.update(b"\0" + text.encode())
        free = json.dumps([self.models, self.context], sort_keys=True, separators=(",", ":"))
        digest.update(b"\0" + free.encode())
        return digest.digest()


def features_json(item: ExposedItem) -> str:
    """An item's features as canonical JSON: keys sorted, NaN (JSON has none) as ``null``.

    >>> features_json(ExposedItem(item_id="a", position=0, score=1.0, features={"b": 2, "a": 1}))
    '{"a":1.0,"b":2.0}'
    """
    if not item.features:
        return "{}"
    return to_json(dict(sorted(item.features.items())), inf_nan_mode="null").decode()


_SERIALIZER = Exposure.__pydantic_serializer__
_FREE_FORM: Any = {"models": True, "context": True, "items": {"__all__": {"features"}}}
"""What ``content_hash`` hashes with sorted keys instead of in the schema's own order."""
