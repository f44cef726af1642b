"""Profiles rebuilt from stored events, through the same update as the online path.

An *event frame* holds the snapshot columns (``Columns.USER`` — the user key —, ``ITEM``,
``TYPE``, ``VALUE``, ``TIMESTAMP`` in int64 microseconds) and, when known, ``event_id``,
``channel`` and ``device``. :func:`rebuild_profiles` sorts it by time (stably, so arrival order
breaks ties) and feeds every row to :meth:`Profile.update`.

:func:`stored_event_frame` reads it with ``store.snapshot.events(detail=True)``, which adds
event ids, channels and devices and keeps events without an item.

Examples
--------
>>> from datetime import UTC, datetime
>>> from tastemaker.catalog.events import Event
>>> from tastemaker.profiles.item_index import ItemIndex
>>> from tastemaker.profiles.rules import ProfileRules
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> events = [Event(event_id=f"e{i}", user_id=u, item_id="a", type="view", timestamp=t)
...           for i, u in enumerate(["u1", "u2", "u1"])]
>>> profiles = rebuild_profiles(event_frame(events), ProfileRules.default(), ItemIndex())
>>> {key: p.counts["view"] for key, p in sorted(profiles.items())}
{'u1': 2, 'u2': 1}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.events import Event
from tastemaker.profiles.item_index import ItemIndex
from tastemaker.profiles.profile import Profile
from tastemaker.profiles.rules import ProfileEvent, ProfileRules
from tastemaker.storage.base import DataStore
from tastemaker.storage.types import to_micros

EVENT_ID: Final = Columns.EVENT_ID
CHANNEL: Final = Columns.CHANNEL
DEVICE: Final = Columns.DEVICE


def event_frame(
    events: Iterable[Event],
    user_key: Callable[[str], str] | None = None,
    received: datetime | None = None,
) -> pd.DataFrame:
    """Events as an event frame.

    Parameters
    ----------
    events
        API events or stored :class:`~tastemaker.catalog.records.EventRecord` objects.
    user_key
        External id → user key (``store.snapshot.user_key``); the external id when not given.
    received
        The time events without a timestamp were received (stored events always have one).

    Raises
    ------
    ValueError
        If an event has no timestamp and ``received`` is not given.
    """
    keys: dict[str, str] = {}
    rows: dict[str, list[object]] = {
        c: [] for c in (Columns.USER, Columns.ITEM, Columns.TYPE, EVENT_ID, CHANNEL, DEVICE)
    }
    values: list[float] = []
    stamps: list[int] = []
    fallback = None if received is None else to_micros(received)
    for e in events:
        key = keys.get(e.user_id)
        if key is None:
            key = keys[e.user_id] = user_key(e.user_id) if user_key else e.user_id
        if e.timestamp is not None:
            stamps.append(to_micros(e.timestamp))
        elif fallback is not None:
            stamps.append(fallback)
        else:
            raise ValueError(f"event {e.event_id!r} has no timestamp; pass `received`")
        rows[Columns.USER].append(key)
        rows[Columns.ITEM].append(e.item_id)
        rows[Columns.TYPE].append(e.type)
        rows[EVENT_ID].append(e.event_id)
        rows[CHANNEL].append(e.channel)
        rows[DEVICE].append(e.context.device)
        values.append(np.nan if e.value is None else e.value)
    frame = pd.DataFrame(rows, dtype=object)
    frame[Columns.VALUE] = np.asarray(values, dtype=np.float64)
    frame[Columns.TIMESTAMP] = np.asarray(stamps, dtype=np.int64)
    return frame


def stored_event_frame(store: DataStore) -> pd.DataFrame:
    """Every stored event as an event frame keyed by user key, in arrival order."""
    return store.snapshot.events(detail=True)


def profile_events(frame: pd.DataFrame) -> Iterator[tuple[str, ProfileEvent]]:
    """``(user key, event)`` for every row of an event frame, in row order."""
    n = len(frame)

    def column(name: str) -> list[object]:
        return frame[name].tolist() if name in frame.columns else [None] * n

    rows = zip(
        frame[Columns.USER].tolist(),
        column(EVENT_ID),
        column(Columns.ITEM),
        frame[Columns.TYPE].tolist(),
        frame[Columns.VALUE].tolist(),
        frame[Columns.TIMESTAMP].tolist(),
        column(CHANNEL),
        column(DEVICE),
        strict=True,
    )
    for user, event_id, item, kind, value, ts, channel, device in rows:
        yield (
            str(user),
            ProfileEvent(
                _text(event_id),
                _text(item),
                str(kind),
                None if value is None or value != value else float(value),
                int(ts),
                _text(channel),
                _text(device),
            ),
        )


def _text(value: object) -> str | None:
    # Frames hold None or NaN for a missing string, depending on how they were built.
    return value if isinstance(value, str) else None


def rebuild_profiles(
    frame: pd.DataFrame, rules: ProfileRules, index: ItemIndex
) -> dict[str, Profile]:
    """Every user's profile from an event frame, replayed in time order.

    Parameters
    ----------
    frame
        An event frame (any row order; rows with equal timestamps keep their relative order).
    rules
        The profile rules.
    index
        Item metadata for the affinities.

    Returns
    -------
    dict[str, Profile]
        User key → profile, users in order of their first row in time order.
    """
    ordered = frame.sort_values(Columns.TIMESTAMP, kind="stable") if len(frame) else frame
    profiles: dict[str, Profile] = {}
    get = index.get
    for key, event in profile_events(ordered):
        profile = profiles.get(key)
        if profile is None:
            profile = profiles[key] = Profile(key, rules)
        profile.update(event, None if event.item_id is None else get(event.item_id))
    return profiles


def store_profiles(store: DataStore, rules: ProfileRules, index: ItemIndex) -> dict[str, Profile]:
    """Every profile from the store: its events replayed, its users' preferences folded in.

    ``index`` is used as it is; refresh it first (:meth:`ItemIndex.refresh`) if it may be stale.
    """
    profiles = rebuild_profiles(stored_event_frame(store), rules, index)
    for key, preferences in store.snapshot.preferences().items():
        profile = profiles.get(key)
        if profile is not None:
            profile.apply_preferences(preferences)
    return profiles
