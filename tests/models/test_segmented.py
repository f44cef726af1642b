"""Per-segment recommending: segment labels on a Dataset, the segmented model, popularity per
segment. (The contract suite covers the segmented model without labels.)"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError
from tastemaker.models import Dataset, ItemFilter, Recommender
from tastemaker.models.catalog import model_class
from tastemaker.models.ease import EASE
from tastemaker.models.popularity import SEGMENT, Popularity
from tastemaker.models.segmented import SegmentedRecommender

SHARED = "x"


def two_tastes() -> tuple[Dataset, dict[str, str]]:
    """A big segment ``a`` reads ``x`` with ``p*``, a smaller ``b`` reads ``x`` with ``y*``, a
    tiny ``c`` reads ``z*``; ``a``'s weight makes the global model pair ``x`` with ``p*``."""
    rows: list[tuple[str, str]] = []
    labels: dict[str, str] = {}
    for group, n, own in (("a", 30, "p"), ("b", 12, "y"), ("c", 3, "z")):
        for u in range(n):
            user = f"{group}{u}"
            labels[user] = group
            # Everyone but the last user of a group read the shared item.
            if group != "c" and u != n - 1:
                rows.append((user, SHARED))
            rows.extend((user, f"{own}{(u + j) % 5}") for j in range(3))
    rows.append(("loner", "p0"))  # a user without a label
    frame = pd.DataFrame(rows, columns=[Columns.USER, Columns.ITEM])
    return Dataset.from_interactions(frame), labels


@pytest.fixture(scope="module")
def labelled() -> Dataset:
    data, labels = two_tastes()
    return data.with_segments(labels)


def segment(data: Dataset, label: str) -> Dataset:
    """The members of one segment, as the segmented model trains its model on them."""
    assert data.user_segments is not None
    return data.subset_users(np.flatnonzero(data.user_segments == label))


def segmented(**params: Any) -> SegmentedRecommender:
    defaults: dict[str, Any] = {"base_params": {"l2": 1.0}, "min_segment_users": 10}
    return SegmentedRecommender(**(defaults | params))


# --- Dataset ---------------------------------------------------------------------------------


def test_with_segments_aligns_labels_and_leaves_the_original_alone() -> None:
    data, labels = two_tastes()
    tagged = data.with_segments({**labels, "nobody": "a", "b0": None})
    assert data.user_segments is None
    assert tagged.user_segments is not None
    by_user = dict(zip(tagged.user_ids, tagged.user_segments, strict=True))
    assert by_user["a3"] == "a"
    assert by_user["c1"] == "c"
    assert by_user["b0"] == ""  # None means no segment
    assert by_user["loner"] == ""
    assert tagged.positives is data.positives
    assert tagged.user_index(["a3"]).tolist() == data.user_index(["a3"]).tolist()
    series = data.with_segments(pd.Series({"a3": 7}))
    assert series.user_segments is not None
    assert series.user_segments[data.user_index(["a3"])[0]] == "7"


def test_subset_users_keeps_every_item_and_remaps_interactions(labelled: Dataset) -> None:
    rows = labelled.user_index(["b3", "a1"])
    sub = labelled.subset_users(rows)
    assert sub.user_ids.tolist() == ["b3", "a1"]
    assert sub.item_ids.tolist() == labelled.item_ids.tolist()
    assert (sub.positives.toarray() == labelled.positives[rows].toarray()).all()
    assert sub.user_segments is not None
    assert sub.user_segments.tolist() == ["b", "a"]
    inter = sub.interactions
    assert set(inter[Columns.USER]) == {0, 1}
    assert len(inter) == sub.positives.nnz
    b3 = inter[inter[Columns.USER] == 0][Columns.ITEM]
    assert set(labelled.item_ids[b3]) == {SHARED, "y3", "y4", "y0"}


# --- the segmented model ---------------------------------------------------------------------


def test_each_segment_model_learns_its_own_taste(labelled: Dataset) -> None:
    model = segmented().fit(labelled)
    assert model.segments_.tolist() == ["a", "b", "c"]
    assert model.segment_sizes_.tolist() == [30, 12, 3]
    assert model.modeled_segments == ["a", "b"]  # c is below min_segment_users
    # b11 read y-items only, b0 also x: for both, the b model ranks y-items first, while the
    # global model, dominated by the a segment, pairs x with p-items.
    recs = model.recommend(["b0", "a0"], k=2)
    top = recs[recs[Columns.RANK] == 1].set_index(Columns.USER)[Columns.ITEM]
    assert top["b0"].startswith("y")
    assert top["a0"].startswith("p")
    probe = EASE(l2=1.0).fit(labelled)
    probe.fold_in("probe", [SHARED], [1.0])
    assert probe.recommend(["probe"], k=1)[Columns.ITEM].iloc[0].startswith("p")
    model.fold_in("b-probe", [SHARED, "y1"], [1.0, 1.0])
    assert model.recommend(["b-probe"], k=1)[Columns.ITEM].iloc[0].startswith("y")


def test_small_segments_and_unlabelled_users_use_the_global_model(labelled: Dataset) -> None:
    model = segmented(assign_up_to=0).fit(labelled)
    reference = EASE(l2=1.0).fit(labelled)
    users = ["c0", "c2", "loner", "stranger"]
    pd.testing.assert_frame_equal(model.recommend(users, k=5), reference.recommend(users, k=5))
    assert model.assigned_segments(users) == ["", "", "", ""]


def test_segment_members_get_exactly_their_segment_model(labelled: Dataset) -> None:
    model = segmented().fit(labelled)
    members = [f"b{u}" for u in range(12)]
    alone = EASE(l2=1.0).fit(segment(labelled, "b"))
    ours = model.recommend(members, k=4)
    theirs = alone.recommend(members, k=4)
    pd.testing.assert_frame_equal(
        ours[[Columns.USER, Columns.ITEM, Columns.SCORE]],
        theirs[[Columns.USER, Columns.ITEM, Columns.SCORE]],
    )


def test_without_labels_it_is_its_base_model() -> None:
    data, _ = two_tastes()
    model = segmented().fit(data)
    assert model.modeled_segments == []
    reference = EASE(l2=1.0).fit(data)
    users = ["a0", "b4", "loner", "new"]
    pd.testing.assert_frame_equal(model.recommend(users, k=6), reference.recommend(users, k=6))
    sims = model.similar_items(["x", "p1"], k=3)
    pd.testing.assert_frame_equal(sims, reference.similar_items(["x", "p1"], k=3))


def test_new_users_are_assigned_to_the_nearest_segment_from_their_first_events(
    labelled: Dataset,
) -> None:
    model = segmented(assign_up_to=2).fit(labelled)
    assert model.assigned_segments(["new"]) == [""]  # no event yet: global
    cold = model.recommend(["new"], k=3)
    assert (
        cold[Columns.ITEM].tolist()
        == EASE(l2=1.0).fit(labelled).recommend(["new"], k=3)[Columns.ITEM].tolist()
    )
    model.fold_in("new", ["y2"], [1.0])
    assert model.assigned_segments(["new"]) == ["b"]
    b_model = EASE(l2=1.0).fit(segment(labelled, "b"))
    b_model.fold_in("new", ["y2"], [1.0])
    pd.testing.assert_frame_equal(
        model.recommend(["new"], k=5)[[Columns.ITEM, Columns.SCORE]],
        b_model.recommend(["new"], k=5)[[Columns.ITEM, Columns.SCORE]],
    )
    # The nearest segment may be one without a model: then the global one answers.
    model.fold_in("z-reader", ["z1"], [1.0])
    assert model.assigned_segments(["z-reader"]) == [""]
    # Past assign_up_to positives an unlabelled user is the global model's.
    model.fold_in("new", ["y3", "y4"], [1.0, 1.0])
    assert model.assigned_segments(["new"]) == [""]
    # The unlabelled training user with one event is assigned too; labelled ones keep theirs.
    assert model.assigned_segments(["loner", "a5", "c0"]) == ["a", "a", ""]


def test_batch_equals_one_by_one_with_segments(labelled: Dataset) -> None:
    for base, params in (("ease", {"l2": 1.0}), ("als", {"factors": 4, "seed": 2})):
        model = segmented(base=base, base_params=params).fit(labelled)
        model.fold_in("newcomer", ["y1"], [1.0])
        model.fold_in("a2", ["p4"], [1.0])
        users = ["a2", "b1", "c0", "loner", "newcomer", "ghost", "b11"]
        batch = model.recommend(users, k=4)
        single = pd.concat([model.recommend([u], k=4) for u in users], ignore_index=True)
        pd.testing.assert_frame_equal(batch, single)


@pytest.mark.parametrize(
    ("base", "params"), [("ease", {"l2": 1.0}), ("als", {"factors": 4, "seed": 2})]
)
def test_save_load_keeps_every_sub_model(
    labelled: Dataset, base: str, params: dict[str, Any]
) -> None:
    model = segmented(base=base, base_params=params).fit(labelled)
    users = ["a1", "b2", "c1", "loner", "stranger"]
    blob = model.to_bytes()
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        assert all(npz[key].dtype != object for key in npz.files)
    loaded = Recommender.from_bytes(blob)
    assert isinstance(loaded, SegmentedRecommender)
    assert loaded.modeled_segments == ["a", "b"]
    assert len(loaded.models_) == 3
    assert loaded.data.user_segments is not None
    assert loaded.data.user_segments.tolist() == model.data.user_segments.tolist()  # type: ignore[union-attr]
    pd.testing.assert_frame_equal(loaded.recommend(users, k=5), model.recommend(users, k=5))
    for m in (model, loaded):
        m.fold_in("fresh", ["y0"], [1.0])
    assert loaded.assigned_segments(["fresh"]) == model.assigned_segments(["fresh"]) == ["b"]
    pd.testing.assert_frame_equal(loaded.recommend(["fresh"], k=5), model.recommend(["fresh"], k=5))


def test_refit_starts_from_scratch(labelled: Dataset) -> None:
    model = segmented().fit(labelled)
    data, _ = two_tastes()
    model.fit(data)
    assert model.modeled_segments == []
    assert len(model.models_) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"base": "segmented"}, "base must be one of"),
        ({"base": "nope"}, "base must be one of"),
        ({"base": "ease", "base_params": {"l2": -1}}, "base_params are invalid for ease"),
        ({"base": "ease", "base_params": {"typo": 1}}, "typo"),
        ({"min_segment_users": 0}, "min_segment_users"),
    ],
)
def test_bad_configuration_says_what_is_wrong(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        model_class("segmented")(**params)


def test_config_round_trip_keeps_base_params() -> None:
    model = segmented(base="item_knn", base_params={"neighbors": 5})
    config = model.get_config()
    assert config["params"]["base_params"] == {"neighbors": 5}
    assert SegmentedRecommender.from_config(config).get_config() == config


# --- popularity per segment -----------------------------------------------------------------


def test_popularity_by_segment_gives_each_segment_its_list(labelled: Dataset) -> None:
    model = Popularity(by_segment=True).fit(labelled)
    recs = model.recommend(["b0", "c0", "loner", "stranger"], k=1)
    top = recs.set_index(Columns.USER)[Columns.ITEM]
    assert top["b0"].startswith("y")  # b's most read item b0 has not read (overall: p-items)
    assert top["c0"].startswith("z")
    assert top["loner"] == SHARED  # no label: the overall list
    assert top["stranger"] == SHARED
    lists = model.recommend_segments(["a", "b", "c", "elsewhere"], k=2)
    assert list(lists.columns) == [SEGMENT, Columns.ITEM, Columns.SCORE, Columns.RANK]
    first = lists[lists[Columns.RANK] == 1].set_index(SEGMENT)[Columns.ITEM]
    assert first.to_dict() == {"a": SHARED, "b": SHARED, "c": "z2", "elsewhere": SHARED}
    # b: 11 of 12 read x; its most read y-items have 8 readers.
    assert lists[lists[SEGMENT] == "b"][Columns.SCORE].tolist() == [11.0, 8.0]
    no_x = model.recommend_segments(["b"], k=1, filters=ItemFilter(exclude_items=(SHARED,)))
    assert no_x[Columns.ITEM].iloc[0].startswith("y")
    only = model.recommend_segments(["a"], k=5, items=["y1", "p2"])
    assert only[Columns.ITEM].tolist() == ["p2", "y1"]


def test_popularity_without_by_segment_ignores_labels(labelled: Dataset) -> None:
    data, _ = two_tastes()
    plain = Popularity().fit(labelled)
    users = ["b11", "c0", "a1"]
    pd.testing.assert_frame_equal(
        plain.recommend(users, k=3), Popularity().fit(data).recommend(users, k=3)
    )
    assert plain.recommend_segments(["b"], k=1)[Columns.ITEM].tolist() == [SHARED]


def test_popularity_by_segment_round_trips_and_loads_older_versions(labelled: Dataset) -> None:
    model = Popularity(by_segment=True, half_life_days=3.0).fit(labelled)
    loaded = Recommender.from_bytes(model.to_bytes())
    assert isinstance(loaded, Popularity)
    users = ["b11", "c0", "loner"]
    pd.testing.assert_frame_equal(loaded.recommend(users, k=3), model.recommend(users, k=3))
    pd.testing.assert_frame_equal(
        loaded.recommend_segments(["c"], k=3), model.recommend_segments(["c"], k=3)
    )
    # A version saved before segments existed holds only "scores".
    with np.load(io.BytesIO(Popularity().fit(labelled).to_bytes()), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if not k.startswith("model.seg")}
        arrays = {k: v for k, v in arrays.items() if k != "model.user_segment"}
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **arrays)
    old = Recommender.from_bytes(buf.getvalue())
    assert old.recommend(["b11"], k=1)[Columns.ITEM].tolist() == [SHARED]
