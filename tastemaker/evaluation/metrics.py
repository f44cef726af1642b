"""Full-ranking top-K accuracy metrics, per user and vectorized.

Inputs are shared by every function here:

``recommendations``
    an integer array of shape ``(n_users, K_max)``: row ``u`` holds user ``u``'s ranked item
    indices, best first, and ``-1`` marks an empty slot. An empty slot keeps its position and
    never hits, so a short list is padded at the end and scored as if those slots missed.
    A cut-off ``k`` larger than ``K_max`` treats the missing columns as empty slots. Items in a
    row must be unique.
``relevant``
    a ``scipy.sparse`` matrix of shape ``(n_users, n_items)`` whose stored non-zeros mark each
    user's relevant (held-out) items; values other than zero all count the same (binary
    relevance).

Every per-user function returns a ``float64`` array with one value per user and ``NaN`` for
users without relevant items: their accuracy is undefined, and :func:`user_mean` (and every
report) leaves them out of the mean instead of counting them as zeros.

With ``hits[j]`` = 1 when the item at 1-based rank ``j`` is relevant, and ``R`` the number of
relevant items of the user:

=================  ===========================================================================
Precision@K        ``sum(hits[1..K]) / K``
Recall@K           ``sum(hits[1..K]) / R``
NDCG@K             ``DCG / IDCG`` with ``DCG = sum_j hits[j] / log2(j + 1)`` and the ideal
                   ``IDCG = sum_{j=1..min(K, R)} 1 / log2(j + 1)``
AP@K (MAP@K)       ``sum_j hits[j] * Precision@j / min(K, R)``
RR@K (MRR@K)       ``1 / rank`` of the first relevant item in the top K, else 0
HitRate@K          1 when any of the top K is relevant, else 0
=================  ===========================================================================

>>> import numpy as np
>>> import scipy.sparse as sp
>>> recs = np.array([[3, 1, 2], [0, -1, -1]])
>>> relevant = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 0]]))
>>> precision_at_k(recs, relevant, 2).tolist()      # user 1 has nothing relevant
[0.5, nan]
>>> user_mean(precision_at_k(recs, relevant, 2))
0.5
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from tastemaker.evaluation._checks import (
    BoolArray,
    FloatArray,
    IntArray,
    Relevance,
    SparseMatrix,
    check_ks,
    check_recommendations,
    check_relevance,
)

__all__ = [
    "ACCURACY_METRICS",
    "accuracy_at_k",
    "average_precision_at_k",
    "hit_matrix",
    "hit_rate_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "user_mean",
]

ACCURACY_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")
"""Names of the accuracy metrics, as used in reports (``"ndcg@10"``)."""

CHUNK_ROWS = 1 << 16
"""Users per block: bounds temporary memory at ~``CHUNK_ROWS * K_max * 40`` bytes."""


def hit_matrix(recommendations: npt.ArrayLike, relevant: SparseMatrix) -> BoolArray:
    """Which recommended slots hold a relevant item.

    Parameters
    ----------
    recommendations : array_like of int, shape (n_users, K_max)
        Item indices per user, best first; ``-1`` for an empty slot.
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Non-zero where the item is relevant to the user.

    Returns
    -------
    numpy.ndarray of bool, shape (n_users, K_max)

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[1, 0, 1]]))
    >>> hit_matrix(np.array([[2, 1, -1]]), relevant).tolist()
    [[True, False, False]]
    """
    rel = check_relevance(relevant)
    recs = check_recommendations(recommendations, rel.n_items, rel.n_users)
    out = np.empty(recs.shape, dtype=np.bool_)
    for start in range(0, rel.n_users, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, rel.n_users)
        out[start:stop] = _hits(recs[start:stop], rel, start)
    return out


def accuracy_at_k(
    recommendations: npt.ArrayLike, relevant: SparseMatrix, ks: int | Iterable[int]
) -> dict[str, dict[int, FloatArray]]:
    """Every accuracy metric, per user, for several cut-offs at once.

    The relevance lookup runs once for the longest cut-off, so this is the fast path for a
    table of metrics; the single-metric functions are convenient wrappers around it.

    Parameters
    ----------
    recommendations : array_like of int, shape (n_users, K_max)
        Item indices per user, best first; ``-1`` for an empty slot.
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Non-zero where the item is relevant to the user.
    ks : int or iterable of int
        Cut-offs; each positive. Larger than ``K_max`` is allowed (missing slots are empty).

    Returns
    -------
    dict
        ``{metric: {k: per-user float64 array}}`` for every name in :data:`ACCURACY_METRICS`;
        ``NaN`` for users without relevant items.

    Raises
    ------
    tastemaker.errors.InvalidInput
        Shapes disagree, an index is out of range, a row repeats an item, or a cut-off is not a
        positive integer.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[0, 1, 1, 0]]))
    >>> table = accuracy_at_k(np.array([[1, 3, 2]]), relevant, [1, 3])
    >>> table["recall"][1].tolist(), table["recall"][3].tolist()
    ([0.5], [1.0])
    """
    cutoffs = check_ks(ks)
    rel = check_relevance(relevant)
    recs = check_recommendations(recommendations, rel.n_items, rel.n_users, k=max(cutoffs))
    return accuracy_table(recs, rel, cutoffs)


def accuracy_table(
    recs: IntArray, rel: Relevance, ks: tuple[int, ...]
) -> dict[str, dict[int, FloatArray]]:
    """:func:`accuracy_at_k` on validated inputs, one block of users at a time."""
    out = {name: {k: np.full(rel.n_users, np.nan) for k in ks} for name in ACCURACY_METRICS}
    counts = rel.counts
    for start in range(0, rel.n_users, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, rel.n_users)
        block = _block_accuracy(_hits(recs[start:stop], rel, start), counts[start:stop], ks)
        for name, per_k in block.items():
            for k, values in per_k.items():
                out[name][k][start:stop] = values
    return out


def precision_at_k(recommendations: npt.ArrayLike, relevant: SparseMatrix, k: int) -> FloatArray:
    """Precision@K per user: the share of the top ``k`` slots holding a relevant item.

    The denominator is ``k`` even when the list is shorter (empty slots count as misses).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[1, 1, 0, 0]]))
    >>> precision_at_k(np.array([[0, 2, 1, 3]]), relevant, 3).tolist()   # 2 hits in 3 slots
    [0.6666666666666666]
    """
    return _one(recommendations, relevant, k, "precision")


def recall_at_k(recommendations: npt.ArrayLike, relevant: SparseMatrix, k: int) -> FloatArray:
    """Recall@K per user: relevant items in the top ``k`` divided by all relevant items.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[1, 1, 1, 1]]))
    >>> recall_at_k(np.array([[0, 2, -1]]), relevant, 3).tolist()    # 2 of 4 relevant found
    [0.5]
    """
    return _one(recommendations, relevant, k, "recall")


def ndcg_at_k(recommendations: npt.ArrayLike, relevant: SparseMatrix, k: int) -> FloatArray:
    """NDCG@K per user with binary gains and a ``log2(rank + 1)`` discount.

    The ideal DCG places ``min(k, R)`` relevant items first, so a user with fewer relevant
    items than ``k`` can still reach 1.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[1, 0, 0]]))
    >>> # the only relevant item at rank 2: DCG = 1/log2(3), IDCG = 1/log2(2) = 1
    >>> round(float(ndcg_at_k(np.array([[2, 0, 1]]), relevant, 3)[0]), 4)
    0.6309
    """
    return _one(recommendations, relevant, k, "ndcg")


def average_precision_at_k(
    recommendations: npt.ArrayLike, relevant: SparseMatrix, k: int
) -> FloatArray:
    """AP@K per user (its mean is MAP@K), normalized by ``min(k, R)``.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[1, 1, 0, 0]]))
    >>> # hits at ranks 1 and 3: (1/1 + 2/3) / min(3, 2)
    >>> round(float(average_precision_at_k(np.array([[0, 2, 1]]), relevant, 3)[0]), 4)
    0.8333
    """
    return _one(recommendations, relevant, k, "map")


def reciprocal_rank_at_k(
    recommendations: npt.ArrayLike, relevant: SparseMatrix, k: int
) -> FloatArray:
    """Reciprocal rank of the first relevant item within the top ``k`` (its mean is MRR@K).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[0, 0, 1]]))
    >>> reciprocal_rank_at_k(np.array([[0, 1, 2]]), relevant, 3).tolist()
    [0.3333333333333333]
    >>> reciprocal_rank_at_k(np.array([[0, 1, 2]]), relevant, 2).tolist()
    [0.0]
    """
    return _one(recommendations, relevant, k, "mrr")


def hit_rate_at_k(recommendations: npt.ArrayLike, relevant: SparseMatrix, k: int) -> FloatArray:
    """1.0 for users with at least one relevant item in the top ``k``, else 0.0.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[0, 0, 1], [1, 0, 0]]))
    >>> hit_rate_at_k(np.array([[2, 1], [2, 1]]), relevant, 2).tolist()
    [1.0, 0.0]
    """
    return _one(recommendations, relevant, k, "hit_rate")


def user_mean(values: npt.ArrayLike) -> float:
    """Mean over users, leaving out ``NaN`` (users for whom the metric is undefined).

    Returns ``NaN`` when no user has a value.

    Examples
    --------
    >>> user_mean([1.0, float("nan"), 0.0])
    0.5
    >>> user_mean([float("nan")])
    nan
    """
    array = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice"
        return float(np.nanmean(array)) if array.size else float("nan")


def _one(recommendations: npt.ArrayLike, relevant: SparseMatrix, k: int, name: str) -> FloatArray:
    return accuracy_at_k(recommendations, relevant, [k])[name][k]


def _hits(recs: IntArray, rel: Relevance, first_user: int) -> BoolArray:
    """Hits for a block of users starting at ``first_user``.

    Each relevant (user, item) pair becomes the key ``user * n_items + item``; canonical CSR
    makes those keys sorted, so one ``searchsorted`` answers every slot of the block.
    """
    n_rows = recs.shape[0]
    lo, hi = rel.indptr[first_user], rel.indptr[first_user + n_rows]
    if hi == lo or recs.size == 0:
        return np.zeros(recs.shape, dtype=np.bool_)
    per_row = np.diff(rel.indptr[first_user : first_user + n_rows + 1])
    rows = np.arange(n_rows, dtype=np.int64)
    keys = np.repeat(rows, per_row) * rel.n_items + rel.indices[lo:hi]
    query = rows[:, None] * rel.n_items + recs
    found = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    # -1 slots produce the key of the previous user's last item, hence the explicit mask
    return np.asarray((keys[found] == query) & (recs >= 0), dtype=np.bool_)


def _block_accuracy(
    hits: BoolArray, n_relevant: IntArray, ks: tuple[int, ...]
) -> Mapping[str, Mapping[int, FloatArray]]:
    """Accuracy metrics for one block of users from its hit matrix (see the module table)."""
    n_rows, width = hits.shape
    has_relevant = n_relevant > 0
    ranks = np.arange(1, max(max(ks), width) + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discount)  # ideal[m - 1]: IDCG with m relevant items on top
    cum_hits = np.cumsum(hits, axis=1, dtype=np.int64)
    cum_dcg = np.cumsum(hits * discount[:width], axis=1)
    cum_ap = np.cumsum(np.where(hits, cum_hits / ranks[:width], 0.0), axis=1)
    first_rank = np.full(n_rows, np.iinfo(np.int64).max)  # no hit: beyond every cut-off
    if width:
        first_rank = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, first_rank)

    def at(cumulative: npt.NDArray[np.int64] | FloatArray, k: int) -> FloatArray:
        w = min(k, width)
        if w == 0:
            return np.zeros(n_rows)
        return np.asarray(cumulative[:, w - 1], dtype=np.float64)

    def divide(numerator: FloatArray, denominator: npt.ArrayLike) -> FloatArray:
        out = np.full(n_rows, np.nan)
        np.divide(numerator, denominator, out=out, where=has_relevant)
        return out

    out: dict[str, dict[int, FloatArray]] = {name: {} for name in ACCURACY_METRICS}
    for k in ks:
        n_hits = at(cum_hits, k)
        depth = np.maximum(np.minimum(k, n_relevant), 1)  # min(K, R), guarded for R = 0
        out["precision"][k] = divide(n_hits, np.full(n_rows, float(k)))
        out["recall"][k] = divide(n_hits, n_relevant)
        out["ndcg"][k] = divide(at(cum_dcg, k), ideal[depth - 1])
        out["map"][k] = divide(at(cum_ap, k), depth)
        rr = np.where(first_rank <= k, 1.0 / np.minimum(first_rank, k), 0.0)
        out["mrr"][k] = np.where(has_relevant, rr, np.nan)
        out["hit_rate"][k] = np.where(has_relevant, (n_hits > 0).astype(np.float64), np.nan)
    return out
