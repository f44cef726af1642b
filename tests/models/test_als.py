"""ALS beyond the shared contract: confidences, the fold-in solve, determinism, persistence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError
from tastemaker.models import Dataset, Recommender
from tastemaker.models.als import ALS, confidence_matrix

PARAMS: dict[str, Any] = {"factors": 4, "regularization": 2.0, "iterations": 20, "seed": 7}


def two_groups() -> Dataset:
    """Users 0-5 read items a*, users 6-11 read items b*; each user misses one of their group."""
    rows = []
    for u in range(12):
        group = "a" if u < 6 else "b"
        for i in range(6):
            if i != u % 6:
                rows.append((f"u{u}", f"{group}{i}", 1.0, i))
    return Dataset.from_interactions(pd.DataFrame(rows, columns=list(Columns.INTERACTIONS)))


@pytest.fixture(scope="module")
def data() -> Dataset:
    return two_groups()


@pytest.fixture(scope="module")
def model(data: Dataset) -> ALS:
    return ALS(**PARAMS).fit(data)


def test_config_validates_ranges_and_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigurationError):
        ALS(factors=0)
    with pytest.raises(ConfigurationError):
        ALS(regularization=0.0)
    with pytest.raises(ConfigurationError):
        ALS(alpha=-1.0)
    with pytest.raises(ConfigurationError):
        ALS(learning_rate=0.1)
    assert ALS(**PARAMS).get_config() == {
        "model": "als",
        "params": {**PARAMS, "alpha": 1.0, "binary": False},
    }


def test_confidence_is_one_plus_alpha_times_weight() -> None:
    pos = sp.csr_matrix(np.array([[3.0, 1.0, 0.0, 2.0]], dtype=np.float32))
    neg = sp.csr_matrix(np.array([[0.0, 2.0, 1.0, 2.0]], dtype=np.float32))
    # Net weights 3, -1, -1, 0: positives 1 + αw, negatives -(1 + α|w|), cancelled cells dropped.
    conf = confidence_matrix(pos, neg, alpha=2.0)
    assert conf.toarray().tolist() == [[7.0, -3.0, -3.0, 0.0]]
    assert conf.nnz == 3
    binary = confidence_matrix(pos, neg, alpha=2.0, binary=True)
    assert binary.toarray().tolist() == [[3.0, -3.0, -3.0, 0.0]]


def test_same_seed_same_factors_other_seed_other_factors(data: Dataset, model: ALS) -> None:
    again = ALS(**PARAMS).fit(data)
    np.testing.assert_array_equal(again.item_factors_, model.item_factors_)
    np.testing.assert_array_equal(again.user_factors_, model.user_factors_)
    other = ALS(**{**PARAMS, "seed": 8}).fit(data)
    assert not np.array_equal(other.item_factors_, model.item_factors_)


def test_trained_users_score_with_their_learned_factors(data: Dataset, model: ALS) -> None:
    recs = model.recommend(["u0"], k=3, exclude_seen=False)
    u = data.user_index(["u0"])[0]
    idx = data.item_index(list(recs[Columns.ITEM]))
    expected = model.item_factors_[idx] @ model.user_factors_[u]
    np.testing.assert_allclose(recs[Columns.SCORE], expected, rtol=1e-5)


def test_solve_users_is_the_closed_form_least_squares(model: ALS) -> None:
    conf = confidence_matrix(
        sp.csr_matrix(np.array([[1.0, 0, 3.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=np.float32)),
        sp.csr_matrix(np.array([[0, 0, 0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0]], dtype=np.float32)),
        alpha=1.0,
    )
    y = model.item_factors_.astype(np.float64)
    c = np.ones(y.shape[0])
    p = np.zeros(y.shape[0])
    c[conf.indices] = np.abs(conf.data)
    p[conf.indices[conf.data > 0]] = 1.0
    lhs = y.T @ (c[:, None] * y) + PARAMS["regularization"] * np.eye(y.shape[1])
    expected = np.linalg.solve(lhs, y.T @ (c * p))
    np.testing.assert_allclose(model.solve_users(conf)[0], expected, rtol=1e-4, atol=1e-6)


def test_fold_in_moves_a_trained_user_without_retraining(data: Dataset) -> None:
    model = ALS(**PARAMS).fit(data)
    factors = model.item_factors_.copy()
    assert model.recommend(["u0"], k=1)[Columns.ITEM].tolist() == ["a0"]
    model.fold_in("u0", [f"b{i}" for i in range(5)], [5.0] * 5)
    after = model.recommend(["u0"], k=2)
    np.testing.assert_array_equal(model.item_factors_, factors)
    # The b items now dominate u0's row: the one b item u0 has not seen outranks a0.
    assert after[Columns.ITEM].tolist() == ["b5", "a0"]
    # Other users keep their trained factors.
    fresh = ALS(**PARAMS).fit(data)
    pd.testing.assert_frame_equal(model.recommend(["u1"], k=3), fresh.recommend(["u1"], k=3))


def test_an_unknown_user_folds_in_from_nothing(model: ALS) -> None:
    model_copy = Recommender.from_bytes(model.to_bytes())
    model_copy.fold_in("stranger", ["b1", "b2", "b3"], [1.0, 1.0, 1.0])
    top = model_copy.recommend(["stranger"], k=2)
    assert set(top[Columns.ITEM]) <= {"b0", "b4", "b5"}


def test_similar_items_are_cosines_of_item_factors(data: Dataset, model: ALS) -> None:
    sims = model.similar_items(["a0"], k=11)
    assert np.all(np.abs(sims[Columns.SCORE].to_numpy()) <= 1.0 + 1e-5)
    assert set(sims["similar_item_id"].head(5)) == {f"a{i}" for i in range(1, 6)}


def test_save_load_keeps_the_factors_exactly(model: ALS) -> None:
    loaded = Recommender.from_bytes(model.to_bytes())
    assert isinstance(loaded, ALS)
    np.testing.assert_array_equal(loaded.item_factors_, model.item_factors_)
    np.testing.assert_array_equal(loaded.user_factors_, model.user_factors_)
    loaded.fold_in("x", ["a1"], [1.0])
    model_fresh = Recommender.from_bytes(model.to_bytes())
    model_fresh.fold_in("x", ["a1"], [1.0])
    pd.testing.assert_frame_equal(loaded.recommend(["x"], k=4), model_fresh.recommend(["x"], k=4))


def test_binary_ignores_weights(data: Dataset) -> None:
    heavy = data.positives.copy()
    heavy.data = heavy.data * 7.0
    weighted = Dataset(
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        positives=heavy,
        negatives=data.negatives,
        interactions=data.interactions,
    )
    plain = ALS(**PARAMS, binary=True).fit(data)
    scaled = ALS(**PARAMS, binary=True).fit(weighted)
    np.testing.assert_array_equal(plain.item_factors_, scaled.item_factors_)


def test_explicit_negative_pulls_the_user_away(data: Dataset) -> None:
    plain = ALS(**PARAMS).fit(data)
    plain.fold_in("u0", ["a1"], [1.0])
    disliking = ALS(**PARAMS).fit(data)
    disliking.fold_in("u0", ["a1", "a3"], [1.0, -3.0])
    before = scores(plain.recommend(["u0"], k=12, exclude_seen=False))
    after = scores(disliking.recommend(["u0"], k=12, exclude_seen=False))
    assert "a3" not in after  # explicit negatives are never recommended
    # A confident "no" for a3 moves u0 away from a3's factors, so its group mates drop too.
    assert after["a0"] < before["a0"]


def scores(recs: pd.DataFrame) -> dict[str, float]:
    return dict(zip(recs[Columns.ITEM], recs[Columns.SCORE], strict=True))
