"""Known answers for EASE: the closed form computed directly with numpy on tiny matrices."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError
from tastemaker.models import Dataset, Recommender
from tastemaker.models.ease import EASE


def dataset(x: np.ndarray) -> Dataset:
    """Users ``u0..`` and items ``i0..`` with the weights of ``x``; items indexed in order."""
    u, i = np.nonzero(x)
    frame = pd.DataFrame(
        {
            Columns.USER: [f"u{k}" for k in u],
            Columns.ITEM: [f"i{k}" for k in i],
            Columns.WEIGHT: x[u, i],
        }
    )
    catalog = pd.DataFrame(index=[f"i{k}" for k in range(x.shape[1])])
    ds = Dataset.from_interactions(frame, items=catalog)
    users = ds.user_index([f"u{k}" for k in range(x.shape[0])])
    assert np.array_equal(ds.positives.toarray()[users], x)
    return ds


def closed_form(x: np.ndarray, l2: float) -> np.ndarray:
    """Steck (2019), eq. 8: ``B = I − P · diagMat(1 ⊘ diag(P))``, ``P = (XᵀX + λI)⁻¹``."""
    x = x.astype(np.float64)
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b: np.ndarray = np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))
    return b


# More users than items (the items × items inverse) ...
TALL = np.array(
    [
        [1, 2, 0, 0, 1],
        [3, 1, 1, 0, 0],
        [0, 1, 2, 1, 0],
        [0, 0, 1, 4, 0],
        [1, 0, 0, 1, 2],
        [0, 1, 0, 0, 1],
    ],
    dtype=np.float32,
)
# ... and far fewer (the Woodbury users × users inverse).
WIDE = np.array([[1, 1, 0, 2, 0, 1, 0], [0, 1, 1, 0, 1, 0, 0], [1, 0, 0, 0, 1, 1, 1]], np.float32)


@pytest.mark.parametrize("x", [TALL, WIDE], ids=["items-inverse", "users-inverse"])
@pytest.mark.parametrize("l2", [0.5, 10.0])
def test_weights_are_the_closed_form(x: np.ndarray, l2: float) -> None:
    model = EASE(l2=l2).fit(dataset(x))
    assert model.weights_.dtype == np.float32
    np.testing.assert_allclose(model.weights_, closed_form(x, l2), rtol=1e-4, atol=1e-6)
    assert np.all(np.diag(model.weights_) == 0.0)


def test_binary_trains_on_ones() -> None:
    model = EASE(l2=1.0, binary=True).fit(dataset(TALL))
    ones = (TALL > 0).astype(np.float32)
    np.testing.assert_allclose(model.weights_, closed_form(ones, 1.0), rtol=1e-4, atol=1e-6)


def test_scores_are_the_user_row_times_b_and_similar_items_its_rows() -> None:
    model = EASE(l2=1.0).fit(dataset(TALL))
    recs = model.recommend(["u3"], k=5, exclude_seen=False)
    got = dict(zip(recs[Columns.ITEM], recs[Columns.SCORE], strict=True))
    want = TALL[3] @ closed_form(TALL, 1.0)
    np.testing.assert_allclose([got[f"i{j}"] for j in range(5)], want, rtol=1e-4, atol=1e-6)
    # similar_items(i) ranks row B[i]: what a user with only i would get.
    sims = model.similar_items(["i1"], k=4)
    row = closed_form(TALL, 1.0)[1]
    expected_order = [f"i{j}" for j in np.argsort(-row) if j != 1]
    assert sims["similar_item_id"].tolist() == expected_order
    model.fold_in("only-i1", ["i1"], [1.0])
    assert model.recommend(["only-i1"], k=4)[Columns.ITEM].tolist() == expected_order


def test_negatives_push_similar_items_down() -> None:
    # i0~i1 and i2~i3 co-occur; i4 is unrelated to both pairs.
    x = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]], np.float32)
    model = EASE(l2=1.0).fit(dataset(x))
    model.fold_in("likes", ["i0"], [1.0])
    model.fold_in("likes-and-dislikes", ["i0", "i2"], [1.0, -1.0])

    def score_of_i3(user: str) -> float:
        recs = model.recommend([user], k=5, exclude_seen=False)
        return float(recs.loc[recs[Columns.ITEM] == "i3", Columns.SCORE].iloc[0])

    assert score_of_i3("likes-and-dislikes") < score_of_i3("likes")
    order = model.recommend(["likes-and-dislikes"], k=5)[Columns.ITEM].tolist()
    assert order[0] == "i1"
    assert order[-1] == "i3"


def test_too_many_items_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="max_items is 4"):
        EASE(max_items=4).fit(dataset(TALL))
    EASE(max_items=5).fit(dataset(TALL))


def test_save_load_keeps_the_dense_weights() -> None:
    model = EASE(l2=2.0).fit(dataset(TALL))
    loaded = Recommender.from_bytes(model.to_bytes())
    assert isinstance(loaded, EASE)
    assert np.array_equal(loaded.weights_, model.weights_)


@pytest.mark.parametrize(
    "params",
    [{"l2": 0.0}, {"l2": -1.0}, {"negative_weight": -1.0}, {"max_items": 0}, {"lambda": 5}],
)
def test_config_rejects_bad_values(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="invalid"):
        EASE(**params)
