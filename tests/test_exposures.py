"""The exposure log's contract, on every backend: what a response showed comes back intact."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tastemaker.catalog import Event, User
from tastemaker.catalog.columns import Columns
from tastemaker.catalog.exposures import ExposedItem, Exposure
from tastemaker.errors import Conflict, InvalidInput
from tastemaker.storage import DataStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

FRAME_COLUMNS = [
    Columns.RECOMMENDATION_ID,
    Columns.USER,
    Columns.ITEM,
    Columns.TIMESTAMP,
    Columns.PLACEMENT,
    Columns.PAGE,
    Columns.POSITION,
    Columns.SCORE,
    Columns.SOURCE,
    Columns.PROPENSITY,
    Columns.EXPERIMENT,
    Columns.ARM,
    Columns.FEATURES,
]


def exposure(
    rid: str = "r1",
    user: str = "u1",
    items: list[str] | None = None,
    page: int = 0,
    at: datetime = NOW,
    placement: str = "home",
    **kw: object,
) -> Exposure:
    ids = items if items is not None else ["a", "b", "c"]
    start = page * len(ids)
    shown = [
        ExposedItem(
            item_id=item,
            position=start + n,
            score=1.0 - n / 10,
            source="als" if n % 2 == 0 else None,
            propensity=0.5 if n == 0 else None,
            features={"als_score": 1.0 - n / 10, "age_days": float(n)},
        )
        for n, item in enumerate(ids)
    ]
    data: dict[str, object] = {
        "recommendation_id": rid,
        "user_id": user,
        "placement": placement,
        "created_at": at,
        "page": page,
        "items": shown,
        "models": {"als": 3, "popular": 1},
        "context": {"device": "mobile", "item": "x9", "nested": {"k": [1, 2]}},
        "experiment": "exp-1",
        "arm": "B",
        "fallback": None,
    }
    data.update(kw)
    return Exposure.model_validate(data)


def test_log_and_get_round_trip(store: DataStore) -> None:
    logged = exposure()
    store.exposures.log(logged)
    assert store.exposures.get("r1") == [logged]
    assert store.exposures.count() == 1
    assert store.exposures.get("unknown") == []
    assert store.exposures.shown_items("unknown") == set()


def test_an_exposure_creates_its_user(store: DataStore) -> None:
    store.exposures.log(exposure(user="anon-session-7"))
    created = store.users.get("anon-session-7")
    assert created is not None
    assert created.created_at == NOW


def test_pages_are_kept_apart_and_shown_items_cover_them_all(store: DataStore) -> None:
    second = exposure(items=["d", "e"], page=1, at=NOW + timedelta(seconds=5))
    store.exposures.log(second)  # pages may arrive out of order
    store.exposures.log(exposure())
    pages = store.exposures.get("r1")
    assert [p.page for p in pages] == [0, 1]
    assert pages[1] == second
    assert [i.position for i in pages[1].items] == [2, 3]
    assert store.exposures.shown_items("r1") == {"a", "b", "c", "d", "e"}
    assert store.exposures.count() == 2


def test_logging_again_is_a_no_op_and_other_content_conflicts(store: DataStore) -> None:
    store.exposures.log(exposure())
    # Equal content, dicts in another order: still the same exposure.
    again = exposure(context={"nested": {"k": [1, 2]}, "item": "x9", "device": "mobile"})
    store.exposures.log(again)
    assert store.exposures.count() == 1
    assert len(store.exposures.frame()) == 3
    with pytest.raises(Conflict):
        store.exposures.log(exposure(items=["a", "b", "z"]))
    assert store.exposures.get("r1") == [exposure()]


def test_log_many_stores_all_or_nothing(store: DataStore) -> None:
    store.exposures.log_many([exposure("r1"), exposure("r2", user="u2"), exposure("r1", page=1)])
    assert store.exposures.count() == 3
    assert store.exposures.shown_items("r2") == {"a", "b", "c"}
    with pytest.raises(Conflict):
        store.exposures.log_many([exposure("r3"), exposure("r1", items=["z", "y", "x"])])
    assert store.exposures.get("r3") == []
    assert store.exposures.count() == 3


def test_text_postgresql_cannot_store_is_refused_everywhere(store: DataStore) -> None:
    with pytest.raises(InvalidInput):
        store.exposures.log(exposure(context={"q": "a\x00b"}))
    with pytest.raises(InvalidInput):
        store.exposures.log(exposure(fallback="\x00"))
    store.exposures.log(exposure(context={"path": r"C:\u0000"}))  # a backslash is fine
    assert store.exposures.get("r1")[0].context == {"path": r"C:\u0000"}


def test_awkward_text_round_trips(store: DataStore) -> None:
    odd = 'tab\tline\nback\\slash "quote" ünï ✓ \\N'
    item = ExposedItem(item_id="ä-1", position=0, score=0.5, source=odd, features={odd: 1.5})
    logged = exposure(context={odd: [odd]}, fallback=odd).model_copy(update={"items": [item]})
    store.exposures.log(logged)
    assert store.exposures.get("r1") == [logged]
    assert store.exposures.frame()[Columns.SOURCE].tolist() == [odd]


def test_empty_and_fallback_exposures(store: DataStore) -> None:
    empty = exposure(rid="r-empty", items=[], models={}, context={}, experiment=None, arm=None)
    fallback = exposure(rid="r-fb", fallback="model 'als' unavailable", models={})
    store.exposures.log(empty)
    store.exposures.log(fallback)
    assert store.exposures.get("r-empty") == [empty]
    assert store.exposures.get("r-fb") == [fallback]
    assert store.exposures.shown_items("r-empty") == set()


def test_missing_features_are_nan(store: DataStore) -> None:
    item = ExposedItem(item_id="a", position=0, score=0.5, features={"f": math.nan, "g": 1.0})
    store.exposures.log(exposure(items=[]).model_copy(update={"items": [item]}))
    [back] = store.exposures.get("r1")
    assert math.isnan(back.items[0].features["f"])
    assert back.items[0].features["g"] == 1.0
    [features] = store.exposures.frame()[Columns.FEATURES]
    assert math.isnan(features["f"])


def test_frame_columns_values_and_user_key(store: DataStore) -> None:
    store.events.append(
        [Event(event_id="e1", user_id="u1", item_id="a", type="view", timestamp=NOW)], NOW
    )
    store.exposures.log(exposure())
    store.exposures.log(exposure(items=["d"], page=1, at=NOW + timedelta(seconds=1)))
    frame = store.exposures.frame()
    assert list(frame.columns) == FRAME_COLUMNS
    assert frame[Columns.ITEM].tolist() == ["a", "b", "c", "d"]
    assert frame[Columns.POSITION].tolist() == [0, 1, 2, 1]
    assert frame[Columns.PAGE].tolist() == [0, 0, 0, 1]
    assert frame[Columns.SCORE].tolist() == [1.0, 0.9, 0.8, 1.0]
    assert frame[Columns.SOURCE].fillna("-").tolist() == ["als", "-", "als", "als"]
    assert frame[Columns.PROPENSITY].iloc[0] == 0.5
    assert frame[Columns.PROPENSITY].iloc[1:3].isna().all()
    assert frame[Columns.TIMESTAMP].tolist() == [int(NOW.timestamp() * 1e6)] * 3 + [
        int(NOW.timestamp() * 1e6) + 1_000_000
    ]
    assert set(frame[Columns.EXPERIMENT]) == {"exp-1"}
    assert set(frame[Columns.ARM]) == {"B"}
    assert frame[Columns.FEATURES].iloc[1] == {"als_score": 0.9, "age_days": 1.0}
    for col in (Columns.TIMESTAMP, Columns.PAGE, Columns.POSITION):
        assert frame[col].dtype == np.int64
    for col in (Columns.SCORE, Columns.PROPENSITY):
        assert frame[col].dtype == np.float64
    # The same pseudonymous key as the training snapshot's events: exposures join outcomes.
    key = store.snapshot.user_key("u1")
    assert set(frame[Columns.USER]) == {key}
    assert set(store.snapshot.events()[Columns.USER]) == {key}


def test_frame_filters_by_time_and_placement(store: DataStore) -> None:
    store.exposures.log(exposure(rid="old", at=NOW - timedelta(days=2)))
    store.exposures.log(exposure(rid="new-home", at=NOW))
    store.exposures.log(exposure(rid="new-mail", at=NOW, placement="email"))
    ids = Columns.RECOMMENDATION_ID
    assert set(store.exposures.frame(since=NOW)[ids]) == {"new-home", "new-mail"}
    assert set(store.exposures.frame(placement="home")[ids]) == {"old", "new-home"}
    assert set(store.exposures.frame(since=NOW, placement="email")[ids]) == {"new-mail"}


def test_empty_frame_has_the_columns_and_types(store: DataStore) -> None:
    frame = store.exposures.frame()
    assert list(frame.columns) == FRAME_COLUMNS
    assert len(frame) == 0
    assert frame[Columns.POSITION].dtype == np.int64
    assert frame[Columns.SCORE].dtype == np.float64


def test_erasure_removes_exposures_and_their_items(store: DataStore) -> None:
    store.users.upsert([User(id="gone"), User(id="kept")], NOW)
    store.exposures.log(exposure(rid="r-gone", user="gone"))
    store.exposures.log(exposure(rid="r-gone", user="gone", items=["d"], page=1))
    store.exposures.log(exposure(rid="r-kept", user="kept"))
    removed = store.users.erase("gone")
    assert removed is not None
    assert (removed["exposures"], removed["exposure_items"], removed["users"]) == (2, 4, 1)
    assert store.exposures.get("r-gone") == []
    assert store.exposures.shown_items("r-gone") == set()
    frame = store.exposures.frame()
    assert set(frame[Columns.RECOMMENDATION_ID]) == {"r-kept"}
    assert store.exposures.get("r-kept") == [exposure(rid="r-kept", user="kept")]


# --- invariants ------------------------------------------------------------------------------

_ids = st.text("abcdefgh0123456789-_", min_size=1, max_size=12)
_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_items = st.lists(
    st.tuples(
        _ids,
        _finite,
        st.none() | st.sampled_from(["als", "popular", "content"]),
        st.none() | st.floats(0.0, 1.0),
        st.dictionaries(st.sampled_from(["f1", "f2", "f3"]), _finite | st.just(math.nan)),
    ),
    max_size=8,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pages=st.lists(
        st.tuples(_ids, st.sampled_from(["home", "mail"]), _items, st.integers(0, 10**12)),
        min_size=1,
        max_size=4,
    )
)
def test_frame_round_trips_random_exposures(
    store: DataStore, pages: list[tuple[str, str, list[tuple[object, ...]], int]]
) -> None:
    before = len(store.exposures.frame())
    logged: list[Exposure] = []
    for n, (user, placement, items, micros) in enumerate(pages):
        rid = f"h{store.exposures.count()}-{n}"
        e = Exposure(
            recommendation_id=rid,
            user_id=user,
            placement=placement,
            created_at=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros),
            items=[
                ExposedItem(
                    item_id=item,  # type: ignore[arg-type]
                    position=pos,
                    score=score,  # type: ignore[arg-type]
                    source=source,  # type: ignore[arg-type]
                    propensity=prop,  # type: ignore[arg-type]
                    features=feats,  # type: ignore[arg-type]
                )
                for pos, (item, score, source, prop, feats) in enumerate(items)
            ],
        )
        store.exposures.log(e)
        logged.append(e)
    frame = store.exposures.frame().iloc[before:].reset_index(drop=True)
    expected = pd.DataFrame(
        [
            {
                Columns.RECOMMENDATION_ID: e.recommendation_id,
                Columns.USER: store.snapshot.user_key(e.user_id),
                Columns.ITEM: i.item_id,
                Columns.TIMESTAMP: int(
                    (e.created_at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)
                ),
                Columns.PLACEMENT: e.placement,
                Columns.POSITION: i.position,
                Columns.SCORE: i.score,
                Columns.SOURCE: i.source or "-",
                Columns.PROPENSITY: math.nan if i.propensity is None else i.propensity,
                Columns.FEATURES: i.features,
            }
            for e in logged
            for i in e.items
        ],
        columns=[
            c for c in FRAME_COLUMNS if c not in (Columns.PAGE, Columns.EXPERIMENT, Columns.ARM)
        ],
    )
    got = frame[expected.columns]
    assert len(got) == len(expected)
    for col in expected.columns:
        if col == Columns.FEATURES:
            for a, b in zip(got[col], expected[col], strict=True):
                assert a.keys() == b.keys()
                assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)
        elif col in (Columns.SCORE, Columns.PROPENSITY):
            np.testing.assert_array_equal(
                got[col].to_numpy(), expected[col].to_numpy(dtype=np.float64)
            )
        elif col == Columns.SOURCE:
            assert got[col].fillna("-").tolist() == expected[col].tolist()
        else:
            assert got[col].tolist() == expected[col].tolist(), col
    for e in logged:  # and get() gives back the same content (NaN included)
        assert [p.content_hash() for p in store.exposures.get(e.recommendation_id)] == [
            e.content_hash()
        ]


def test_concurrent_logging_of_one_page_stores_it_once(store: DataStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    page = exposure()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: store.exposures.log(page), range(12)))
    assert store.exposures.count() == 1
    assert store.exposures.get("r1") == [page]
