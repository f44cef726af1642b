"""``/v1/users``: users, their consent, their events, their erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from tastemaker.catalog.records import EventRecord, UpsertResult, UserRecord
from tastemaker.catalog.users import User, UserBatch
from tastemaker.errors import NotFound
from tastemaker.service.deps import AdminKey, NowDep, ReadKey, SettingsDep, StoreDep, WriteKey
from tastemaker.service.routes import profiles
from tastemaker.service.routes.common import IdPath, check_batch_size, same_id
from tastemaker.service.schemas import ErasureReport, error_responses

router = APIRouter(prefix="/v1/users", tags=["users"])
_AUTH = (401, 403, 503)


@router.put(
    "/{user_id}",
    response_model=UserRecord,
    responses={**error_responses(*_AUTH, 400, 413, 422), 201: {"model": UserRecord}},
    summary="Create or replace one user (consent merges per purpose)",
)
def put_user(
    user_id: IdPath, user: User, response: Response, store: StoreDep, now: NowDep, _: WriteKey
) -> UserRecord:
    same_id(user_id, user.id)
    if store.users.upsert([user], now).created:
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
    batch: UserBatch, store: StoreDep, settings: SettingsDep, now: NowDep, _: WriteKey
) -> UpsertResult:
    check_batch_size("users", len(batch.users), settings.max_batch_items)
    return store.users.upsert(batch.users, now)


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
    updater = profiles.current(request)
    forgotten = updater.forget(user_id) if updater is not None else False
    if removed is None and not forgotten:
        raise NotFound(f"no user with id {user_id!r}")
    return ErasureReport(user_id=user_id, removed=removed or {})
