"""What the store returns: the client's schema plus what the server added."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tastemaker.catalog.events import Event
from tastemaker.catalog.items import Item
from tastemaker.catalog.users import Preferences, Purpose, UserTraits


class ItemRecord(Item):
    """A stored item."""

    created_at: datetime
    updated_at: datetime


class ConsentRecord(BaseModel):
    """A stored consent decision."""

    model_config = ConfigDict(extra="forbid")

    granted: bool
    at: datetime = Field(description="When the user decided")


class UserRecord(BaseModel):
    """A stored user, decrypted."""

    model_config = ConfigDict(extra="forbid")

    id: str
    traits: UserTraits
    preferences: Preferences
    consent: dict[Purpose, ConsentRecord]
    created_at: datetime
    updated_at: datetime


class EventRecord(Event):
    """A stored event: ``timestamp`` is always set and ``seq`` orders events by arrival."""

    seq: int
    received_at: datetime


class UpsertResult(BaseModel):
    """How many records a batch upsert created and how many it replaced."""

    created: int
    updated: int


class AppendResult(BaseModel):
    """What an event batch did: new events stored, retried ones recognized."""

    stored: int = Field(description="Events stored by this request")
    duplicates: int = Field(description="Events already stored with the same payload")
