"""A tiny, hand-made content site whose right answers are known, for the serving tests.

Items: ten tech articles (``t-0`` … ``t-9``; even ones under ``Tech > Phones`` by Ann, odd ones
under ``Tech > Laptops`` by Bob; ``t-0`` … ``t-2`` premium), ten sport articles (``s-0`` …
``s-9``, ``Sport > Football``, by Cid), and three news items that must never be shown: ``n-0``
is not recommendable, ``n-1`` has expired, ``n-2`` is recommendable news. Item ``x-i`` was
published ``i`` days before ``NOW`` (tech) or ``i + 10`` days before (sport).

Users: ``tech-0`` … ``tech-11`` click and like tech articles, ``sport-0`` … ``sport-11``
sport ones; each reads six of the ten of their kind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tastemaker.catalog.events import Event
from tastemaker.catalog.items import Item
from tastemaker.config import Settings
from tastemaker.storage import DataStore
from tastemaker.training.trainer import train

NOW = datetime.now(UTC).replace(microsecond=0)
MODELS = ["popular", "trending", "item_knn", "content"]


def items() -> list[Item]:
    out = []
    for i in range(10):
        phones = i % 2 == 0
        out.append(
            Item(
                id=f"t-{i}",
                title=f"{'Phone' if phones else 'Laptop'} review {i}",
                text=(
                    "phone battery camera screen android "
                    if phones
                    else "laptop keyboard cpu battery "
                )
                * 5,
                tags=["Tech > Phones" if phones else "Tech > Laptops"],
                author="Ann" if phones else "Bob",
                source="Wire",
                published_at=NOW - timedelta(days=i, hours=1),
                properties={"premium": i < 3},
            )
        )
    for i in range(10):
        out.append(
            Item(
                id=f"s-{i}",
                title=f"Match report {i}",
                text="football goal match league striker " * 5,
                tags=["Sport > Football"],
                author="Cid",
                source="Gazette",
                published_at=NOW - timedelta(days=i + 10, hours=1),
            )
        )
    out += [
        Item(
            id="n-0",
            title="Hidden",
            tags=["News"],
            recommendable=False,
            published_at=NOW - timedelta(days=1),
        ),
        Item(
            id="n-1",
            title="Expired",
            tags=["News"],
            published_at=NOW - timedelta(days=3),
            expires_at=NOW - timedelta(days=1),
        ),
        Item(
            id="n-2", title="News of the day", tags=["News"], published_at=NOW - timedelta(hours=5)
        ),
    ]
    return out


def events() -> list[Event]:
    out = []
    n = 0
    for kind in ("tech", "sport"):
        prefix = "t" if kind == "tech" else "s"
        for u in range(12):
            for j in range(6):
                item = f"{prefix}-{(u + j * 3) % 10}"
                for etype in ("click", "like"):
                    out.append(
                        Event(
                            event_id=f"w-{n}",
                            user_id=f"{kind}-{u}",
                            item_id=item,
                            type=etype,
                            timestamp=NOW - timedelta(days=20, minutes=n),
                        )
                    )
                    n += 1
            # Everybody clicked the hidden and the expired item: popular, yet never shown.
            for hidden in ("n-0", "n-1"):
                out.append(
                    Event(
                        event_id=f"w-{n}",
                        user_id=f"{kind}-{u}",
                        item_id=hidden,
                        type="click",
                        timestamp=NOW - timedelta(days=20, minutes=n),
                    )
                )
                n += 1
    return out


def build(store: DataStore, settings: Settings, models: list[str] | None = None) -> None:
    """Load the world into ``store`` and train ``models`` (all of :data:`MODELS` by default)."""
    store.items.upsert(items(), NOW - timedelta(days=30))
    store.events.append(events(), NOW - timedelta(days=20))
    train(store, settings, NOW - timedelta(days=19), models or MODELS, force=True)
