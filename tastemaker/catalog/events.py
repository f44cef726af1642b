"""The event schema: one interaction of a user with an item."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field

from tastemaker.catalog.common import ExternalId, Float, Int, JsonObject, Schema, UtcDatetime

# One encoder for the free-form part of every hash (``json.dumps`` with these options builds a new
# one per call). With the schema's serialization it defines the stored hashes: changing either
# turns retries of stored events into conflicts.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


class EventContext(Schema):
    """Where the event happened."""

    device: str | None = Field(default=None, max_length=64)
    page: str | None = Field(default=None, max_length=2048)
    placement: str | None = Field(default=None, max_length=128)
    recommendation_id: str | None = Field(
        default=None, max_length=128, description="Echo of the recommendation id that showed it"
    )
    position: Int | None = Field(default=None, ge=0, le=100_000)
    session_id: str | None = Field(default=None, max_length=128)


class Event(Schema):
    """One interaction.

    ``event_id`` is an idempotency key: sending the same event again stores nothing; sending a
    different payload under a stored id is a conflict. ``timestamp`` defaults to the time the
    server receives the event.

    >>> e = Event(event_id="e1", user_id="u1", item_id="a1", type="dwell", value=42)
    >>> len(e.payload_hash())
    32
    """

    event_id: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    user_id: ExternalId
    item_id: ExternalId | None = None
    type: str = Field(
        min_length=1,
        max_length=64,
        description=(
            "One of the configured event types; by default impression, view, click, dwell, "
            "scroll, like, dislike, rating, share, add_to_cart, purchase"
        ),
    )
    value: Float | None = Field(
        default=None, description="Dwell seconds, scroll depth in percent, rating, amount …"
    )
    timestamp: UtcDatetime | None = None
    channel: str = Field(default="web", max_length=32, description="web, app, email or social")
    context: EventContext = Field(default_factory=EventContext)
    properties: JsonObject = Field(default_factory=dict)

    def payload_hash(self) -> bytes:
        """SHA-256 of a canonical serialization of the event: equal payloads, equal hashes.

        The validated fields serialize in schema order (time stamps in UTC); the free-form
        ``properties`` are hashed as JSON with sorted keys, so a retry that reorders them is
        still the same event.
        """
        fields = _FIELDS.to_json(self, exclude=_FREE_FORM)
        digest = hashlib.sha256(fields)
        if self.properties:
            digest.update(b"\0" + _CANONICAL.encode(self.properties).encode())
        return digest.digest()


_FIELDS = Event.__pydantic_serializer__
_FREE_FORM = {"properties"}


class EventBatch(Schema):
    """Events to store; the whole batch is stored or, on any error, nothing."""

    events: list[Event] = Field(min_length=1)
