"""Recommendation answers as JSON: the documented response, its rendering and cached replays.

The pipeline's answer is rendered once into plain JSON-ready data (:func:`render`) and serialized
by pydantic-core's serializer: the pipeline has already produced every value with its type, so
building and validating pydantic models for each of its items (then dumping them twice) was
only cost. :class:`RecommendationsOut` documents the same document in the OpenAPI schema; a
test keeps the two equal.

Examples
--------
>>> from tastemaker.pipeline.pipeline import Recommendations
>>> r = Recommendations(recommendation_id="r-1", placement="homepage", user_id="u1", page=0,
...                     items=[], models={"als": 3}, segment=None, ranking="weighted")
>>> doc = render(r, "homepage")
>>> RecommendationsOut.model_validate(doc).model_dump() == doc
True
>>> encode(doc)[:40]
b'{"recommendation_id":"r-1","placement":"'
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from pydantic_core import to_json

from tastemaker.catalog.exposures import ExposedItem, Exposure
from tastemaker.experiments.assignment import Assignment
from tastemaker.pipeline.pipeline import Recommendations
from tastemaker.storage.types import from_micros


class ReasonOut(BaseModel):
    kind: str = Field(description="because_you_read, interest, similar, trending, popular, new …")
    text: str
    item_id: str | None = None
    tag: str | None = None


class RecommendedOut(BaseModel):
    item_id: str
    position: int = Field(description="0-based, counted across pages")
    score: float
    source: str = Field(description="The candidate source that contributed most")
    propensity: float = Field(
        default=1.0,
        description="Probability the item was chosen with: 1 for the ranking's choices, less "
        "for an exploration slot",
    )
    reasons: list[ReasonOut]
    contributions: dict[str, float] | None = Field(
        default=None, description="With explain=true: each source's (or feature's) share"
    )
    features: dict[str, float] | None = Field(
        default=None, description="With explain=true: the features the ranking saw"
    )


class RecommendationsOut(BaseModel):
    recommendation_id: str = Field(
        description="Echo it in events' context.recommendation_id; pass it back as "
        "recommendation_id for the next page"
    )
    placement: str
    user_id: str
    page: int
    items: list[RecommendedOut]
    models: dict[str, int] = Field(description="Model versions the answer used")
    segment: str | None
    ranking: str = Field(description="weighted, switching, learned or fallback")
    fallback: str | None = Field(
        default=None, description="Why a non-personalized answer was given, when it was"
    )
    degraded: list[str] = Field(default_factory=list)
    cached: bool = False
    experiment: str | None = Field(
        default=None, description="The experiment the user is in on this placement, if any"
    )
    arm: str | None = Field(
        default=None, description="The user's arm of the experiment ('holdout': held out)"
    )


def render(
    r: Recommendations, placement: str, assignment: Assignment | None = None
) -> dict[str, Any]:
    """The :class:`RecommendationsOut` document of an answer to a request for ``placement``
    (answered, under an experiment, with the configuration of the user's arm), with the
    contributions and features (the exposure log keeps them; :func:`hide_explanations`)."""
    return {
        "recommendation_id": r.recommendation_id,
        "placement": placement,
        "user_id": r.user_id,
        "page": r.page,
        "items": [
            {
                "item_id": i.item_id,
                "position": i.position,
                "score": i.score,
                "source": i.source,
                "propensity": i.propensity,
                "reasons": [
                    {"kind": x.kind, "text": x.text, "item_id": x.item_id, "tag": x.tag}
                    for x in i.reasons
                ],
                "contributions": i.contributions,
                "features": i.features,
            }
            for i in r.items
        ],
        "models": r.models,
        "segment": r.segment,
        "ranking": r.ranking,
        "fallback": r.fallback,
        "degraded": r.degraded,
        "cached": False,
        "experiment": assignment.experiment if assignment else None,
        "arm": assignment.arm if assignment else None,
    }


def hide_explanations(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as sent without ``explain``: no contributions or features (changed in place)."""
    for item in doc["items"]:
        item["contributions"] = item["features"] = None
    return doc


def encode(doc: dict[str, Any]) -> bytes:
    """Compact JSON, NaN and infinities as ``null`` (as pydantic writes a model's floats)."""
    return to_json(doc, inf_nan_mode="null")


def exposure_of(doc: dict[str, Any], now: datetime, context: dict[str, Any]) -> Exposure:
    """The exposure to log for a rendered answer (built without validating again: every value
    was produced and validated by the pipeline)."""
    items = [
        ExposedItem.model_construct(
            item_id=i["item_id"],
            position=i["position"],
            score=i["score"],
            source=i["source"],
            propensity=i.get("propensity"),
            features=i["features"] or {},
        )
        for i in doc["items"]
    ]
    return Exposure.model_construct(
        recommendation_id=doc["recommendation_id"],
        user_id=doc["user_id"],
        placement=doc["placement"],
        created_at=now,
        page=doc["page"],
        items=items,
        models=doc["models"],
        context=context,
        experiment=doc.get("experiment"),
        arm=doc.get("arm"),
        fallback=doc["fallback"],
    )


_RID = "\u0000rid\u0000"


class Replays:
    """Cached answers already parsed: the response around its recommendation id, and the
    exposure to log, per cached document (bounded; the oldest go first)."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._parsed: dict[tuple[bytes, bool], tuple[bytes, bytes, Exposure]] = {}
        self._lock = threading.Lock()

    def get(self, cached: bytes, explain: bool) -> tuple[bytes, bytes, Exposure]:
        """The answer before and after its recommendation id, and its exposure (to be given
        its own id, time and context)."""
        key = (cached, explain)
        found = self._parsed.get(key)
        if found is not None:
            return found
        doc = json.loads(cached)
        doc["cached"] = True
        exposure = exposure_of(doc, from_micros(0), {})
        doc["recommendation_id"] = _RID
        if not explain:
            hide_explanations(doc)
        text = json.dumps(doc, separators=(",", ":"))
        head, tail = text.split(json.dumps(_RID)[1:-1], 1)
        found = (head.encode(), tail.encode(), exposure)
        with self._lock:
            if len(self._parsed) >= self.capacity:
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[key] = found
        return found
