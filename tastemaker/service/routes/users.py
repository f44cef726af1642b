"""``/v1/users``: users, their consent, their events, their erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.catalog.common import ExternalId
from tastemaker.catalog.records import EventRecord, UpsertResult, UserRecord
from tastemaker.catalog.users import User, UserBatch
from tastemaker.errors import NotFound
from tastemaker.service.deps import AdminKey, NowDep, ReadKey, SettingsDep, StoreDep, WriteKey
from tastemaker.service.routes import profiles
from tastemaker.service.routes.common import IdPath, check_batch_size, same_id
from tastemaker.service.schemas import ErasureReport, error_responses
from tastemaker.serving.cache import RecommendationCache, invalidate_user_ids
from tastemaker.storage import DataStore

router = APIRouter(prefix="/v1/users", tags=["users"])
_AUTH = (401, 403, 503)


@router.put(
    "/{user_id}",
    response_model=UserRecord,
    responses={**error_responses(*_AUTH, 400, 413, 422), 201: {"model": UserRecord}},
    summary="Create or replace one user (consent merges per purpose)",
)
def put_user(
    user_id: IdPath,
    user: User,
    request: Request,
    response: Response,
    store: StoreDep,
    now: NowDep,
    _: WriteKey,
) -> UserRecord:
    same_id(user_id, user.id)
    created = store.users.upsert([user], now).created
    _changed(request, [user_id])
    if created:
        response.status_code = status.HTTP_201_CREATED
    stored = store.users.get(user_id)
    assert stored is not None  # just committed
    return stored


@router.post(
    "",
    response_model=UpsertResult,
    responses=error_responses(*_AUTH, 400, 413, 422),
    summary="Create or replace a batch of users, all or nothing",
)
def post_users(
    batch: UserBatch,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    _: WriteKey,
) -> UpsertResult:
    check_batch_size("users", len(batch.users), settings.max_batch_items)
    result = store.users.upsert(batch.users, now)
    _changed(request, [u.id for u in batch.users])
    return result


@router.get(
    "/{user_id}",
    response_model=UserRecord,
    responses=error_responses(*_AUTH, 404, 422),
    summary="Read one user",
)
def get_user(user_id: IdPath, store: StoreDep, _: ReadKey) -> UserRecord:
    user = store.users.get(user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id!r}")
    return user


@router.get(
    "/{user_id}/events",
    response_model=list[EventRecord],
    responses=error_responses(*_AUTH, 404, 422),
    summary="A user's events, newest first",
)
def get_user_events(
    user_id: IdPath,
    store: StoreDep,
    _: ReadKey,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[EventRecord]:
    if store.users.get(user_id) is None:
        raise NotFound(f"no user with id {user_id!r}")
    return store.events.for_user(user_id, limit=limit)


@router.delete(
    "/{user_id}",
    response_model=ErasureReport,
    responses=error_responses(*_AUTH, 404, 422),
    summary="Erase a user from every table (right to erasure)",
)
def erase_user(user_id: IdPath, request: Request, store: StoreDep, _: AdminKey) -> ErasureReport:
    removed = store.users.erase(user_id)
    # The online profile goes too, so a returning id starts from nothing.
    _changed(request, [user_id])
    updater = profiles.current(request)
    forgotten = updater.forget(user_id) if updater is not None else False
    if removed is None and not forgotten:
        raise NotFound(f"no user with id {user_id!r}")
    return ErasureReport(user_id=user_id, removed=removed or {})


class MergeRequest(BaseModel):
    """An anonymous (session) id whose history becomes the user's."""

    model_config = ConfigDict(extra="forbid")

    anonymous_id: ExternalId = Field(description="The id the user's events were sent under")


class MergeResult(BaseModel):
    user_id: str
    anonymous_id: str
    events_moved: int = Field(description="0 when the anonymous id was unknown or merged before")


@router.post(
    "/{user_id}/merge",
    response_model=MergeResult,
    responses=error_responses(*_AUTH, 400, 413, 422),
    summary="Merge an anonymous session's history into this user (after sign-in)",
    description=(
        "Moves the anonymous id's events, exposures and consent (where the user has none) to "
        "the user, in one transaction, and deletes the anonymous id. Idempotent: merging again "
        "moves nothing. The user's profile and recommendations reflect the merged history at "
        "once."
    ),
)
def merge_user(
    user_id: IdPath,
    body: MergeRequest,
    request: Request,
    store: StoreDep,
    now: NowDep,
    _: WriteKey,
) -> MergeResult:
    moved = store.users.merge(body.anonymous_id, user_id, now)
    _changed(request, [user_id, body.anonymous_id])
    updater = profiles.current(request)
    if updater is not None:
        updater.forget(body.anonymous_id)
        updater.reload(user_id)  # from the merged history now, not on its next event
    return MergeResult(user_id=user_id, anonymous_id=body.anonymous_id, events_moved=moved)


def _changed(request: Request, user_ids: list[str]) -> None:
    """Drop the users' cached recommendations: what they are changed."""
    cache: RecommendationCache | None = getattr(request.app.state, "cache", None)
    if cache is None:
        return
    updater = profiles.current(request)
    store: DataStore = request.app.state.store
    key = updater.user_key if updater is not None else store.snapshot.user_key
    invalidate_user_ids(cache, user_ids, key)
