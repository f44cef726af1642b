"""The user schema: traits, explicit preferences and consent."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from tastemaker.catalog.common import Bool, ExternalId, Schema, TagPath, UtcDatetime

Scalar = str | int | float | bool


class Purpose(StrEnum):
    """Purposes a user can consent to."""

    PERSONALIZATION = "personalization"
    ANALYTICS = "analytics"


class UserTraits(Schema):
    """What is known about a user. Every trait but those in ``Settings.plain_traits`` (by
    default only ``device``) is encrypted at rest."""

    device: str | None = Field(default=None, max_length=64, examples=["mobile"])
    geo: str | None = Field(default=None, max_length=128, examples=["DE-BE"])
    age_band: str | None = Field(default=None, max_length=32, examples=["25-34"])
    # Smart-mode union: each JSON value keeps its own type (true stays a bool, "1" a string).
    attributes: dict[str, Scalar] = Field(
        default_factory=dict, max_length=100, description="Free-form traits"
    )


class Preferences(Schema):
    """What a user chose explicitly."""

    tags: list[TagPath] = Field(default_factory=list, max_length=200)
    authors: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=200
    )
    sources: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=200
    )


class Consent(Schema):
    """One purpose's consent decision and when it was given or withdrawn."""

    granted: Bool
    at: UtcDatetime | None = Field(
        default=None, description="When the user decided; the time of the request if omitted"
    )


class User(Schema):
    """A user as a client sends it. Consent is merged per purpose: purposes not named keep
    their stored decision."""

    id: ExternalId
    traits: UserTraits = Field(default_factory=UserTraits)
    preferences: Preferences = Field(default_factory=Preferences)
    consent: dict[Purpose, Consent] = Field(default_factory=dict)


class UserBatch(Schema):
    """Several users to upsert in one request."""

    users: list[User] = Field(min_length=1)
