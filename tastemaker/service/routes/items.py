"""``/v1/items``: the catalog."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from tastemaker.catalog.items import Item, ItemBatch
from tastemaker.catalog.records import ItemRecord, UpsertResult
from tastemaker.errors import NotFound
from tastemaker.service.deps import NowDep, ReadKey, SettingsDep, StoreDep, WriteKey
from tastemaker.service.routes import profiles
from tastemaker.service.routes.common import IdPath, check_batch_size, same_id
from tastemaker.service.schemas import error_responses

router = APIRouter(prefix="/v1/items", tags=["items"])
_AUTH = (401, 403, 503)


@router.put(
    "/{item_id}",
    response_model=ItemRecord,
    responses={**error_responses(*_AUTH, 400, 413, 422), 201: {"model": ItemRecord}},
    summary="Create or replace one item",
)
def put_item(
    item_id: IdPath,
    item: Item,
    request: Request,
    response: Response,
    store: StoreDep,
    now: NowDep,
    _: WriteKey,
) -> ItemRecord:
    same_id(item_id, item.id)
    result = store.items.upsert([item], now)
    profiles.index_items(request, [item])
    if result.created:
        response.status_code = status.HTTP_201_CREATED
    stored = store.items.get(item_id)
    assert stored is not None  # just committed
    return stored


@router.post(
    "",
    response_model=UpsertResult,
    responses=error_responses(*_AUTH, 400, 413, 422),
    summary="Create or replace a batch of items, all or nothing",
)
def post_items(
    batch: ItemBatch,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    _: WriteKey,
) -> UpsertResult:
    check_batch_size("items", len(batch.items), settings.max_batch_items)
    result = store.items.upsert(batch.items, now)
    profiles.index_items(request, batch.items)
    return result


@router.get(
    "/{item_id}",
    response_model=ItemRecord,
    responses=error_responses(*_AUTH, 404, 422),
    summary="Read one item",
)
def get_item(item_id: IdPath, store: StoreDep, _: ReadKey) -> ItemRecord:
    item = store.items.get(item_id)
    if item is None:
        raise NotFound(f"no item with id {item_id!r}")
    return item


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(*_AUTH, 404, 422),
    summary="Delete one item",
)
def delete_item(item_id: IdPath, request: Request, store: StoreDep, _: WriteKey) -> Response:
    if not store.items.delete(item_id):
        raise NotFound(f"no item with id {item_id!r}")
    profiles.forget_item(request, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
