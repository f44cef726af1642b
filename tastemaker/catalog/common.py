"""Types shared by the catalog schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from tastemaker.catalog.tags import normalize_tag

ID_PATTERN = r"^[^\s/\\?#%]{1,256}$"
"""External ids: 1–256 characters, no white space and nothing that breaks a URL path."""

ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=ID_PATTERN,
        description="External id: 1–256 characters without white space, '/', '\\\\', '?', '#', '%'",
        examples=["article-42"],
    ),
]


def to_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]


def _tag_input(value: Any) -> Any:
    if isinstance(value, str | list):
        return normalize_tag(value)
    return value


TagPath = Annotated[
    str,
    BeforeValidator(_tag_input),
    Field(
        max_length=1000,
        description="Hierarchical tag path, segments joined by ' > '",
        examples=["News > Politics > Elections"],
    ),
]

JsonObject = Annotated[
    dict[str, Any],
    Field(description="Free-form JSON object", max_length=100),
]


class Schema(BaseModel):
    """Base of the catalog schemas: unknown fields are errors, floats must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=False)
