"""``/v1/users/{user_id}/profile``: a user's online profile, and the updater's life cycle."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from tastemaker.catalog.items import Item
from tastemaker.config import Settings
from tastemaker.errors import NotFound, StorageError
from tastemaker.profiles import Profile, ProfileUpdater
from tastemaker.profiles.profile import AffinityKind
from tastemaker.service.deps import NowDep, ReadKey, StoreDep
from tastemaker.service.routes.common import IdPath
from tastemaker.service.schemas import error_responses
from tastemaker.storage import DataStore
from tastemaker.storage.types import from_micros, to_micros

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/users", tags=["profiles"])
TOP = 10


def start(settings: Settings, store: DataStore) -> ProfileUpdater:
    """The app's updater: the catalog indexed and, unless disabled, every profile rebuilt."""
    started = time.perf_counter()
    updater = ProfileUpdater(settings, store)
    if settings.profiles.rebuild_on_start:
        count = updater.rebuild()
        log.info(
            "profiles: rebuilt %d from the stored events (%d items indexed) in %.2f s",
            count,
            len(updater.index),
            time.perf_counter() - started,
        )
    else:
        updater.index.refresh(store)
        log.info("profiles: restored on first use (rebuild_on_start is off)")
    attach_segmentation(updater, store)
    return updater


def attach_segmentation(updater: ProfileUpdater, store: DataStore) -> None:
    """Assign every profile online to the active segmentation, if one is trained.

    A segmentation trained later takes effect at the next start.
    """
    from tastemaker.profiles.segments.online import profile_assigner
    from tastemaker.profiles.segments.registry import load_segmentation

    loaded = load_segmentation(store)
    if loaded is None:
        log.info("profiles: no segmentation trained yet (run `tastemaker segment`)")
        return
    version, segmentation = loaded
    updater.set_assign(profile_assigner(segmentation))
    log.info("profiles: assigned to segmentation version %d", version.version)


def current(request: Request) -> ProfileUpdater | None:
    """The app's updater, or ``None`` before the lifespan created it."""
    updater: ProfileUpdater | None = getattr(request.app.state, "profiles", None)
    return updater


def index_items(request: Request, items: Iterable[Item]) -> None:
    """Tell the profiles' item index and the serving catalog about upserted items."""
    items = list(items)
    updater = current(request)
    if updater is not None:
        updater.index.put(items)
    serving = getattr(request.app.state, "serving", None)
    if serving is not None:
        serving.catalog.put(items)


def forget_item(request: Request, item_id: str) -> None:
    """Take a deleted item out of the serving catalog (profiles keep what users did with it)."""
    serving = getattr(request.app.state, "serving", None)
    if serving is not None:
        serving.catalog.discard(item_id)


def _required(request: Request) -> ProfileUpdater:
    updater = current(request)
    if updater is None:
        raise StorageError("user profiles are not loaded yet; retry once the server has started")
    return updater


ProfilesDep = Annotated[ProfileUpdater, Depends(_required)]


class Affinity(BaseModel):
    """How strongly a user is drawn to a tag, author or source."""

    name: str
    score: float = Field(
        description="Feedback-weighted interactions, each halving every half-life (30 days by "
        "default), decayed to the time of the request, plus the explicit-preference prior"
    )


class UserProfile(BaseModel):
    """A user's online profile, as of the request.

    Averages and rates are ``null`` when undefined (no dwell events, no impressions …).
    """

    user_id: str
    computed_at: datetime
    segment: str | None = Field(description="The assigned segment, if segmentation ran")
    engagement: float = Field(
        ge=0,
        le=1,
        description="0.35·recency + 0.30·frequency + 0.20·depth + 0.15·conversion, each term "
        "saturating in [0, 1] (see tastemaker.profiles.engagement)",
    )
    events: int = Field(description="Events of every type")
    counts: dict[str, int] = Field(description="Events per type")
    first_event_at: datetime | None
    last_event_at: datetime | None
    recency_days: float | None = Field(description="Days since the latest event")
    active_days: int = Field(description="UTC days with at least one event")
    sessions: int = Field(description="Runs of events without a 30-minute (configurable) pause")
    avg_session_minutes: float | None
    avg_dwell_seconds: float | None
    avg_scroll_depth: float | None = Field(description="Mean scroll depth in percent")
    impressions: int
    clicks: int
    ctr: float | None = Field(description="Clicks over impressions")
    purchases: int
    purchase_amount: float = Field(description="Summed values of purchase events")
    top_tags: list[Affinity] = Field(description="A tag also feeds its parents, less per level")
    top_authors: list[Affinity]
    top_sources: list[Affinity]
    devices: dict[str, float] = Field(description="Share of the events per device")
    channels: dict[str, float] = Field(description="Share of the events per channel")
    recent_items: list[str] = Field(description="Items acted on recently, newest first")

    @classmethod
    def of(cls, user_id: str, profile: Profile, now: datetime) -> UserProfile:
        t = to_micros(now)
        total = profile.events

        def top(kind: AffinityKind) -> list[Affinity]:
            return [Affinity(name=k, score=v) for k, v in profile.top_affinities(kind, t, TOP)]

        def shares(counts: dict[str, int]) -> dict[str, float]:
            return {k: v / total for k, v in sorted(counts.items())} if total else {}

        return cls(
            user_id=user_id,
            computed_at=now,
            segment=profile.segment,
            engagement=min(max(profile.engagement(t), 0.0), 1.0),
            events=total,
            counts=dict(sorted(profile.counts.items())),
            first_event_at=None if profile.first_ts is None else from_micros(profile.first_ts),
            last_event_at=None if profile.last_ts is None else from_micros(profile.last_ts),
            recency_days=profile.recency_days(t),
            active_days=profile.active_days,
            sessions=profile.sessions,
            avg_session_minutes=profile.avg_session_minutes,
            avg_dwell_seconds=profile.avg_dwell_seconds,
            avg_scroll_depth=profile.avg_scroll_depth,
            impressions=profile.impressions,
            clicks=profile.clicks,
            ctr=profile.ctr,
            purchases=profile.purchases,
            purchase_amount=profile.purchase_amount,
            top_tags=top("tags"),
            top_authors=top("authors"),
            top_sources=top("sources"),
            devices=shares(profile.devices),
            channels=shares(profile.channels),
            recent_items=list(reversed(profile.recent_items)),
        )


@router.get(
    "/{user_id}/profile",
    response_model=UserProfile,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="A user's online profile: activity, affinities, engagement, segment",
    description=(
        "Updated by every stored event before `POST /v1/events` answers, so a profile read "
        "after an ingest reflects it. Affinities are decayed to the time of the request."
    ),
)
def get_profile(
    user_id: IdPath, store: StoreDep, profiles: ProfilesDep, now: NowDep, _: ReadKey
) -> UserProfile:
    user = store.users.get(user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id!r}")
    return UserProfile.of(user_id, profiles.profile(user_id, user.preferences), now)
