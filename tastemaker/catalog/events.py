"""The event schema: one interaction of a user with an item."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field

from tastemaker.catalog.common import ExternalId, Float, Int, JsonObject, Schema, UtcDatetime

# One encoder for every hash (``json.dumps`` with these options builds a new one per call). The
# options define the stored hashes: changing them turns retries of stored events into conflicts.
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
        """SHA-256 of the canonical JSON of the event as sent: equal payloads, equal hashes."""
        canonical = _CANONICAL.encode(self.model_dump(mode="json"))
        return hashlib.sha256(canonical.encode()).digest()


class EventBatch(Schema):
    """Events to store; the whole batch is stored or, on any error, nothing."""

    events: list[Event] = Field(min_length=1)
