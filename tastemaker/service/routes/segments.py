"""``/v1/segments``: the user segments of the active segmentation.

The active version of the model ``segments`` is read from the registry; the loaded artifact is
cached in ``app.state`` per version, so a new ``tastemaker segment`` run is served on the next
request without a restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from tastemaker.errors import NotFound
from tastemaker.profiles.segments import REGISTRY_NAME, Segmentation, SegmentInfo
from tastemaker.service.deps import ReadKey, StoreDep
from tastemaker.service.schemas import error_responses
from tastemaker.storage.base import ModelVersion

router = APIRouter(prefix="/v1/segments", tags=["segments"])
_AUTH = (401, 403, 503)
_CACHE = "segmentation"


class SegmentSummary(BaseModel):
    """One segment in a list."""

    id: int = Field(description="The segment's id in this version; -1 is 'Unsegmented'")
    name: str = Field(examples=["Loyal Tech Readers"])
    description: str
    size: int = Field(description="Users in the segment when it was fitted")
    share: float = Field(description="The segment's share of those users")


class SegmentList(BaseModel):
    """The segments of the active segmentation."""

    version: int = Field(description="Version of the model 'segments'")
    method: str = Field(examples=["kmeans"])
    trained_at: datetime
    users: int = Field(description="Users the segmentation was fitted on")
    features: list[str] = Field(description="The features clustered on")
    segments: list[SegmentSummary]


class FeatureDistinction(BaseModel):
    """How far the segment's mean of a feature lies from all users' mean."""

    feature: str = Field(examples=["tag_share:Technology"])
    z: float = Field(description="(segment mean − overall mean) / overall standard deviation")
    mean: float | None
    overall: float | None


class PopularItem(BaseModel):
    """An item many of the segment's users interacted with positively."""

    item_id: str
    title: str | None = None
    users: int = Field(description="The segment's users who interacted with it")
    share: float = Field(description="Their share of the segment")


class SegmentDetail(SegmentSummary):
    """One segment: what distinguishes it, its statistics and its popular items."""

    version: int
    distinguishing: list[FeatureDistinction]
    statistics: dict[str, float | None] = Field(
        description="Mean of every feature over the segment's users (missing values left out)"
    )
    top_items: list[PopularItem]


def active_segmentation(request: Request, store: StoreDep) -> tuple[ModelVersion, Segmentation]:
    """The active segmentation, loaded once per version."""
    record = store.models.active(REGISTRY_NAME)
    if record is None:
        raise NotFound(
            "no segmentation has been trained yet: run `tastemaker segment` to create one"
        )
    key = (record.version, record.created_at)
    cached = getattr(request.app.state, _CACHE, None)
    if cached is None or cached[0] != key:
        segmentation = Segmentation.from_bytes(store.models.blob(REGISTRY_NAME, record.version))
        cached = (key, record, segmentation)
        setattr(request.app.state, _CACHE, cached)
    return cached[1], cached[2]


ActiveSegmentation = Annotated[tuple[ModelVersion, Segmentation], Depends(active_segmentation)]
SegmentId = Annotated[
    int, Path(ge=-1, le=1_000_000, description="A segment id from GET /v1/segments")
]


def _summary(s: SegmentInfo) -> SegmentSummary:
    return SegmentSummary(
        id=s.id, name=s.name, description=s.description, size=s.size, share=s.share
    )


@router.get(
    "",
    response_model=SegmentList,
    responses=error_responses(*_AUTH, 404),
    summary="The user segments of the active segmentation",
)
def list_segments(_: ReadKey, active: ActiveSegmentation) -> SegmentList:
    record, segmentation = active
    return SegmentList(
        version=record.version,
        method=segmentation.method,
        trained_at=record.created_at,
        users=segmentation.n_users,
        features=list(segmentation.features),
        segments=[_summary(s) for s in segmentation.segments],
    )


@router.get(
    "/{segment_id}",
    response_model=SegmentDetail,
    responses=error_responses(*_AUTH, 404, 422),
    summary="One segment: size, name, distinguishing features, statistics, top items",
)
def get_segment(segment_id: SegmentId, _: ReadKey, active: ActiveSegmentation) -> SegmentDetail:
    record, segmentation = active
    s = segmentation.segment(segment_id)
    return SegmentDetail(
        **_summary(s).model_dump(),
        version=record.version,
        distinguishing=[
            FeatureDistinction(feature=d.feature, z=d.z, mean=d.mean, overall=d.overall)
            for d in s.distinguishing
        ],
        statistics=s.means,
        top_items=[
            PopularItem(item_id=t.item_id, title=t.title, users=t.users, share=t.share)
            for t in s.top_items
        ],
    )
