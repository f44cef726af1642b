"""Checks that depend on the settings: event vocabulary, value bounds, channels, clock skew."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tastemaker.catalog.events import Event
from tastemaker.config import Settings
from tastemaker.errors import FieldProblem, InvalidInput


def event_problems(
    rows: Sequence[tuple[int, Event]], settings: Settings, now: datetime
) -> list[FieldProblem]:
    """Every problem of every ``(row index, event)``, each naming its row index and field."""
    problems: list[FieldProblem] = []
    horizon = now + timedelta(seconds=settings.max_clock_skew_seconds)
    known = settings.event_types
    seen_ids: dict[str, tuple[int, Event]] = {}
    for i, e in rows:

        def bad(field: str, reason: str, idx: int = i) -> None:
            problems.append(FieldProblem(field=field, reason=reason, index=idx))

        first, other = seen_ids.setdefault(e.event_id, (i, e))
        if first != i and other.payload_hash() != e.payload_hash():
            bad(
                "event_id",
                f"the batch holds this event_id twice with different payloads "
                f"(rows {first} and {i})",
            )
        spec = known.get(e.type)
        if spec is None:
            bad("type", f"unknown event type {e.type!r}; known: {', '.join(sorted(known))}")
        else:
            if spec.requires_item and e.item_id is None:
                bad("item_id", f"events of type {e.type!r} need an item_id")
            if spec.value == "required" and e.value is None:
                bad("value", f"events of type {e.type!r} need a value ({spec.description})")
            elif spec.value == "forbidden" and e.value is not None:
                bad("value", f"events of type {e.type!r} carry no value")
            elif e.value is not None:
                if spec.min_value is not None and e.value < spec.min_value:
                    bad("value", f"must be ≥ {spec.min_value:g} for type {e.type!r}")
                if spec.max_value is not None and e.value > spec.max_value:
                    bad("value", f"must be ≤ {spec.max_value:g} for type {e.type!r}")
        if e.channel not in settings.channels:
            bad("channel", f"unknown channel {e.channel!r}; known: {', '.join(settings.channels)}")
        if e.timestamp is not None and e.timestamp > horizon:
            bad("timestamp", "lies in the future beyond the allowed clock skew")
    return problems


def check_events(events: Sequence[Event], settings: Settings, now: datetime) -> None:
    """Raise :class:`InvalidInput` listing every problem, or return if there is none."""
    problems = event_problems(list(enumerate(events)), settings, now)
    if problems:
        rows = len({p.index for p in problems})
        raise InvalidInput(
            f"{rows} of {len(events)} events are invalid; the batch was not stored", problems
        )
