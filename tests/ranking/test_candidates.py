"""Candidate tables: the merge of several sources, batch-first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError, NotFittedError
from tastemaker.models.data import Dataset
from tastemaker.models.ease import EASE
from tastemaker.models.item_knn import ItemKNN
from tastemaker.models.popularity import Popularity
from tastemaker.ranking.candidates import CandidateSources, merge_candidates, rank_by


def recs(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[Columns.USER, Columns.ITEM, Columns.SCORE])
    frame[Columns.RANK] = frame.groupby(Columns.USER).cumcount() + 1
    return frame


def test_merge_marks_what_a_source_did_not_propose() -> None:
    a = recs([("u", "x", 0.9), ("u", "y", 0.5)])
    b = recs([("u", "z", 3.0), ("u", "x", 2.0), ("u", "w", 1.0)])
    table = merge_candidates({"a": a, "b": b}, k={"a": 2, "b": 3})
    got = table.set_index(Columns.ITEM)
    assert got.loc["x", ["rank:a", "rank:b"]].tolist() == [1, 2]
    assert got.loc["z", "rank:a"] == 3  # k + 1: not in a's list
    assert np.isnan(got.loc["z", "score:a"])
    assert got.loc["y", "rank:b"] == 4
    # Ordered by the best rank any source gave, ties by source order, then item id.
    assert table[Columns.ITEM].tolist() == ["x", "z", "y", "w"]


def test_merge_needs_a_source() -> None:
    with pytest.raises(ConfigurationError):
        merge_candidates({}, k=5)


def interactions() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = [(f"u{u}", f"i{i}", 1.0, t) for t, (u, i) in enumerate(rng.integers(0, 30, (400, 2)))]
    return pd.DataFrame(rows, columns=list(Columns.INTERACTIONS))


def test_a_batch_gives_each_user_what_they_get_alone() -> None:
    data = Dataset.from_interactions(interactions())
    sources = CandidateSources({"pop": Popularity(), "knn": ItemKNN(), "ease": EASE()}, k=8)
    sources.fit(data)
    users = ["u3", "u1", "nobody", "u7"]
    batch = sources.candidates(users)
    assert batch[Columns.USER].unique().tolist() == users
    for user in users:
        alone = sources.candidates([user])
        mine = batch[batch[Columns.USER] == user].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, mine)
    # No seen item comes back, and every source's rank is within 1 … k + 1.
    seen = set(zip(interactions()[Columns.USER], interactions()[Columns.ITEM], strict=True))
    assert not any(p in seen for p in zip(batch[Columns.USER], batch[Columns.ITEM], strict=True))
    for name in sources.names:
        assert batch[f"rank:{name}"].between(1, 9).all()


def test_sources_must_be_fitted_and_valid() -> None:
    with pytest.raises(ConfigurationError):
        CandidateSources({}, k=5)
    with pytest.raises(ConfigurationError):
        CandidateSources({"pop": Popularity()}, k=0)
    with pytest.raises(NotFittedError):
        _ = CandidateSources({"pop": Popularity()}, k=5).data


def test_rank_by_orders_within_users_and_keeps_ties_in_table_order() -> None:
    table = pd.DataFrame({Columns.USER: ["v", "v", "u", "u", "u"], Columns.ITEM: list("abcde")})
    out = rank_by(table, np.array([1.0, 2.0, 0.5, 0.5, 0.7]), k=2)
    assert out[[Columns.USER, Columns.ITEM, Columns.RANK]].values.tolist() == [
        ["v", "b", 1],
        ["v", "a", 2],
        ["u", "e", 1],
        ["u", "c", 2],
    ]
