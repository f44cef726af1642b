"""Top-K metrics: hand-computed answers, edge cases, a brute-force oracle and invariants."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.errors import InvalidInput
from tastemaker.evaluation import (
    ACCURACY_METRICS,
    accuracy_at_k,
    activity_buckets,
    average_precision_at_k,
    beyond_accuracy,
    catalog_coverage,
    evaluate,
    evaluate_groups,
    hit_matrix,
    hit_rate_at_k,
    intra_list_diversity,
    item_popularity,
    metrics,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
    reciprocal_rank_at_k,
    recommendation_array,
    relevance_matrix,
    reports_frame,
    user_activity,
    user_mean,
)

IntArray = npt.NDArray[np.int64]
NAN = float("nan")


def relevance(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    """A relevance matrix from each user's list of relevant items."""
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


def random_csr(n_rows: int, n_cols: int, density: float, rng: np.random.Generator) -> sp.csr_matrix:
    """A random sparse matrix with positive values where ``random < density``."""
    values = rng.random((n_rows, n_cols)) + 0.01
    return sp.csr_matrix(np.where(rng.random((n_rows, n_cols)) < density, values, 0.0))


def close(actual: Any, expected: Any) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


# ---------------------------------------------------------------- hand-computed answers

# user 0: ranked [3, 1, 4, 0, 2], relevant {1, 2, 7} -> hits at ranks 2 and 5
# user 1: ranked [5, 6, -, -, -], relevant {5}       -> hit at rank 1, padded list
# user 2: ranked [0, 1, 2, 3, 4], relevant {}        -> excluded from every mean
RECS = np.array([[3, 1, 4, 0, 2], [5, 6, -1, -1, -1], [0, 1, 2, 3, 4]])
RELEVANT = relevance([[1, 2, 7], [5], []], n_items=8)
L2, L3, L4, L5, L6 = (math.log2(x) for x in (2, 3, 4, 5, 6))


def test_precision_known_answer() -> None:
    # P@5: user 0 has 2 hits / 5 slots; user 1 has 1 hit / 5 slots (empty slots are misses)
    close(precision_at_k(RECS, RELEVANT, 5), [2 / 5, 1 / 5, NAN])
    close(precision_at_k(RECS, RELEVANT, 3), [1 / 3, 1 / 3, NAN])
    assert user_mean(precision_at_k(RECS, RELEVANT, 5)) == pytest.approx((2 / 5 + 1 / 5) / 2)


def test_recall_known_answer() -> None:
    # R@K = hits / #relevant: user 0 finds 2 of 3 in the top 5, 1 of 3 in the top 3
    close(recall_at_k(RECS, RELEVANT, 5), [2 / 3, 1.0, NAN])
    close(recall_at_k(RECS, RELEVANT, 3), [1 / 3, 1.0, NAN])


def test_ndcg_known_answer() -> None:
    # user 0, K=5: DCG = 1/log2(2+1) + 1/log2(5+1)
    #              IDCG over min(5, 3) = 3 ideal hits = 1/log2(2) + 1/log2(3) + 1/log2(4)
    dcg = 1 / L3 + 1 / L6
    idcg = 1 / L2 + 1 / L3 + 1 / L4
    # user 0, K=3: DCG = 1/log2(3); IDCG still has 3 slots = same as above
    # user 1: the only relevant item is at rank 1 -> DCG = IDCG = 1
    close(ndcg_at_k(RECS, RELEVANT, 5), [dcg / idcg, 1.0, NAN])
    close(ndcg_at_k(RECS, RELEVANT, 3), [(1 / L3) / idcg, 1.0, NAN])
    # K=2: IDCG over min(2, 3) = 2 slots = 1 + 1/log2(3)
    close(ndcg_at_k(RECS, RELEVANT, 2), [(1 / L3) / (1 + 1 / L3), 1.0, NAN])


def test_average_precision_known_answer() -> None:
    # user 0, K=5: precision at the hits is 1/2 (rank 2) and 2/5 (rank 5); / min(5, 3)
    # user 0, K=3: only the rank-2 hit: (1/2) / min(3, 3)
    # user 0, K=2: (1/2) / min(2, 3)
    close(average_precision_at_k(RECS, RELEVANT, 5), [(1 / 2 + 2 / 5) / 3, 1.0, NAN])
    close(average_precision_at_k(RECS, RELEVANT, 3), [(1 / 2) / 3, 1.0, NAN])
    close(average_precision_at_k(RECS, RELEVANT, 2), [(1 / 2) / 2, 1.0, NAN])


def test_reciprocal_rank_and_hit_rate_known_answer() -> None:
    # first hits: user 0 at rank 2, user 1 at rank 1
    close(reciprocal_rank_at_k(RECS, RELEVANT, 5), [1 / 2, 1.0, NAN])
    close(reciprocal_rank_at_k(RECS, RELEVANT, 1), [0.0, 1.0, NAN])
    close(hit_rate_at_k(RECS, RELEVANT, 1), [0.0, 1.0, NAN])
    close(hit_rate_at_k(RECS, RELEVANT, 2), [1.0, 1.0, NAN])


def test_accuracy_table_matches_single_metric_functions() -> None:
    table = accuracy_at_k(RECS, RELEVANT, [1, 2, 3, 5])
    functions = {
        "precision": precision_at_k,
        "recall": recall_at_k,
        "ndcg": ndcg_at_k,
        "map": average_precision_at_k,
        "mrr": reciprocal_rank_at_k,
        "hit_rate": hit_rate_at_k,
    }
    assert set(table) == set(ACCURACY_METRICS) == set(functions)
    for name, function in functions.items():
        for k in (1, 2, 3, 5):
            close(table[name][k], function(RECS, RELEVANT, k))


def test_single_user_agrees_with_batch() -> None:
    table = accuracy_at_k(RECS, RELEVANT, [3, 5])
    for u in range(RECS.shape[0]):
        alone = accuracy_at_k(RECS[u : u + 1], RELEVANT[u : u + 1], [3, 5])
        for name in ACCURACY_METRICS:
            for k in (3, 5):
                close(alone[name][k], table[name][k][u : u + 1])


# ---------------------------------------------------------------- edge cases


def test_k_larger_than_the_lists() -> None:
    # two slots, K=4: the missing slots count as misses, IDCG uses min(4, 2) = 2 slots
    recs = np.array([[1, 0]])
    relevant = relevance([[0, 1]], n_items=3)
    close(precision_at_k(recs, relevant, 4), [2 / 4])
    close(recall_at_k(recs, relevant, 4), [1.0])
    close(ndcg_at_k(recs, relevant, 4), [1.0])
    close(average_precision_at_k(recs, relevant, 4), [1.0])


def test_empty_slots_never_hit() -> None:
    # -1 would be the previous user's last item under a naive flat lookup; it must not hit
    recs = np.array([[2, -1], [-1, -1]])
    relevant = relevance([[2], [2]], n_items=3)
    assert hit_matrix(recs, relevant).tolist() == [[True, False], [False, False]]
    close(precision_at_k(recs, relevant, 2), [0.5, 0.0])
    close(reciprocal_rank_at_k(recs, relevant, 2), [1.0, 0.0])


def test_empty_slot_keeps_its_position() -> None:
    # a hole at rank 1 pushes the hit to rank 2: RR = 1/2, DCG = 1/log2(3)
    recs = np.array([[-1, 0]])
    relevant = relevance([[0]], n_items=1)
    close(reciprocal_rank_at_k(recs, relevant, 2), [0.5])
    close(ndcg_at_k(recs, relevant, 2), [1 / L3])


def test_users_without_relevant_items_are_left_out_of_means() -> None:
    relevant = relevance([[], []], n_items=3)
    values = precision_at_k(np.array([[0], [1]]), relevant, 1)
    assert np.isnan(values).all()
    assert math.isnan(user_mean(values))
    report = evaluate(np.array([[0], [1]]), relevant, ks=1)
    assert report.n_evaluated == 0
    assert math.isnan(report["ndcg@1"])
    assert report["coverage@1"] == pytest.approx(2 / 3)  # lists still count for coverage


def test_no_users_and_no_columns() -> None:
    empty = relevance([], n_items=4)
    report = evaluate(np.zeros((0, 3), dtype=np.int64), empty, ks=[1, 3])
    assert report.n_users == 0
    assert math.isnan(report["precision@3"])
    zero_width = evaluate(np.zeros((2, 0), dtype=np.int64), relevance([[1], [2]], 4), ks=2)
    assert zero_width["recall@2"] == 0.0
    assert zero_width["coverage@2"] == 0.0


def test_relevance_matrix_forms_and_no_mutation() -> None:
    # explicit zeros are not relevant; duplicates count once; any sparse format works
    data, rows, cols = (
        np.array([1.0, 0.0, 2.0, 3.0]),
        np.zeros(4, dtype=int),
        np.array([1, 2, 3, 3]),
    )
    coo = sp.coo_matrix((data, (rows, cols)), shape=(1, 5))
    csr = sp.csr_matrix(coo.copy())
    csr_before = (csr.data.copy(), csr.indices.copy(), csr.indptr.copy())
    recs = np.array([[1, 2, 3]])
    expected = [[True, False, True]]
    for matrix in (coo, csr, sp.csr_array(coo), sp.csc_matrix(coo)):
        assert hit_matrix(recs, matrix).tolist() == expected
    close(recall_at_k(recs, coo, 3), [1.0])  # 2 relevant items: 1 and 3
    for before, after in zip(csr_before, (csr.data, csr.indices, csr.indptr), strict=True):
        assert np.array_equal(before, after)


def test_duplicates_beyond_k_are_not_checked() -> None:
    recs = np.array([[0, 1, 1]])
    close(precision_at_k(recs, relevance([[1]], 2), 2), [0.5])
    with pytest.raises(InvalidInput, match="same item twice"):
        precision_at_k(recs, relevance([[1]], 2), 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: precision_at_k(np.array([0, 1]), RELEVANT, 1), "2-D"),
        (lambda: precision_at_k(RECS.astype(float), RELEVANT, 1), "integer"),
        (lambda: precision_at_k(RECS.astype(bool), RELEVANT, 1), "integer"),
        (lambda: precision_at_k(RECS[:2], RELEVANT, 1), "rows"),
        (lambda: precision_at_k(RECS + 5, RELEVANT, 5), r"\[0, 8\)"),
        (lambda: precision_at_k(RECS - 1, RELEVANT, 5), r"\[0, 8\)"),
        (lambda: precision_at_k(RECS, RELEVANT.toarray(), 1), "scipy.sparse"),  # type: ignore[arg-type]
        (lambda: precision_at_k(RECS, RELEVANT, 0), "positive"),
        (lambda: precision_at_k(RECS, RELEVANT, True), "positive"),
        (lambda: accuracy_at_k(RECS, RELEVANT, []), "at least one"),
        (lambda: novelty(RECS, np.ones(8) * -1), "non-negative"),
        (lambda: novelty(RECS, np.zeros(8)), "positive"),
        (lambda: novelty(RECS, np.full(8, 5), total=2), "smaller"),
        (lambda: intra_list_diversity(RECS, sp.eye(6), 5), r"\[0, 6\)"),
        (lambda: intra_list_diversity(RECS, -sp.eye(8), 2), "non-negative"),
        (lambda: intra_list_diversity(RECS, sp.eye(8), 2, measure="dice"), "jaccard"),  # type: ignore[arg-type]
        (lambda: catalog_coverage(RECS, 0), "positive"),
        (lambda: evaluate(RECS, RELEVANT, item_tags=sp.eye(8), diversity="dice"), "jaccard"),  # type: ignore[arg-type]
        (lambda: evaluate(RECS, RELEVANT, item_popularity=np.ones(3)), "item"),
        (lambda: evaluate(RECS, RELEVANT, item_tags=sp.eye(3)), "one row per item"),
        (lambda: evaluate_groups(RECS, RELEVANT, ["a", "b"]), "one label per user"),
        (lambda: activity_buckets([1, 2], thresholds=(5, 5)), "increasing"),
        (lambda: activity_buckets([1, 2], labels=("x",)), "labels"),
    ],
)
def test_invalid_input_is_explained(call: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        call()


# ---------------------------------------------------------------- oracle and invariants


def reference(recs: IntArray, relevant: sp.csr_matrix, k: int) -> dict[str, list[float]]:
    """Accuracy metrics straight from their definitions, one user at a time."""
    out: dict[str, list[float]] = {name: [] for name in ACCURACY_METRICS}
    dense = relevant.toarray() != 0
    for u in range(recs.shape[0]):
        rel = set(np.flatnonzero(dense[u]).tolist())
        top = [int(i) for i in recs[u, :k]]
        hits = [1 if i >= 0 and i in rel else 0 for i in top]
        if not rel:
            for name in ACCURACY_METRICS:
                out[name].append(NAN)
            continue
        n_hits = sum(hits)
        depth = min(k, len(rel))
        dcg = sum(h / math.log2(j + 2) for j, h in enumerate(hits))
        idcg = sum(1 / math.log2(j + 2) for j in range(depth))
        ap = sum(sum(hits[: j + 1]) / (j + 1) for j, h in enumerate(hits) if h) / depth
        first = next((j + 1 for j, h in enumerate(hits) if h), None)
        out["precision"].append(n_hits / k)
        out["recall"].append(n_hits / len(rel))
        out["ndcg"].append(dcg / idcg)
        out["map"].append(ap)
        out["mrr"].append(1 / first if first else 0.0)
        out["hit_rate"].append(1.0 if n_hits else 0.0)
    return out


@st.composite
def ranking_problems(draw: st.DrawFn) -> tuple[IntArray, sp.csr_matrix]:
    """Random unique recommendation lists with -1 holes, and a random relevance matrix."""
    n_users = draw(st.integers(0, 12))
    n_items = draw(st.integers(1, 15))
    width = draw(st.integers(0, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    recs = np.full((n_users, width), -1, dtype=np.int64)
    for u in range(n_users):
        items = rng.permutation(n_items)[: min(width, n_items)]
        recs[u, : len(items)] = items
    recs[rng.random(recs.shape) < draw(st.floats(0, 0.5))] = -1
    density = draw(st.floats(0, 0.6))
    relevant = random_csr(n_users, n_items, density, rng)
    return recs, relevant


@given(ranking_problems(), st.lists(st.integers(1, 10), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_metrics_match_reference_and_invariants(
    problem: tuple[IntArray, sp.csr_matrix], ks: list[int]
) -> None:
    recs, relevant = problem
    table = accuracy_at_k(recs, relevant, ks)
    has_relevant = relevant.getnnz(axis=1) > 0
    for k in set(ks):
        expected = reference(recs, relevant, k)
        for name in ACCURACY_METRICS:
            values = table[name][k]
            close(values, expected[name])
            # NaN exactly for users without relevant items; otherwise within [0, 1]
            assert np.array_equal(np.isnan(values), ~has_relevant)
            assert ((values[has_relevant] >= 0) & (values[has_relevant] <= 1 + 1e-12)).all()
        precision, hit_rate = table["precision"][k], table["hit_rate"][k]
        assert (hit_rate[has_relevant] >= precision[has_relevant]).all()
        assert (hit_rate[has_relevant] >= table["recall"][k][has_relevant]).all()
        assert (hit_rate[has_relevant] >= table["mrr"][k][has_relevant]).all()
    ordered = sorted(set(ks))
    for smaller, larger in itertools.pairwise(ordered):
        for name in ("recall", "hit_rate", "mrr"):
            low, high = table[name][smaller], table[name][larger]
            assert (low[has_relevant] <= high[has_relevant] + 1e-12).all()


@given(st.integers(1, 30), st.integers(1, 10), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_perfect_ranking_has_ndcg_one(n_items: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users = 6
    rows, recs = [], np.full((n_users, k), -1, dtype=np.int64)
    for u in range(n_users):
        order = rng.permutation(n_items)
        n_relevant = int(rng.integers(1, n_items + 1))
        rows.append(order[:n_relevant].tolist())
        recs[u, : min(k, n_items)] = order[:k]  # relevant items first, then the rest
    relevant = relevance(rows, n_items)
    table = accuracy_at_k(recs, relevant, k)
    close(table["ndcg"][k], np.ones(n_users))
    close(table["map"][k], np.ones(n_users))
    close(table["mrr"][k], np.ones(n_users))
    expected_recall = [min(k, len(r)) / len(r) for r in rows]
    close(table["recall"][k], expected_recall)


def test_block_boundaries_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    recs = np.stack([rng.permutation(40)[:7] for _ in range(300)])
    relevant = random_csr(300, 40, 0.1, rng)
    tags = random_csr(40, 9, 0.3, rng)
    whole = evaluate(recs, relevant, [3, 7], item_tags=tags, per_user=True)
    hits = hit_matrix(recs, relevant)
    monkeypatch.setattr(metrics, "CHUNK_ROWS", 7)
    monkeypatch.setattr(beyond_accuracy, "DIVERSITY_CHUNK_ROWS", 5)
    blocked = evaluate(recs, relevant, [3, 7], item_tags=tags, per_user=True)
    assert whole.per_user is not None
    assert blocked.per_user is not None
    for name, per_k in whole.per_user.items():
        for k, values in per_k.items():
            close(blocked.per_user[name][k], values)
    assert np.array_equal(hit_matrix(recs, relevant), hits)


# ---------------------------------------------------------------- beyond accuracy


def test_catalog_coverage_known_answer() -> None:
    # top 2: items {3, 1, 5, 6, 0} of 8; top 1: {3, 5, 0}
    assert catalog_coverage(RECS, 8, k=2) == 5 / 8
    assert catalog_coverage(RECS, 8, k=1) == 3 / 8
    assert catalog_coverage(RECS, 8) == 7 / 8  # all but item 7


def test_novelty_known_answer() -> None:
    # popularity 8, 4, 2, 1, 1, 0 of 16 interactions -> shares 1/2, 1/4, 1/8, 1/16, 1/16
    # item 5 was never seen and counts as 1/16 too: self-information 1, 2, 3, 4, 4, 4 bits
    popularity = np.array([8, 4, 2, 1, 1, 0])
    recs = np.array([[0, 1, 2], [5, -1, 3], [-1, -1, -1]])
    close(novelty(recs, popularity), [(1 + 2 + 3) / 3, (4 + 4) / 2, NAN])
    close(novelty(recs, popularity, k=1), [1.0, 4.0, NAN])
    # the per-user variant: 4 users consumed item 0 out of 8 users -> share 1/2
    close(novelty(recs[:1, :1], [4, 0, 0, 0, 0, 0], total=8), [1.0])


def test_intra_list_diversity_known_answer() -> None:
    # item tags:  0 = {a, b}   1 = {a}   2 = {c}   3 = {}   4 = {a, b, c}
    tags = sp.csr_matrix(
        np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=float)
    )
    recs = np.array([[0, 1, 2, 3], [3, 2, -1, -1], [4, 0, -1, -1]])
    # Jaccard, user 0, pairs among tagged items 0, 1, 2 (item 3 has no tags, left out):
    #   (0,1): |{a}| / |{a,b}| = 1/2   (0,2): 0   (1,2): 0  -> ILD = 1 - (1/2) / 3
    # user 1: one tagged item -> undefined
    # user 2: (4,0): |{a,b}| / |{a,b,c}| = 2/3 -> ILD = 1/3
    close(intra_list_diversity(recs, tags), [1 - (1 / 2) / 3, NAN, 1 / 3])
    close(intra_list_diversity(recs, tags, k=2), [1 / 2, NAN, 1 / 3])
    # cosine: (0,1) = 1 / (sqrt2 * 1); (4,0) = 2 / (sqrt3 * sqrt2)
    cosine = intra_list_diversity(recs, tags, measure="cosine")
    close(cosine, [1 - (1 / math.sqrt(2)) / 3, NAN, 1 - 2 / math.sqrt(6)])


def reference_diversity(recs: IntArray, tags: sp.csr_matrix, k: int, measure: str) -> list[float]:
    dense = tags.toarray()
    out = []
    for row in recs[:, :k]:
        items = [int(i) for i in row if i >= 0 and dense[i].any()]
        sims = []
        for a in range(len(items)):
            for b in range(a + 1, len(items)):
                x, y = dense[items[a]], dense[items[b]]
                if measure == "jaccard":
                    sims.append(np.sum((x > 0) & (y > 0)) / np.sum((x > 0) | (y > 0)))
                else:
                    sims.append(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
        out.append(1 - float(np.mean(sims)) if sims else NAN)
    return out


@given(ranking_problems(), st.integers(1, 8), st.sampled_from(["jaccard", "cosine"]))
@settings(max_examples=150, deadline=None)
def test_beyond_accuracy_match_reference_and_stay_in_range(
    problem: tuple[IntArray, sp.csr_matrix], k: int, measure: str
) -> None:
    recs, relevant = problem
    n_items = relevant.shape[1]
    rng = np.random.default_rng(k)
    tags = random_csr(n_items, 5, 0.4, rng)
    diversity = intra_list_diversity(recs, tags, k, measure=measure)  # type: ignore[arg-type]
    close(diversity, reference_diversity(recs, tags, k, measure))
    defined = ~np.isnan(diversity)
    assert ((diversity[defined] >= 0) & (diversity[defined] <= 1)).all()
    coverage = catalog_coverage(recs, n_items, k)
    assert 0 <= coverage <= 1
    popularity = rng.integers(0, 5, n_items)
    values = novelty(recs, popularity, k, total=float(max(popularity.sum(), 1)))
    assert (values[~np.isnan(values)] >= 0).all()


# ---------------------------------------------------------------- reports and groups


def test_evaluate_report_matches_the_functions() -> None:
    popularity = np.arange(8) + 1
    tags = sp.csr_matrix(np.eye(8))
    report = evaluate(
        RECS, RELEVANT, ks=[5, 2], item_popularity=popularity, item_tags=tags, per_user=True
    )
    assert report.ks == (2, 5)
    assert report.n_users == 3
    assert report.n_evaluated == 2
    assert report["ndcg@5"] == pytest.approx(user_mean(ndcg_at_k(RECS, RELEVANT, 5)))
    assert report["map@2"] == pytest.approx(user_mean(average_precision_at_k(RECS, RELEVANT, 2)))
    assert report["novelty@2"] == pytest.approx(user_mean(novelty(RECS, popularity, 2)))
    assert report["diversity@5"] == 1.0  # every item has its own tag
    assert report["coverage@2"] == catalog_coverage(RECS, 8, 2)
    frame = report.to_frame()
    assert frame.index.tolist() == [2, 5]
    assert set(frame.columns) == {*ACCURACY_METRICS, "coverage", "novelty", "diversity"}
    assert report.as_dict()["recall@5"] == report["recall@5"]
    with pytest.raises(KeyError, match="ndcg@3"):
        _ = report["ndcg@3"]
    assert evaluate(RECS, RELEVANT, 5, catalog_size=16)["coverage@5"] == 7 / 16


def test_evaluate_groups_equals_evaluating_each_group_alone() -> None:
    rng = np.random.default_rng(1)
    recs = np.stack([rng.permutation(30)[:5] for _ in range(60)])
    relevant = random_csr(60, 30, 0.1, rng)
    popularity = rng.integers(0, 9, 30)
    groups = rng.choice([3, 1, 2], size=60)
    reports = evaluate_groups(recs, relevant, groups, [1, 5], item_popularity=popularity)
    assert list(reports) == [1, 2, 3]  # sorted, as plain ints
    assert all(type(label) is int for label in reports)
    for label, report in reports.items():
        member = groups == label
        alone = evaluate(recs[member], relevant[member], [1, 5], item_popularity=popularity)
        assert report.n_users == member.sum()
        for key, value in alone.as_dict().items():
            assert report[key] == pytest.approx(value, nan_ok=True)
    table = reports_frame(reports)
    assert table.index.tolist() == [1, 2, 3]
    assert table["n_users"].sum() == 60


def test_activity_buckets_and_categorical_groups() -> None:
    # thresholds 5 and 20: < 5 cold, 5..19 warm, >= 20 heavy
    buckets = activity_buckets([0, 4, 5, 19, 20, 300])
    assert buckets.tolist() == ["cold", "cold", "warm", "warm", "heavy", "heavy"]
    assert list(buckets.categories) == ["cold", "warm", "heavy"]
    recs = np.array([[0], [0], [0], [0], [0], [0]])
    relevant = relevance([[0], [1], [0], [1], [0], [0]], n_items=2)
    reports = evaluate_groups(recs, relevant, buckets, ks=1)
    assert list(reports) == ["cold", "warm", "heavy"]  # category order, not alphabetical
    assert [r["precision@1"] for r in reports.values()] == [0.5, 0.5, 1.0]
    # a missing label belongs to no group
    partial = evaluate_groups(recs, relevant, ["x", None, "x", None, "y", "y"], ks=1)
    assert {label: r.n_users for label, r in partial.items()} == {"x": 2, "y": 2}


# ---------------------------------------------------------------- frames to arrays


def test_frames_to_arrays() -> None:
    train = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]})
    test = pd.DataFrame({"user_id": ["a", "b", "b", "c"], "item_id": ["z", "y", "y", "x"]})
    users, items = ["a", "b"], ["x", "y", "z"]
    assert relevance_matrix(test, users, items).toarray().tolist() == [[0, 0, 1], [0, 1, 0]]
    assert item_popularity(train, items).tolist() == [2, 1, 0]
    assert user_activity(train, users).tolist() == [2, 1]
    by_order = pd.DataFrame({"user_id": ["b", "a", "b"], "item_id": ["z", "y", "x"]})
    assert recommendation_array(by_order, users, items, 3).tolist() == [
        [1, -1, -1],
        [2, 0, -1],
    ]
    by_rank = by_order.assign(rank=[2, 1, 1])
    assert recommendation_array(by_rank, users, items, 1).tolist() == [[1], [0]]
    with pytest.raises(InvalidInput, match="not in `items`"):
        recommendation_array(by_order.assign(item_id=["q", "y", "x"]), users, items, 3)
    with pytest.raises(InvalidInput, match="same rank"):
        recommendation_array(by_order.assign(rank=[1, 1, 1]), users, items, 3)
    with pytest.raises(InvalidInput, match="distinct"):
        relevance_matrix(test, ["a", "a"], items)


# ---------------------------------------------------------------- scale


def test_accuracy_metrics_scale_to_100k_users() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, k = 100_000, 20_000, 10
    recs = (rng.integers(0, n_items, (n_users, 1)) + np.arange(k) * 997) % n_items
    rows = np.repeat(np.arange(n_users), 5)
    relevant = sp.csr_matrix(
        (np.ones(rows.size), (rows, rng.integers(0, n_items, rows.size))), shape=(n_users, n_items)
    )
    table = accuracy_at_k(recs, relevant, [5, 10])
    assert table["ndcg"][10].shape == (n_users,)
    # Speed is shown by benchmarks; here the vectorized result must match the definition.
    sample = rng.choice(n_users, 50, replace=False)
    for u in sample:
        rel = set(relevant[u].indices)
        hits = [1.0 if r in rel else 0.0 for r in recs[u, :10]]
        expected = len([h for h in hits if h]) / len(rel)
        assert table["recall"][10][u] == pytest.approx(expected)
