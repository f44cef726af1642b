"""Known answers for item-kNN: similarities computed directly with numpy on tiny matrices."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError
from tastemaker.models import Dataset, Recommender
from tastemaker.models import item_knn as knn_module
from tastemaker.models.item_knn import ItemKNN

# users × items; weights other than 1 so that binary and weighting matter.
X = np.array(
    [
        [1.0, 2.0, 0.0, 0.0, 1.0],
        [3.0, 1.0, 1.0, 0.0, 0.0],
        [0.0, 1.0, 2.0, 1.0, 0.0],
        [0.0, 0.0, 1.0, 4.0, 0.0],
        [1.0, 0.0, 0.0, 1.0, 2.0],
    ],
    dtype=np.float32,
)


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


def expected(x: np.ndarray, shrinkage: float = 0.0, normalize: bool = True) -> np.ndarray:
    """Full item × item similarity of the columns of ``x`` with a zero diagonal."""
    x = x.astype(np.float64)
    dot: np.ndarray = x.T @ x
    if normalize:
        norms = np.linalg.norm(x, axis=0)
        dot = dot / (np.outer(norms, norms) + shrinkage)
    np.fill_diagonal(dot, 0.0)
    return dot


def similarity(x: np.ndarray, **params: Any) -> np.ndarray:
    model = ItemKNN(**{"neighbors": 100, "shrinkage": 0.0, **params}).fit(dataset(x))
    return model.similarity_.toarray()


def test_cosine_with_and_without_shrinkage() -> None:
    np.testing.assert_allclose(similarity(X, similarity="cosine"), expected(X), rtol=1e-5)
    np.testing.assert_allclose(
        similarity(X, similarity="cosine", shrinkage=2.0), expected(X, 2.0), rtol=1e-5
    )
    ones = (X > 0).astype(np.float32)
    np.testing.assert_allclose(
        similarity(X, similarity="cosine", binary=True), expected(ones), rtol=1e-5
    )


@pytest.mark.parametrize("dense_share", [0.0, float("inf")], ids=["dense", "sorted"])
def test_pearson_centres_only_the_rated_entries(
    monkeypatch: pytest.MonkeyPatch, dense_share: float
) -> None:
    monkeypatch.setattr(knn_module, "_DENSE_SHARE", dense_share)
    rated = X > 0
    means = X.sum(axis=0) / rated.sum(axis=0)
    centred = np.where(rated, X - means, 0.0)
    got = similarity(X, similarity="pearson")
    np.testing.assert_allclose(got, expected(centred), rtol=1e-5, atol=1e-6)
    # Item 1 (weights 2, 1, 1) and item 2 (1, 2, 1) disagree on users 0..2: negative.
    assert got[1, 2] < 0


def test_pearson_without_graded_weights_says_so() -> None:
    with pytest.raises(ConfigurationError, match="cosine"):
        ItemKNN(similarity="pearson").fit(dataset((X > 0).astype(np.float32)))


@pytest.mark.parametrize("normalize", [True, False])
def test_bm25_weighting_matches_its_formula(normalize: bool) -> None:
    k1, b = 1.5, 0.6
    n_items = X.shape[1]
    idf = np.maximum(np.log(n_items) - np.log1p((X > 0).sum(axis=1)), 0.0)
    lengths = X.sum(axis=0)
    norm = (1 - b) + b * lengths / lengths.mean()
    weighted = np.where(X > 0, X * (k1 + 1) / (k1 * norm[None, :] + X) * idf[:, None], 0.0)
    got = similarity(X, similarity="bm25", bm25_k1=k1, bm25_b=b, normalize=normalize)
    np.testing.assert_allclose(got, expected(weighted, normalize=normalize), rtol=1e-5)


def test_bm25_parameters_cancel_out_in_the_cosine_of_binary_weights() -> None:
    ones = (X > 0).astype(np.float32)
    a = similarity(ones, similarity="bm25", bm25_k1=0.5, bm25_b=0.1)
    b = similarity(ones, similarity="bm25", bm25_k1=5.0, bm25_b=0.9)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert not np.allclose(a, similarity(ones, similarity="cosine"))  # the idf remains


@pytest.mark.parametrize("dense_share", [0.0, float("inf")], ids=["dense", "sorted"])
def test_pruning_keeps_exactly_the_top_n_per_item(
    monkeypatch: pytest.MonkeyPatch, dense_share: float
) -> None:
    monkeypatch.setattr(knn_module, "_DENSE_SHARE", dense_share)
    rng = np.random.default_rng(7)
    x = ((rng.random((40, 30)) < 0.4) * rng.integers(1, 5, (40, 30))).astype(np.float32)
    x[:, (x > 0).sum(axis=0) == 0] = 1.0  # every item has a user
    full = expected(x, shrinkage=1.0)
    # A tiny block size forces many row blocks: chunking must not change the answer.
    monkeypatch.setattr(knn_module, "_BLOCK", 64)
    sim = ItemKNN(similarity="cosine", neighbors=4, shrinkage=1.0).fit(dataset(x)).similarity_
    assert np.array_equal(sim.getnnz(axis=1), np.full(30, 4))
    for i in range(30):
        row = sim[i]
        kept = np.sort(row.data)[::-1]
        np.testing.assert_allclose(kept, np.sort(full[i])[::-1][:4], rtol=1e-5)
        assert i not in set(row.indices)
        np.testing.assert_allclose(row.data, full[i, row.indices], rtol=1e-5)


def test_items_without_common_users_are_not_neighbours() -> None:
    x = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=np.float32)
    model = ItemKNN(similarity="cosine", neighbors=3).fit(dataset(x))
    assert model.similarity_.getnnz(axis=1).tolist() == [1, 1, 1, 1]
    sims = model.similar_items(["i0"], k=3)
    assert sims["similar_item_id"].tolist() == ["i1"]


def test_scores_are_the_user_row_times_the_similarity() -> None:
    model = ItemKNN().fit(dataset(X))  # the defaults: cosine, shrinkage 20
    recs = model.recommend(["u3"], k=5, exclude_seen=False)
    want = X[3] @ expected(X, shrinkage=20.0)
    got = dict(zip(recs[Columns.ITEM], recs[Columns.SCORE], strict=True))
    np.testing.assert_allclose([got[f"i{j}"] for j in range(5)], want, rtol=1e-5)


def test_negatives_push_similar_items_down() -> None:
    # i0~i1 and i2~i3 co-occur; i4 is nobody's neighbour.
    x = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]])
    model = ItemKNN(similarity="cosine").fit(dataset(x.astype(np.float32)))

    def scores(user: str) -> dict[str, float]:
        recs = model.recommend([user], k=5, exclude_seen=False)
        return dict(zip(recs[Columns.ITEM], recs[Columns.SCORE], strict=True))

    model.fold_in("likes", ["i0"], [1.0])
    model.fold_in("likes-and-dislikes", ["i0", "i2"], [1.0, -1.0])
    plain, pushed = scores("likes"), scores("likes-and-dislikes")
    assert plain["i3"] == 0.0
    assert pushed["i3"] < 0.0 < pushed["i1"]
    order = model.recommend(["likes-and-dislikes"], k=5)[Columns.ITEM].tolist()
    assert order == ["i1", "i4", "i3"]  # the disliked item's neighbour comes last
    unweighted = ItemKNN(similarity="cosine", negative_weight=0.0).fit(model.data)
    unweighted.fold_in("u", ["i0", "i2"], [1.0, -1.0])
    assert unweighted.recommend(["u"], k=3)[Columns.ITEM].tolist() == ["i1", "i3", "i4"]


def test_save_load_keeps_the_sparse_similarity() -> None:
    model = ItemKNN(similarity="bm25", neighbors=2).fit(dataset(X))
    loaded = Recommender.from_bytes(model.to_bytes())
    assert isinstance(loaded, ItemKNN)
    for part in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(loaded.similarity_, part), getattr(model.similarity_, part))
    assert loaded.similarity_.shape == model.similarity_.shape


@pytest.mark.parametrize(
    "params",
    [
        {"neighbors": 0},
        {"shrinkage": -1.0},
        {"similarity": "pearson", "binary": True},
        {"similarity": "jaccard"},
        {"bm25_b": 1.5},
        {"neighbours": 10},
    ],
)
def test_config_rejects_bad_values(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="invalid"):
        ItemKNN(**params)
