"""``/v1/experiments``: A/B tests over placement configurations, their life cycle and reports.

Creating, starting and stopping take an admin key; reading and reports a read key. Starting or
stopping applies at once in this process and within ``model_poll_seconds`` in every replica.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from tastemaker.experiments.definition import Experiment, ExperimentSpec
from tastemaker.experiments.manage import (
    create_experiment,
    get_experiment,
    list_experiments,
    start_experiment,
    stop_experiment,
)
from tastemaker.experiments.planning import Plan, plan
from tastemaker.experiments.plot import lift_chart, render_html
from tastemaker.experiments.report import ExperimentReport, experiment_report, segment_labels
from tastemaker.service.deps import AdminKey, NowDep, ReadKey, SettingsDep, StoreDep
from tastemaker.service.routes.recommendations import ServingDep
from tastemaker.service.schemas import error_responses

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])
ExperimentPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
_CHANGE = error_responses(401, 403, 404, 409, 422, 503)


@router.post(
    "",
    response_model=Experiment,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 409, 413, 422, 503),
    summary="Create an experiment (a draft) over a placement",
)
async def create(
    spec: ExperimentSpec,
    serving: ServingDep,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    _: AdminKey,
) -> Experiment:
    placements = set(serving.pipeline.placements)
    return await run_in_threadpool(
        create_experiment, store, spec, placements, set(settings.event_types), now
    )


@router.get("", response_model=list[Experiment], responses=error_responses(401, 403, 422, 503))
def list_all(
    store: StoreDep,
    _: ReadKey,
    status: Literal["draft", "running", "stopped"] | None = None,
) -> list[Experiment]:
    return list_experiments(store, status)


@router.get(
    "/{experiment_id}", response_model=Experiment, responses=error_responses(401, 403, 404, 422)
)
def get_one(experiment_id: ExperimentPath, store: StoreDep, _: ReadKey) -> Experiment:
    return get_experiment(store, experiment_id)


@router.post(
    "/{experiment_id}/start",
    response_model=Experiment,
    responses=_CHANGE,
    summary="Start a draft: its users get their arms from now on",
)
async def start(
    experiment_id: ExperimentPath,
    serving: ServingDep,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
    _: AdminKey,
) -> Experiment:
    placements = set(serving.pipeline.placements)
    started = await run_in_threadpool(
        start_experiment, store, experiment_id, placements, set(settings.event_types), now
    )
    await run_in_threadpool(serving.refresh_experiments)
    return started


@router.post(
    "/{experiment_id}/stop",
    response_model=Experiment,
    responses=_CHANGE,
    summary="Stop a running experiment for good: every user gets the placement again",
)
async def stop(
    experiment_id: ExperimentPath,
    serving: ServingDep,
    store: StoreDep,
    now: NowDep,
    _: AdminKey,
) -> Experiment:
    stopped = await run_in_threadpool(stop_experiment, store, experiment_id, now)
    await run_in_threadpool(serving.refresh_experiments)
    return stopped


_TEXT = {"schema": {"type": "string"}}


@router.get(
    "/{experiment_id}/report",
    response_model=ExperimentReport,
    responses={
        200: {
            "description": "The report: JSON, or with format=svg the plot, format=html a page",
            "content": {"image/svg+xml": _TEXT, "text/html": _TEXT},
        },
        **error_responses(401, 403, 404, 422, 503),
    },
    summary="Numbers per arm and metric, tests, sample ratio check and the decision",
)
async def report(
    experiment_id: ExperimentPath,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    _: ReadKey,
    format: Literal["json", "svg", "html"] = "json",
    segments: Annotated[
        bool, Query(description="Break the primary metric down by the active segmentation")
    ] = True,
) -> ExperimentReport | Response:
    experiment = await run_in_threadpool(get_experiment, store, experiment_id)
    labels = None
    if segments:
        labels = await run_in_threadpool(segment_labels, store, settings, datetime.now(UTC))
    built = await run_in_threadpool(experiment_report, store, experiment, labels)
    if format == "svg":
        return Response(lift_chart(built), media_type="image/svg+xml")
    if format == "html":
        return Response(render_html(built), media_type="text/html")
    return built


@router.get(
    "/{experiment_id}/plan",
    response_model=Plan,
    responses=error_responses(401, 403, 404, 422),
    summary="Users needed to detect a relative lift (the sample-size calculator)",
)
def plan_users(
    experiment_id: ExperimentPath,
    store: StoreDep,
    _: ReadKey,
    baseline: Annotated[
        float, Query(gt=0, le=1e9, description="The control's expected primary metric")
    ],
    mde: Annotated[float, Query(gt=0, le=10, description="Relative effect to detect (0.1)")],
    sd: Annotated[
        float | None, Query(gt=0, le=1e9, description="Per-user standard deviation (means)")
    ] = None,
    alpha: Annotated[float | None, Query(gt=0, le=0.2)] = None,
    power: Annotated[float | None, Query(ge=0.5, le=0.99)] = None,
) -> Plan:
    experiment = get_experiment(store, experiment_id)
    return plan(experiment, baseline, mde, sd, alpha, power)
