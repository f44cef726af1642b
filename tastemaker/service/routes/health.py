"""Liveness and readiness, without authentication."""

from __future__ import annotations

from fastapi import APIRouter

from tastemaker import __version__
from tastemaker.service.deps import StoreDep
from tastemaker.service.schemas import Health, error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok", version=__version__)


@router.get(
    "/readyz",
    response_model=Health,
    responses=error_responses(503),
    summary="The process can reach its store",
)
def readyz(store: StoreDep) -> Health:
    store.ping()
    return Health(status="ready", version=__version__)
