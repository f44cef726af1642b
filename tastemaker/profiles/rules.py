"""What a profile needs to know about the deployment, compiled once from the settings.

:class:`ProfileRules` turns :class:`~tastemaker.config.ProfileSettings`, the feedback policy, the
event vocabulary and the channels into plain numbers (microseconds, signed weights) that the
per-event update reads without any further lookups. :class:`ProfileEvent` is the one event shape
the update takes: API events, stored events and event frames are all turned into it, so the
online path and the rebuild share their code.

Examples
--------
>>> rules = ProfileRules.default()
>>> rules.weight("purchase", 12.0), rules.weight("dislike", None), rules.weight("impression", None)
(4.0, -2.0, 0.0)
>>> rules.session_gap // 60_000_000
30
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple

from tastemaker.config import (
    EventTypeSpec,
    FeedbackClass,
    FeedbackPolicy,
    ProfileSettings,
    Settings,
)
from tastemaker.storage.types import to_micros

MINUTE: Final = 60_000_000
"""One minute in microseconds."""
DAY: Final = 86_400_000_000
"""One day in microseconds."""

IMPRESSION: Final = "impression"
CLICK: Final = "click"
DWELL: Final = "dwell"
SCROLL: Final = "scroll"
PURCHASE: Final = "purchase"
UNKNOWN: Final = "unknown"
"""The device (or channel) an event without one is counted under."""

_Rule = tuple[float | None, float | None, float]


def as_micros(value: datetime | int) -> int:
    """Microseconds since the epoch, UTC: the time representation of the core.

    >>> from datetime import UTC, datetime
    >>> as_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)), as_micros(5)
    (1000000, 5)
    """
    return value if isinstance(value, int) else to_micros(value)


class ProfileEvent(NamedTuple):
    """One event as a profile consumes it.

    Attributes
    ----------
    event_id
        The idempotency key; ``None`` where it is not known (then no de-duplication happens).
    item_id
        The item, or ``None`` for an event without one.
    type
        The event type.
    value
        The event's number (dwell seconds, scroll percent, amount …) or ``None``.
    ts
        When it happened, microseconds since the epoch (UTC).
    channel
        Web, app, email, social … or ``None``.
    device
        The device from the event's context, or ``None``.
    """

    event_id: str | None
    item_id: str | None
    type: str
    value: float | None
    ts: int
    channel: str | None = None
    device: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileRules:
    """The deployment's profile parameters in the units the update uses.

    Build it with :meth:`from_settings` (or :meth:`default`), not field by field.

    Attributes
    ----------
    event_types
        The configured event types (the ``type_share:`` feature columns), in configured order.
    channels
        The configured channels (the ``channel_share:`` feature columns).
    session_gap
        Inactivity that ends a session, in microseconds.
    half_life
        Half-life of affinities and of the session frequency, in microseconds.
    recency_half_life
        Half-life of the engagement score's recency term, in microseconds.
    tag_parent_decay
        Share of an interaction a tag's parent receives, per level up.
    preference_weight
        Prior affinity of an explicitly chosen tag, author or source.
    recent_items
        How many recent item ids a profile keeps.
    recent_event_ids
        How many event ids a profile keeps to recognize retried events.
    feedback
        Per event type, the feedback rules in order as ``(min_value, max_value, signed
        weight)``: positive rules add their weight, negative ones subtract it, ``seen`` rules
        count 0.
    """

    event_types: tuple[str, ...]
    channels: tuple[str, ...]
    session_gap: int
    half_life: float
    recency_half_life: float
    tag_parent_decay: float
    preference_weight: float
    recent_items: int
    recent_event_ids: int
    feedback: Mapping[str, tuple[_Rule, ...]]

    @classmethod
    def build(
        cls,
        profiles: ProfileSettings,
        policy: FeedbackPolicy,
        event_types: Mapping[str, EventTypeSpec] | tuple[str, ...],
        channels: tuple[str, ...] | list[str],
    ) -> ProfileRules:
        """Compile the parts of the settings a profile reads."""
        sign = {FeedbackClass.POSITIVE: 1.0, FeedbackClass.NEGATIVE: -1.0}
        feedback: dict[str, list[_Rule]] = {}
        for rule in policy.rules:
            signed = sign.get(rule.feedback, 0.0) * rule.weight
            feedback.setdefault(rule.type, []).append((rule.min_value, rule.max_value, signed))
        return cls(
            event_types=tuple(event_types),
            channels=tuple(channels),
            session_gap=round(profiles.session_gap_minutes * MINUTE),
            half_life=profiles.half_life_days * DAY,
            recency_half_life=profiles.recency_half_life_days * DAY,
            tag_parent_decay=profiles.tag_parent_decay,
            preference_weight=profiles.preference_weight,
            recent_items=profiles.recent_items,
            recent_event_ids=profiles.recent_event_ids,
            feedback={k: tuple(v) for k, v in feedback.items()},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ProfileRules:
        """The rules of a deployment."""
        return cls.build(
            settings.profiles, settings.feedback, settings.event_types, settings.channels
        )

    @classmethod
    def default(cls, **profile_settings: float | int | bool) -> ProfileRules:
        """The rules of the default settings, optionally with other profile settings.

        >>> ProfileRules.default(session_gap_minutes=10).session_gap == 10 * MINUTE
        True
        """
        fields = Settings.model_fields
        return cls.build(
            ProfileSettings.model_validate(profile_settings),
            FeedbackPolicy(),
            fields["event_types"].get_default(call_default_factory=True),
            fields["channels"].get_default(call_default_factory=True),
        )

    def weight(self, event_type: str, value: float | None) -> float:
        """The signed affinity weight of an event: the first matching rule of its type decides,
        exactly as :meth:`FeedbackPolicy.classify` does; no matching rule counts 0."""
        for low, high, signed in self.feedback.get(event_type, ()):
            if low is not None and (value is None or value < low):
                continue
            if high is not None and (value is None or value > high):
                continue
            return signed
        return 0.0
