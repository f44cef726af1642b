"""The contract every recommender passes (one suite, every model in the catalog).

Known-answer data is a checkerboard: users of group A interacted with every group-A item but one,
users of group B likewise; the one missing item of each user must come back first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tastemaker.catalog.columns import Columns
from tastemaker.errors import NotFittedError
from tastemaker.models import Dataset, ItemFilter, Recommender
from tastemaker.models.catalog import MODELS, model_class

GROUP = 10
# Parameters that make small models deterministic and quick on the tiny test data.
PARAMS: dict[str, dict[str, Any]] = {
    "als": {"factors": 8, "iterations": 30, "regularization": 1.0, "seed": 1},
}


def build(name: str) -> Recommender:
    return model_class(name)(**PARAMS.get(name, {}))


def checkerboard() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    rows = []
    held_out = {}
    for group, offset in (("a", 0), ("b", GROUP)):
        for u in range(GROUP):
            user = f"{group}{u}"
            held_out[user] = f"i{offset + u}"
            for i in range(GROUP):
                if i != u:
                    rows.append((user, f"i{offset + i}", 1.0, 1_000 + i))
    inter = pd.DataFrame(rows, columns=list(Columns.INTERACTIONS))
    items = pd.DataFrame(
        {
            "title": [f"item {i}" for i in range(2 * GROUP)],
            "text": [
                ("alpha apple anchor" if i < GROUP else "beta banana bridge")
                for i in range(2 * GROUP)
            ],
            "tags": [["Group > A"] if i < GROUP else ["Group > B"] for i in range(2 * GROUP)],
            "author": ["ann" if i < GROUP else "bob" for i in range(2 * GROUP)],
            "source": ["wire"] * (2 * GROUP),
            "published_at": [1_000_000 * i for i in range(2 * GROUP)],
            "recommendable": [True] * (2 * GROUP),
        },
        index=[f"i{i}" for i in range(2 * GROUP)],
    )
    return inter, items, held_out


@pytest.fixture(scope="module")
def data() -> Dataset:
    inter, items, _ = checkerboard()
    return Dataset.from_interactions(inter, items=items)


@pytest.fixture(params=sorted(MODELS))
def fitted(request: pytest.FixtureRequest, data: Dataset) -> Recommender:
    return build(request.param).fit(data)


def names(capability: str) -> list[str]:
    """Models with a capability; the tests of a capability run on exactly those."""
    picks = {
        "personalized": lambda c: c.personalized,
        "folds_in": lambda c: c.folds_in,
        "compares_items": lambda c: c.compares_items(),
    }[capability]
    return [n for n in sorted(MODELS) if picks(model_class(n))]


def test_popularity_ranks_by_distinct_users(data: Dataset) -> None:
    frame = pd.DataFrame(
        [
            ("u", "x", 1.0, 1),
            ("u", "x", 1.0, 2),
            ("v", "y", 1.0, 3),
            ("w", "y", 1.0, 4),
            ("v", "z", 5.0, 5),
        ],
        columns=list(Columns.INTERACTIONS),
    )
    ds = Dataset.from_interactions(frame)
    by_users = build("popularity").fit(ds).recommend(["new"], k=3)
    assert by_users[Columns.ITEM].tolist() == ["y", "x", "z"]
    assert by_users[Columns.SCORE].tolist() == [2.0, 1.0, 1.0]
    by_weight = model_class("popularity")(by="weight").fit(ds).recommend(["new"], k=3)
    assert by_weight[Columns.ITEM].tolist() == ["z", "x", "y"]


def test_trending_decays_with_age() -> None:
    day = 86_400 * 1_000_000
    frame = pd.DataFrame(
        [("u", "old", 1.0, 0), ("v", "old", 1.0, 0), ("w", "new", 1.0, 10 * day)],
        columns=list(Columns.INTERACTIONS),
    )
    model = model_class("popularity")(half_life_days=5.0).fit(Dataset.from_interactions(frame))
    recs = model.recommend(["x"], k=2)
    # old: 2 users * 0.5 ** (10 / 5) = 0.5; new: 1.
    assert recs[Columns.ITEM].tolist() == ["new", "old"]
    assert recs[Columns.SCORE].tolist() == pytest.approx([1.0, 0.5])


@pytest.mark.parametrize("name", names("personalized"))
def test_held_out_item_comes_first(name: str, data: Dataset) -> None:
    fitted = build(name).fit(data)
    _, _, held_out = checkerboard()
    recs = fitted.recommend(list(held_out), k=3)
    first = recs[recs[Columns.RANK] == 1].set_index(Columns.USER)[Columns.ITEM]
    assert first.to_dict() == held_out


def test_batch_equals_one_by_one(fitted: Recommender) -> None:
    users = ["a0", "b3", "unknown", "a7"]
    batch = fitted.recommend(users, k=5)
    single = pd.concat([fitted.recommend([u], k=5) for u in users], ignore_index=True)
    pd.testing.assert_frame_equal(batch, single)


def test_recommend_one_equals_the_batch(fitted: Recommender) -> None:
    for user in ["a0", "b3", "unknown"]:
        frame = fitted.recommend([user], k=6, filters=ItemFilter(exclude_items=("i1",)))
        items, scores = fitted.recommend_one(user, 6, filters=ItemFilter(exclude_items=("i1",)))
        assert items == frame[Columns.ITEM].tolist()
        np.testing.assert_allclose(scores, frame[Columns.SCORE].to_numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", names("folds_in"))
def test_request_history_equals_fold_in_and_leaves_the_model_alone(
    name: str, data: Dataset
) -> None:
    history = {f"i{GROUP + i}": 1.0 for i in range(5)}
    served = build(name).fit(data)
    told = served.recommend(["newcomer"], k=5, histories={"newcomer": history})
    items, _ = served.recommend_one("newcomer", 5, history=history)
    untouched = served.recommend(["newcomer"], k=5)
    folded = build(name).fit(data)
    folded.fold_in("newcomer", list(history), list(history.values()))
    expected = folded.recommend(["newcomer"], k=5)
    assert told[Columns.ITEM].tolist() == expected[Columns.ITEM].tolist()
    assert items == expected[Columns.ITEM].tolist()
    assert untouched[Columns.ITEM].tolist() != expected[Columns.ITEM].tolist()


@pytest.mark.parametrize("name", names("compares_items"))
def test_similar_lists_equal_similar_items(name: str, data: Dataset) -> None:
    fitted = build(name).fit(data)
    frame = fitted.similar_items(["i0", "i15", "missing"], k=4)
    lists = fitted.similar_lists(["i0", "i15", "missing"], k=4)
    assert [q for q, _, _ in lists] == ["i0", "i15"]
    for query, items, scores in lists:
        rows = frame[frame[Columns.ITEM] == query]
        assert items == rows["similar_item_id"].tolist()
        np.testing.assert_allclose(scores, rows[Columns.SCORE].to_numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", names("compares_items"))
def test_similar_to_any_equals_the_merged_lists(name: str, data: Dataset) -> None:
    fitted = build(name).fit(data)
    queries = ["i0", "i15", "i3", "missing"]
    best: dict[str, tuple[float, str]] = {}
    for query, items, scores in fitted.similar_lists(queries, k=6):
        for item, score in zip(items, scores.tolist(), strict=True):
            if item not in queries and (item not in best or score > best[item][0]):
                best[item] = (score, query)
    idx, scores, closest = fitted.similar_to_any(queries, 6)
    items = fitted.data.item_ids[idx].astype(str).tolist()
    assert not set(items) & set(queries)
    # Every item of the merged lists that scores above the 6th best is found, with its score
    # and the query it is closest to.
    cut = float(scores.min())
    for item, (score, query) in best.items():
        if score > cut:
            at = items.index(item)
            assert scores[at] == pytest.approx(score, rel=1e-6)
            assert fitted.data.item_ids[closest[at]] == query
    assert list(scores) == sorted(scores, reverse=True)


@pytest.mark.parametrize("name", names("compares_items"))
def test_similar_to_any_answers_alike_from_its_kept_lists(name: str, data: Dataset) -> None:
    queries = ["i0", "i15", "i3"]
    fresh = [build(name).fit(data).similar_to_any(queries, k) for k in (3, 200)]
    used = build(name).fit(data)
    for k, expected in zip((3, 200), fresh, strict=True):
        for _ in range(2):  # the second time from the kept neighbour lists
            for got, want in zip(used.similar_to_any(queries, k), expected, strict=True):
                np.testing.assert_array_equal(got, want)


def test_lists_are_sorted_unique_and_exclude_seen(fitted: Recommender, data: Dataset) -> None:
    recs = fitted.recommend([f"a{u}" for u in range(GROUP)] + ["b1"], k=8)
    for user, group in recs.groupby(Columns.USER):
        assert group[Columns.ITEM].is_unique
        assert list(group[Columns.RANK]) == list(range(1, len(group) + 1))
        assert group[Columns.SCORE].is_monotonic_decreasing
        seen = set(data.item_ids[data.positives[data.user_index([str(user)])[0]].indices])
        assert not seen & set(group[Columns.ITEM])


def test_include_seen_when_asked(fitted: Recommender) -> None:
    recs = fitted.recommend(["a0"], k=2 * GROUP, exclude_seen=False)
    assert len(recs) == 2 * GROUP


def test_candidates_and_filters_are_respected(fitted: Recommender) -> None:
    allowed = ["i12", "i3", "i15"]
    recs = fitted.recommend(["a0", "b0"], k=10, items=allowed)
    assert set(recs[Columns.ITEM]) <= set(allowed)
    only_b = fitted.recommend(["a0"], k=10, filters=ItemFilter(include_tags=("Group > B",)))
    assert set(only_b[Columns.ITEM]) <= {f"i{i}" for i in range(GROUP, 2 * GROUP)}
    assert len(only_b) == GROUP
    no_b = fitted.recommend(
        ["b0"], k=10, filters=ItemFilter(exclude_tags=("Group",), exclude_items=("i0",))
    )
    assert no_b.empty
    no_i0 = fitted.recommend(["a1"], k=10, filters=ItemFilter(exclude_items=("i0",)))
    assert "i0" not in set(no_i0[Columns.ITEM])


def test_negatives_are_never_recommended(data: Dataset) -> None:
    inter, items, _ = checkerboard()
    events = inter.assign(**{Columns.TYPE: "view", Columns.VALUE: np.nan})
    dislike = pd.DataFrame(
        [
            {
                Columns.USER: "a0",
                Columns.ITEM: "i0",
                Columns.TYPE: "dislike",
                Columns.VALUE: np.nan,
                Columns.TIMESTAMP: 5_000,
            }
        ]
    )
    ds = Dataset.from_events(pd.concat([events, dislike], ignore_index=True), items=items)
    for name in sorted(MODELS):
        model = build(name).fit(ds)
        recs = model.recommend(["a0"], k=2 * GROUP, exclude_seen=False)
        assert "i0" not in set(recs[Columns.ITEM]), name


def test_save_load_round_trip(fitted: Recommender) -> None:
    users = ["a0", "b5", "stranger"]
    before = fitted.recommend(users, k=5)
    loaded = Recommender.from_bytes(fitted.to_bytes())
    assert type(loaded) is type(fitted)
    assert loaded.get_config() == fitted.get_config()
    pd.testing.assert_frame_equal(loaded.recommend(users, k=5), before)


def test_config_round_trip(fitted: Recommender) -> None:
    clone = type(fitted).from_config(fitted.get_config())
    assert clone.get_config() == fitted.get_config()
    with pytest.raises(Exception, match="not"):
        type(fitted).from_config({"model": "something-else"})


def test_unfitted_model_says_so() -> None:
    for name in sorted(MODELS):
        with pytest.raises(NotFittedError, match="fit"):
            build(name).recommend(["u"], k=3)


def test_unknown_user_gets_popular_items(fitted: Recommender) -> None:
    recs = fitted.recommend(["nobody"], k=3)
    assert len(recs) == 3


@pytest.mark.parametrize("name", names("folds_in"))
def test_fold_in_changes_the_list_without_retraining(name: str, data: Dataset) -> None:
    fitted = build(name).fit(data)
    before = fitted.recommend(["newcomer"], k=5)
    fitted.fold_in("newcomer", [f"i{GROUP + i}" for i in range(5)], [1.0] * 5)
    after = fitted.recommend(["newcomer"], k=5)
    assert not before.reset_index(drop=True).equals(after.reset_index(drop=True))
    group_b = {f"i{i}" for i in range(GROUP, 2 * GROUP)}
    assert set(after[Columns.ITEM].head(3)) <= group_b
    assert not {f"i{GROUP + i}" for i in range(5)} & set(after[Columns.ITEM])


@pytest.mark.parametrize("name", names("compares_items"))
def test_similar_items_stay_in_their_group(name: str, data: Dataset) -> None:
    fitted = build(name).fit(data)
    sims = fitted.similar_items(["i0", "i15", "missing"], k=3)
    for query, group in sims.groupby(Columns.ITEM):
        assert query not in set(group["similar_item_id"])
        in_a = int(str(query)[1:]) < GROUP
        for other in group["similar_item_id"]:
            assert (int(str(other)[1:]) < GROUP) == in_a
    assert "missing" not in set(sims[Columns.ITEM])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 15), st.integers(0, 25), st.floats(0.1, 5.0)),
        min_size=1,
        max_size=120,
    ),
    k=st.integers(1, 30),
    name=st.sampled_from(sorted(MODELS)),
)
def test_top_k_invariants(pairs: list[tuple[int, int, float]], k: int, name: str) -> None:
    frame = pd.DataFrame(
        [(f"u{u}", f"i{i}", w, 1_000 + n) for n, (u, i, w) in enumerate(pairs)],
        columns=list(Columns.INTERACTIONS),
    )
    # Every item has features, so content-based models take part too.
    item_ids = sorted(set(frame[Columns.ITEM]))
    items = pd.DataFrame(
        {
            "title": [f"title {i}" for i in item_ids],
            "text": [f"word{int(i[1:]) % 4} filler" for i in item_ids],
            "tags": [[f"T{int(i[1:]) % 3} > S{int(i[1:]) % 5}"] for i in item_ids],
        },
        index=item_ids,
    )
    ds = Dataset.from_interactions(frame, items=items)
    model = build(name).fit(ds)
    users = [*sorted(set(frame[Columns.USER])), "ghost"]
    recs = model.recommend(users, k=k)
    for user, group in recs.groupby(Columns.USER):
        assert len(group) <= k
        assert group[Columns.ITEM].is_unique
        assert np.all(np.isfinite(group[Columns.SCORE]))
        assert group[Columns.SCORE].is_monotonic_decreasing
        seen = set(frame.loc[frame[Columns.USER] == user, Columns.ITEM])
        assert not seen & set(group[Columns.ITEM])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shorter_lists_are_prefixes_of_longer_ones(name: str, data: Dataset) -> None:
    """Ties at the cut-off are settled the same way whatever k is asked for."""
    model = build(name).fit(data)
    users = ["a0", "b4", "nobody"]
    long = model.recommend(users, k=15)
    short = model.recommend(users, k=4)
    for user in users:
        head = long[long[Columns.USER] == user].head(4)[Columns.ITEM].tolist()
        assert short[short[Columns.USER] == user][Columns.ITEM].tolist() == head
