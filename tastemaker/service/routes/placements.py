"""``/v1/placements``: the placement configurations, readable and editable at run time.

A configuration stored through the API overrides the settings' (and the built-in one) of the
same name in every replica within ``model_poll_seconds``; this process applies it at once.
Deleting it brings the configured one back, if there is one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tastemaker.errors import FieldProblem, InvalidInput, NotFound
from tastemaker.pipeline.config import PlacementConfig
from tastemaker.service.deps import AdminKey, NowDep, ReadKey, SettingsDep, StoreDep
from tastemaker.service.routes.recommendations import ServingDep
from tastemaker.service.schemas import error_responses
from tastemaker.serving.runtime import configured_placements

router = APIRouter(prefix="/v1/placements", tags=["placements"])
NamePath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]


class PlacementOut(BaseModel):
    name: str
    origin: Literal["built-in or settings", "api"]
    version: int | None = Field(description="The stored version, for placements set by the API")
    config: PlacementConfig


def _check_models(config: PlacementConfig, known: set[str]) -> None:
    problems = [
        FieldProblem(
            field=f, reason=f"{m!r} is not a configured model ({', '.join(sorted(known))})"
        )
        for f, m in config.unknown_models(known)
    ]
    if problems:
        raise InvalidInput("the placement names models that are not configured", problems)


@router.get("", response_model=list[PlacementOut], responses=error_responses(401, 403, 503))
def list_placements(serving: ServingDep, store: StoreDep, _: ReadKey) -> list[PlacementOut]:
    stored = store.placements.list()
    return [
        PlacementOut(
            name=name,
            origin="api" if name in stored else "built-in or settings",
            version=stored[name][0] if name in stored else None,
            config=config,
        )
        for name, config in sorted(serving.pipeline.placements.items())
    ]


@router.get("/{name}", response_model=PlacementOut, responses=error_responses(401, 403, 404))
def get_placement(name: NamePath, serving: ServingDep, store: StoreDep, _: ReadKey) -> PlacementOut:
    config = serving.pipeline.placement(name)
    stored = store.placements.get(name)
    return PlacementOut(
        name=name,
        origin="api" if stored else "built-in or settings",
        version=stored[0] if stored else None,
        config=config,
    )


@router.put(
    "/{name}",
    response_model=PlacementOut,
    responses=error_responses(401, 403, 400, 413, 422, 503),
    summary="Create or replace a placement (validated; every replica applies it)",
)
async def put_placement(
    name: NamePath,
    config: PlacementConfig,
    serving: ServingDep,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    _: AdminKey,
) -> PlacementOut:
    _check_models(config, set(settings.training.models))
    document: dict[str, Any] = config.model_dump(mode="json")
    version = await run_in_threadpool(store.placements.put, name, document, now)
    await run_in_threadpool(serving.refresh_placements)
    return PlacementOut(name=name, origin="api", version=version, config=config)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404),
    summary="Remove a placement set through the API (a configured one of the name returns)",
)
async def delete_placement(
    name: NamePath,
    serving: ServingDep,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    _: AdminKey,
) -> Response:
    if not await run_in_threadpool(store.placements.delete, name, now):
        configured = name in configured_placements(settings)
        raise NotFound(
            f"placement {name!r} was not set through the API"
            + (" (it is configured in the settings)" if configured else "")
        )
    await run_in_threadpool(serving.refresh_placements)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
