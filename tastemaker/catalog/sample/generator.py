"""The public entry point: :func:`generate_sample` with its config and result types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
from pydantic import TypeAdapter

from tastemaker.catalog.common import to_utc
from tastemaker.catalog.events import Event
from tastemaker.catalog.items import Item
from tastemaker.catalog.sample.audience import make_audience
from tastemaker.catalog.sample.catalog import make_catalog
from tastemaker.catalog.sample.segments import SEGMENTS, segment_names
from tastemaker.catalog.sample.sessions import RawEvent, Simulator
from tastemaker.catalog.sample.taxonomy import all_leaves
from tastemaker.catalog.users import User

DEFAULT_END = datetime(2026, 10, 1, tzinfo=UTC)
EVENT_ID_PREFIX = "demo-"
MIN_DAYS = 7


@dataclass(frozen=True)
class SampleConfig:
    """What to generate.

    Parameters
    ----------
    seed
        Seed of the one random generator everything is drawn from.
    n_items
        Articles and products in the catalog (at least one per leaf of the tag tree: 54).
    n_users
        Users, split over the planted segments in fixed proportions.
    end
        End of the window: no item is published and no event happens after it. A fixed time,
        so the output does not depend on when it is generated. Naive times are taken as UTC;
        others are converted to UTC.
    days
        Length of the window before ``end`` over which items are published and users visit.
    activity
        Multiplies every segment's mean number of sessions per user (and so the event count).
    """

    seed: int = 42
    n_items: int = 3000
    n_users: int = 1200
    end: datetime = DEFAULT_END
    days: int = 120
    activity: float = 1.0

    def __post_init__(self) -> None:
        leaves = len(all_leaves())
        if self.n_items < leaves:
            raise ValueError(f"n_items must be at least {leaves} (one item per leaf tag)")
        if self.n_users < 1:
            raise ValueError("n_users must be at least 1")
        if self.days < MIN_DAYS:
            raise ValueError(f"days must be at least {MIN_DAYS}")
        if not 0 < self.activity <= 100:
            raise ValueError("activity must be greater than 0 and at most 100")
        object.__setattr__(self, "end", to_utc(self.end))

    @property
    def start(self) -> datetime:
        """Beginning of the window."""
        return self.end - timedelta(days=self.days)


@dataclass(frozen=True)
class SampleData:
    """A generated data set: items, users, events, and the segment planted in each user."""

    config: SampleConfig
    items: list[Item]
    users: list[User]
    events: list[Event]
    segments: dict[str, str]
    """User id → name of the segment the user was drawn from."""
    segment_names: tuple[str, ...] = field(default_factory=segment_names)


@cache
def _event_list() -> TypeAdapter[list[Event]]:
    return TypeAdapter(list[Event])


def _to_events(
    raw: list[RawEvent], user_ids: list[str], item_ids: list[str], start: datetime
) -> list[Event]:
    """Order the simulated events by time and give them stable ids ``demo-000001`` …"""
    ordered = sorted(raw, key=lambda r: (r.t, r.user, r.order))
    width = max(6, len(str(len(ordered))))
    rows = [
        {
            "event_id": f"{EVENT_ID_PREFIX}{n:0{width}d}",
            "user_id": user_ids[r.user],
            "item_id": item_ids[r.item],
            "type": r.type,
            "value": r.value,
            "timestamp": start + timedelta(milliseconds=r.t),
            "channel": r.channel,
            "context": {
                "device": r.device,
                "page": r.page,
                "placement": r.placement,
                "position": r.position,
                "session_id": r.session_id,
            },
            "properties": r.properties or {},
        }
        for n, r in enumerate(ordered, start=1)
    ]
    # One validation call for the whole list is several times faster than one per event.
    return _event_list().validate_python(rows)


def generate_sample(config: SampleConfig | None = None) -> SampleData:
    """Generate the built-in sample data set: a news and magazine site with a small shop.

    The catalog holds articles under a three-level tag tree (``Technology > Smartphones >
    Android``) and products under ``Shop > …``; the audience comes from five planted taste
    segments that differ in what, how much, when, on which device and from which channel they
    read; the events are their sessions (impressions, clicks, views, dwell, scroll, likes,
    shares, ratings, carts and purchases). The same config always gives the same data.

    Parameters
    ----------
    config
        Sizes, seed and time window; the defaults (3,000 items, 1,200 users, 120 days up to
        2026-10-01) give about 85,000 events.

    Returns
    -------
    SampleData
        Items, users and events that pass schema and settings validation, with events in time
        order under stable ids ``demo-000001`` …, and each user's planted segment.

    Examples
    --------
    >>> data = generate_sample(SampleConfig(n_items=200, n_users=30, seed=7))
    >>> len(data.items), len(data.users)
    (200, 30)
    >>> data.items[0].tags[0].count(" > ")
    2
    >>> data.events[0].event_id
    'demo-000001'
    >>> data == generate_sample(SampleConfig(n_items=200, n_users=30, seed=7))
    True
    >>> sorted(set(data.segments.values())) == sorted(data.segment_names)
    True
    """
    config = config or SampleConfig()
    rng = np.random.default_rng(config.seed)
    start = config.start
    catalog = make_catalog(rng, config.n_items, start, config.days)
    audience = make_audience(rng, config.n_users, start, catalog.authors, config.activity)
    raw = Simulator(rng, catalog, audience, start, config.days).run()
    events = _to_events(raw, [u.id for u in audience.users], [i.id for i in catalog.items], start)
    return SampleData(
        config=config,
        items=catalog.items,
        users=audience.users,
        events=events,
        segments={
            user.id: SEGMENTS[int(s)].name
            for user, s in zip(audience.users, audience.segment, strict=True)
        },
    )
