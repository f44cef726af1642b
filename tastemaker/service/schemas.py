"""Response bodies that only the HTTP layer uses."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RowError(BaseModel):
    """One problem in a request: which row of a batch, which field, and why."""

    index: int | None = Field(description="Row of the batch, or null for a single object")
    field: str = Field(description="Dotted path of the field inside the row")
    reason: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    errors: list[RowError] | None = None
    event_ids: list[str] | None = None


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx response has this shape."""

    error: ErrorBody


class ErasureReport(BaseModel):
    """What erasing a user removed, per table."""

    user_id: str
    removed: dict[str, int]


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the error statuses a route can return."""
    text = {
        400: "The request is malformed",
        401: "No valid API key",
        403: "The API key lacks the needed scope",
        404: "Not found",
        409: "Conflicts with what is stored; nothing was changed",
        413: "The body or batch exceeds a configured limit",
        422: "Invalid input; each problem names its row, field and reason; nothing was changed",
        503: "The store is unavailable; nothing was acknowledged",
    }
    return {c: {"model": ErrorResponse, "description": text[c]} for c in codes}
