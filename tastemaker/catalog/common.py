"""Types shared by the catalog schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

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


_ZERO = timedelta(0)


def to_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    tz = value.tzinfo
    if tz is UTC:
        return value  # the common case, and hot: every stored event passes here several times
    if tz is None:
        return value.replace(tzinfo=UTC)
    if tz.utcoffset(value) == _ZERO:  # "Z" as parsed: relabel, no arithmetic
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+01:00, which lies before the first representable instant
        raise ValueError("the date-time lies outside the years 1 to 9999 in UTC") from None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso_only(value: Any) -> Any:
    # pydantic would read a number as Unix time; the API documents ISO 8601 strings only.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("expected an ISO 8601 date-time string such as 2026-01-31T12:00:00Z")
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(to_utc)]
"""A date-time given as ISO 8601; naive values are taken as UTC; stored in UTC."""

Int = Annotated[int, Strict()]
"""An integer that must be sent as a JSON integer, not as a string."""
Float = Annotated[float, Strict()]
"""A number that must be sent as a JSON number, not as a string."""
Bool = Annotated[bool, Strict()]
"""A boolean that must be sent as true or false, not as a string or number."""


def _tag_input(value: Any) -> Any:
    # Anything but a string is left for the str validation to reject with a clear message.
    return normalize_tag(value) if isinstance(value, str) else value


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
