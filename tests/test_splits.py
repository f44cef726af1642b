"""Splits of interaction frames: known answers, options, errors and invariants."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.catalog.columns import Columns
from tastemaker.errors import InvalidInput
from tastemaker.evaluation import carve_validation, chronological_split, random_split, time_split

USER, ITEM, TIME = Columns.USER, Columns.ITEM, Columns.TIMESTAMP


def frame(users: list[str], items: list[int], stamps: Iterable[int] | None = None) -> pd.DataFrame:
    data: dict[str, object] = {USER: users, ITEM: items}
    if stamps is not None:
        data[TIME] = np.asarray(list(stamps), dtype=np.int64)
    return pd.DataFrame(data)


def assert_partition(original: pd.DataFrame, *parts: pd.DataFrame) -> None:
    """Every input row is in exactly one part, unchanged."""
    index = np.concatenate([p.index.to_numpy() for p in parts])
    assert sorted(index.tolist()) == sorted(original.index.tolist())
    for part in parts:
        pd.testing.assert_frame_equal(part, original.loc[part.index])


@st.composite
def interactions(draw: st.DrawFn, with_time: bool = True) -> pd.DataFrame:
    """Small frames with many users, repeated items and many timestamp ties."""
    n = draw(st.integers(0, 80))
    users = draw(st.lists(st.sampled_from("abcdefg"), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    stamps = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)) if with_time else None
    out = frame(users, items, stamps)
    # a non-trivial index, to prove the index is carried and not reset
    out.index = pd.Index(np.arange(n) * 3 + 100)
    return out


# ---------------------------------------------------------------- chronological split


def test_chronological_known_answer() -> None:
    # user a: 10 rows -> floor(0.2 * 10) = 2 latest rows (ts 90, 100) held out
    # user b: 5 rows  -> max(1, floor(1.0)) = 1 latest row (ts 50) held out
    # user c: 4 rows  -> fewer than min_interactions = 5, stays in train
    users = ["a"] * 10 + ["b"] * 5 + ["c"] * 4
    stamps = [100, 10, 90, 20, 30, 40, 50, 60, 70, 80, *[50, 40, 30, 20, 10], *[1, 2, 3, 4]]
    data = frame(users, [1] * 19, stamps)
    train, test = chronological_split(data)
    assert sorted(test[TIME].tolist()) == [50, 90, 100]
    assert test.index.tolist() == [0, 2, 10]  # input order is kept
    assert_partition(data, train, test)


def test_chronological_ties_break_by_row_order() -> None:
    # all five rows share one timestamp: the last row in input order is the latest
    data = frame(["u"] * 5, [1, 2, 3, 4, 5], [7] * 5)
    _, test = chronological_split(data, drop_cold_items=False)
    assert test.index.tolist() == [4]


def test_chronological_fraction_is_floored_exactly() -> None:
    # 0.29 * 100 == 28.999999999999996 in binary floating point; 29 rows must be held out
    data = frame(["u"] * 100, list(range(100)), list(range(100)))
    _, test = chronological_split(data, test_fraction=0.29, drop_cold_items=False)
    assert len(test) == 29


def test_chronological_never_holds_out_a_whole_user() -> None:
    data = frame(["u"] * 2, [1, 2], [1, 2])
    train, test = chronological_split(
        data, test_fraction=0.99, min_interactions=2, drop_cold_items=False
    )
    assert len(train) == 1
    assert len(test) == 1


def test_chronological_drop_cold_items_and_seen() -> None:
    # item 9 only occurs in the held-out rows; item 1 is held out although already seen
    data = frame(["u"] * 6, [1, 2, 3, 4, 1, 9], [1, 2, 3, 4, 5, 6])
    _, test = chronological_split(data, test_fraction=0.34, drop_cold_items=False)
    assert test[ITEM].tolist() == [1, 9]
    _, test = chronological_split(data, test_fraction=0.34)
    assert test[ITEM].tolist() == [1]
    _, test = chronological_split(data, test_fraction=0.34, drop_seen=True)
    assert test[ITEM].tolist() == []


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Berlin"])
def test_chronological_accepts_datetime_columns(tz: str | None) -> None:
    data = frame(["u"] * 6 + ["v"] * 5, list(range(11)), [5, 4, 3, 2, 1, 0, 9, 9, 8, 7, 6])
    expected = chronological_split(data, drop_cold_items=False)
    dated = data.assign(**{TIME: pd.to_datetime(data[TIME], unit="us", utc=tz is not None)})
    if tz is not None:
        dated[TIME] = dated[TIME].dt.tz_convert(tz)
    got = chronological_split(dated, drop_cold_items=False)
    assert [p.index.tolist() for p in got] == [p.index.tolist() for p in expected]


@given(interactions(), st.floats(0.05, 0.95), st.integers(2, 6))
@settings(max_examples=150, deadline=None)
def test_chronological_partitions_and_respects_time(
    data: pd.DataFrame, fraction: float, min_interactions: int
) -> None:
    train, test = chronological_split(
        data, fraction, min_interactions=min_interactions, drop_cold_items=False
    )
    assert_partition(data, train, test)
    position = pd.Series(np.arange(len(data)), index=data.index)
    for user, held_out in test.groupby(USER):
        kept = train[train[USER] == user]
        assert len(kept) >= 1
        assert len(kept) + len(held_out) >= min_interactions
        # every test row comes after every train row: by time, then by input position
        latest_train = max(zip(kept[TIME], position[kept.index], strict=True))
        earliest_test = min(zip(held_out[TIME], position[held_out.index], strict=True))
        assert latest_train < earliest_test
    short = data.groupby(USER)[ITEM].transform("size") < min_interactions
    assert not test.index.isin(data.index[short]).any()


@given(interactions(), st.floats(0.05, 0.95))
@settings(max_examples=100, deadline=None)
def test_chronological_drops_only_cold_held_out_rows(data: pd.DataFrame, fraction: float) -> None:
    train_all, test_all = chronological_split(data, fraction, drop_cold_items=False)
    train, test = chronological_split(data, fraction, drop_cold_items=True, drop_seen=True)
    pd.testing.assert_frame_equal(train, train_all)
    assert set(test.index) <= set(test_all.index)
    assert test[ITEM].isin(train[ITEM]).all()
    seen = set(zip(train[USER], train[ITEM], strict=True))
    assert not any(pair in seen for pair in zip(test[USER], test[ITEM], strict=True))
    dropped = test_all.drop(test.index)
    for u, i in zip(dropped[USER], dropped[ITEM], strict=True):
        assert i not in set(train[ITEM]) or (u, i) in seen


# ---------------------------------------------------------------- random split


def test_random_split_sizes_per_user() -> None:
    # 20 rows: floor(0.1 * 20) = 2 validation, 2 test, 16 train
    # 5 rows: max(1, floor(0.5)) = 1 validation, 1 test, 3 train
    # 4 rows: below min_interactions, all train
    data = frame(["a"] * 20 + ["b"] * 5 + ["c"] * 4, [0] * 29)
    train, validation, test = random_split(data, seed=3)
    assert_partition(data, train, validation, test)
    assert validation[USER].value_counts().to_dict() == {"a": 2, "b": 1}
    assert test[USER].value_counts().to_dict() == {"a": 2, "b": 1}
    assert (train[USER] == "c").sum() == 4


def test_random_split_reproducible_and_seed_sensitive() -> None:
    data = frame([f"u{i % 50}" for i in range(1000)], [i % 37 for i in range(1000)])
    first = random_split(data, seed=11, drop_cold_items=False)
    again = random_split(data, seed=11, drop_cold_items=False)
    other = random_split(data, seed=12, drop_cold_items=False)
    generator = random_split(data, seed=np.random.default_rng(11), drop_cold_items=False)
    for a, b, c in zip(first, again, generator, strict=True):
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(a, c)
    assert first[2].index.tolist() != other[2].index.tolist()


def test_random_split_without_validation() -> None:
    data = frame(["a"] * 10, list(range(10)))
    train, validation, test = random_split(
        data, (0.7, 0.0, 0.3), seed=0, min_interactions=2, drop_cold_items=False
    )
    assert (len(train), len(validation), len(test)) == (7, 0, 3)


@given(interactions(with_time=False), st.integers(0, 2**32 - 1))
@settings(max_examples=150, deadline=None)
def test_random_split_partitions(data: pd.DataFrame, seed: int) -> None:
    parts = random_split(data, seed=seed, drop_cold_items=False)
    assert_partition(data, *parts)
    train, validation, test = parts
    held_out_users = set(validation[USER]) | set(test[USER])
    assert held_out_users <= set(train[USER])
    again = random_split(data, seed=seed, drop_cold_items=False)
    for a, b in zip(parts, again, strict=True):
        pd.testing.assert_frame_equal(a, b)


@given(st.integers(0, 2**32 - 2))
@settings(max_examples=25, deadline=None)
def test_random_split_differs_between_seeds(seed: int) -> None:
    # 40 users x 10 rows: two seeds agree on every user's test row with chance 10^-40
    data = frame([f"u{i // 10}" for i in range(400)], list(range(400)))
    _, _, a = random_split(data, seed=seed, drop_cold_items=False)
    _, _, b = random_split(data, seed=seed + 1, drop_cold_items=False)
    assert a.index.tolist() != b.index.tolist()


# ---------------------------------------------------------------- time split


def test_time_split_at_timestamp_drops_cold_rows() -> None:
    data = frame(["a", "b", "a", "b", "c", "a"], [1, 2, 2, 1, 1, 9], [10, 20, 30, 40, 50, 60])
    train, test = time_split(data, at=30)
    assert train[TIME].tolist() == [10, 20]
    assert test[TIME].tolist() == [30, 40]  # "c" is a cold user, item 9 a cold item
    _, test = time_split(data, at=30, drop_cold_users=False, drop_cold_items=False)
    assert test[TIME].tolist() == [30, 40, 50, 60]


def test_time_split_quantile() -> None:
    # ceil(0.8 * 10) = 8: the cut is the 9th earliest timestamp, 80 rows' worth of train
    data = frame(["a"] * 10, [1] * 10, list(range(10, 0, -1)))
    train, test = time_split(data, quantile=0.8)
    assert sorted(test[TIME].tolist()) == [9, 10]
    assert len(train) == 8
    # ties straddling the cut all go to test
    tied = frame(["a"] * 5, [1] * 5, [1, 2, 2, 2, 2])
    train, test = time_split(tied, quantile=0.5)
    assert train[TIME].tolist() == [1]


def test_time_split_datetimes() -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    stamps = [base + timedelta(hours=h) for h in range(6)]
    micros = [int(s.timestamp()) * 1_000_000 for s in stamps]
    data = frame(["a"] * 6, [1] * 6, micros)
    cut = base + timedelta(hours=4)
    naive_cut = cut.replace(tzinfo=None)
    berlin_cut = cut.astimezone(timezone(timedelta(hours=1)))
    expected = [4, 5]
    for at in (cut, naive_cut, berlin_cut, np.datetime64(naive_cut), micros[4]):
        assert time_split(data, at=at)[1].index.tolist() == expected
    aware = data.assign(**{TIME: pd.to_datetime(data[TIME], unit="us", utc=True)})
    naive = aware.assign(**{TIME: aware[TIME].dt.tz_localize(None)})
    for dated in (aware, naive):
        for at in (cut, naive_cut, berlin_cut, micros[4]):
            assert time_split(dated, at=at)[1].index.tolist() == expected
        assert time_split(dated, quantile=0.6)[1].index.tolist() == expected


@given(interactions(), st.integers(-1, 8), st.floats(0.01, 0.99))
@settings(max_examples=100, deadline=None)
def test_time_split_partitions_in_time(data: pd.DataFrame, at: int, quantile: float) -> None:
    for train, test in (
        time_split(data, at=at, drop_cold_users=False, drop_cold_items=False),
        time_split(data, quantile=quantile, drop_cold_users=False, drop_cold_items=False),
    ):
        assert_partition(data, train, test)
        if len(train) and len(test):
            assert train[TIME].max() < test[TIME].min()


# ---------------------------------------------------------------- validation carving


def test_carve_validation_never_touches_test() -> None:
    data = frame([f"u{i % 20}" for i in range(400)], [i % 31 for i in range(400)], range(400))
    train, test = chronological_split(data)
    fit, validation = carve_validation(
        train, chronological_split, test_fraction=0.25, drop_cold_items=False
    )
    assert_partition(train, fit, validation)
    assert not set(validation.index) & set(test.index)
    assert set(fit.index) | set(validation.index) <= set(train.index)
    # the validation rows of a user are the latest of their *training* rows
    for user, rows in validation.groupby(USER):
        assert rows[TIME].min() > fit.loc[fit[USER] == user, TIME].max()
        assert rows[TIME].max() < test.loc[test[USER] == user, TIME].min()
    quantile_fit, quantile_validation = carve_validation(train, time_split, quantile=0.8)
    assert quantile_fit[TIME].max() < quantile_validation[TIME].min() <= train[TIME].max()


def test_carve_validation_rejects_an_empty_validation_part() -> None:
    data = frame(["a"] * 10, [1] * 10, range(10))
    train, _ = time_split(data, at=8)
    with pytest.raises(InvalidInput, match="validation part"):
        carve_validation(train, time_split, at=8)  # the same absolute cut leaves nothing


# ---------------------------------------------------------------- errors and scale


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: chronological_split(d, test_fraction=0.0), "test_fraction"),
        (lambda d: chronological_split(d, test_fraction=1.0), "test_fraction"),
        (lambda d: chronological_split(d, min_interactions=1), "min_interactions"),
        (lambda d: chronological_split(d.drop(columns=[TIME])), "missing column"),
        (lambda d: chronological_split(d.assign(**{TIME: d[TIME] * 1.0})), "int64 microseconds"),
        (lambda d: chronological_split(d.assign(**{USER: [None] + ["a"] * 5})), "missing values"),
        (lambda d: random_split(d, (0.8, 0.1), seed=0), "fractions"),  # type: ignore[arg-type]
        (lambda d: random_split(d, (0.8, 0.1, 0.2), seed=0), "sum to 1"),
        (lambda d: random_split(d, (0.0, 0.5, 0.5), seed=0), "fractions"),
        (lambda d: random_split(d, seed=0, min_interactions=2), "min_interactions"),
        (lambda d: time_split(d), "exactly one"),
        (lambda d: time_split(d, at=3, quantile=0.5), "exactly one"),
        (lambda d: time_split(d, quantile=1.5), "quantile"),
    ],
)
def test_invalid_input_is_explained(call: Callable[[pd.DataFrame], object], message: str) -> None:
    data = frame(["a"] * 6, [1] * 6, range(6))
    with pytest.raises(InvalidInput, match=message):
        call(data)


def test_missing_timestamps_are_rejected() -> None:
    data = frame(["a"] * 3, [1] * 3).assign(**{TIME: pd.array([1, None, 3], dtype="Int64")})
    with pytest.raises(InvalidInput, match="missing values"):
        chronological_split(data)


def test_empty_frames() -> None:
    empty = frame([], [], [])
    assert all(len(p) == 0 for p in chronological_split(empty))
    assert all(len(p) == 0 for p in random_split(empty, seed=0))
    assert all(len(p) == 0 for p in time_split(empty, quantile=0.5))


def test_splits_scale_to_hundreds_of_thousands_of_rows() -> None:
    rng = np.random.default_rng(0)
    n = 300_000
    data = pd.DataFrame(
        {
            USER: rng.integers(0, 20_000, n).astype(str),
            ITEM: rng.integers(0, 5_000, n),
            TIME: rng.integers(0, 10**12, n),
        }
    )
    # Speed is shown by benchmarks, not asserted here; at this size the parts must still
    # partition the rows exactly.
    train, test = chronological_split(data)
    assert len(train) + len(test) == n
    assert train.index.intersection(test.index).empty
    parts = random_split(data, seed=0)
    assert sum(len(p) for p in parts) == n
    before, after = time_split(data, quantile=0.8, drop_cold_users=False, drop_cold_items=False)
    assert len(before) + len(after) == n
