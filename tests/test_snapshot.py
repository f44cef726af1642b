"""Columnar snapshots for training, on every store backend."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from tastemaker.catalog import Event, Item
from tastemaker.catalog.columns import Columns
from tastemaker.models import Dataset
from tastemaker.storage import DataStore
from tastemaker.storage.types import to_micros

NOW = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)


def test_events_and_items_frames(store: DataStore) -> None:
    store.items.upsert(
        [
            Item(id="a", title="A", tags=["X > Y"], author="ann", published_at=NOW),
            Item(id="b", title="B", recommendable=False),
        ],
        NOW,
    )
    store.events.append(
        [
            Event(event_id="1", user_id="alice@x", item_id="a", type="view", timestamp=NOW),
            Event(event_id="2", user_id="bob", item_id="b", type="dwell", value=12.5),
            Event(event_id="3", user_id="alice@x", item_id="b", type="dislike"),
        ],
        NOW,
    )
    ev = store.snapshot.events()
    assert list(ev.columns) == [
        Columns.USER,
        Columns.ITEM,
        Columns.TYPE,
        Columns.VALUE,
        Columns.TIMESTAMP,
    ]
    assert ev[Columns.ITEM].tolist() == ["a", "b", "b"]
    alice = store.snapshot.user_key("alice@x")
    assert ev[Columns.USER].tolist() == [alice, store.snapshot.user_key("bob"), alice]
    assert "alice" not in "".join(ev[Columns.USER])  # pseudonyms, not ids
    assert ev[Columns.TIMESTAMP].dtype == np.int64
    assert ev[Columns.TIMESTAMP].iloc[0] == to_micros(NOW)
    assert np.isnan(ev[Columns.VALUE].iloc[0])
    assert ev[Columns.VALUE].iloc[1] == 12.5
    assert store.snapshot.events(types=["dislike"])[Columns.ITEM].tolist() == ["b"]

    items = store.snapshot.items()
    assert list(items.index) == ["a", "b"]
    assert items.loc["a", "tags"] == ["X > Y"]
    assert items.loc["a", "published_at"] == to_micros(NOW)
    assert items.loc["b", "published_at"] == -1
    assert bool(items.loc["b", "recommendable"]) is False

    data = Dataset.from_events(ev, items=items)
    assert data.positives.nnz == 1  # the view; a 12.5 s dwell is only "seen"
    assert data.negatives.nnz == 1
    assert data.items is not None
    assert data.items.recommendable.tolist() == [True, False]


def test_empty_store_gives_empty_frames(store: DataStore) -> None:
    assert store.snapshot.events().empty
    assert store.snapshot.items().empty


def test_detailed_events_keep_ids_channels_devices_and_itemless_events(store: DataStore) -> None:
    store.events.append(
        [
            Event(
                event_id="a",
                user_id="u",
                item_id="x",
                type="view",
                channel="app",
                context={"device": "mobile"},
                timestamp=NOW,
            ),
            Event(
                event_id="b",
                user_id="u",
                item_id="x",
                type="click",
                timestamp=NOW,
                context={"recommendation_id": "r-9"},
            ),
        ],
        NOW,
    )
    ev = store.snapshot.events(detail=True)
    assert pd.isna(ev[Columns.RECOMMENDATION_ID].iloc[0])
    assert ev[Columns.RECOMMENDATION_ID].iloc[1] == "r-9"
    assert ev[Columns.EVENT_ID].tolist() == ["a", "b"]
    assert ev[Columns.CHANNEL].tolist() == ["app", "web"]
    assert ev[Columns.DEVICE].iloc[0] == "mobile"
    assert pd.isna(ev[Columns.DEVICE].iloc[1])
    assert ev[Columns.USER].tolist() == [store.snapshot.user_key("u")] * 2


def test_preferences_by_user_key(store: DataStore) -> None:
    from tastemaker.catalog import User

    store.users.upsert(
        [
            User.model_validate({"id": "fan", "preferences": {"tags": ["Sports>Football"]}}),
            User.model_validate({"id": "blank"}),
        ],
        NOW,
    )
    prefs = store.snapshot.preferences()
    assert list(prefs) == [store.snapshot.user_key("fan")]
    assert prefs[store.snapshot.user_key("fan")].tags == ["Sports > Football"]
