"""Beyond-accuracy metrics: catalog coverage, novelty and intra-list diversity.

They describe the recommendation lists themselves, so they need no relevance data and are
computed for every user with a non-empty list (unlike the accuracy metrics, which leave out
users without relevant items). ``recommendations`` is the same ``(n_users, K_max)`` array of item
indices with ``-1`` for empty slots as in :mod:`tastemaker.evaluation.metrics`.

>>> import numpy as np
>>> recs = np.array([[0, 1], [0, 2]])
>>> catalog_coverage(recs, n_items=4)    # items 0, 1, 2 of 4
0.75
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tastemaker.evaluation._checks import (
    Csr,
    FloatArray,
    IntArray,
    SparseMatrix,
    check_counts,
    check_item_tags,
    check_ks,
    check_recommendations,
    invalid,
)

__all__ = [
    "DiversityMeasure",
    "catalog_coverage",
    "intra_list_diversity",
    "novelty",
]

DiversityMeasure = Literal["jaccard", "cosine"]

DIVERSITY_CHUNK_ROWS = 1 << 13
"""Users per block in the diversity computation, which expands every (slot, tag) pair."""


def catalog_coverage(recommendations: npt.ArrayLike, n_items: int, k: int | None = None) -> float:
    """Share of the catalog that appears in at least one user's top ``k``.

    Parameters
    ----------
    recommendations : array_like of int, shape (n_users, K_max)
        Item indices per user, best first; ``-1`` for an empty slot.
    n_items : int
        Catalog size: the denominator, and the bound on item indices.
    k : int, optional
        Cut-off; all columns when omitted.

    Returns
    -------
    float
        Distinct recommended items divided by ``n_items``, in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> recs = np.array([[0, 1, 2], [0, 3, -1]])
    >>> catalog_coverage(recs, n_items=10), catalog_coverage(recs, n_items=10, k=1)
    (0.4, 0.1)
    """
    if n_items < 1:
        raise invalid("n_items", f"must be positive, got {n_items}")
    recs, cutoff = _top(recommendations, n_items, k)
    return coverage_table(recs, n_items, (cutoff,))[cutoff]


def novelty(
    recommendations: npt.ArrayLike,
    item_popularity: npt.ArrayLike,
    k: int | None = None,
    *,
    total: float | None = None,
) -> FloatArray:
    """Mean self-information of each user's recommended items, in bits.

    An item's self-information is ``-log2(share)`` with ``share = count / total``: recommending
    what few people consumed is novel. An item with no training interactions is counted as if it
    had one, so its novelty is finite (``log2(total)``).

    Parameters
    ----------
    recommendations : array_like of int, shape (n_users, K_max)
        Item indices per user, best first; ``-1`` for an empty slot.
    item_popularity : array_like, shape (n_items,)
        Training interactions per item (see :func:`tastemaker.evaluation.item_popularity`).
    k : int, optional
        Cut-off; all columns when omitted.
    total : float, optional
        Denominator of the share; the sum of ``item_popularity`` when omitted. Pass the number
        of training users together with per-item *user* counts for the "share of users who
        consumed the item" variant.

    Returns
    -------
    numpy.ndarray of float64, shape (n_users,)
        Non-negative; ``NaN`` for users whose top ``k`` is empty.

    Examples
    --------
    >>> import numpy as np
    >>> popularity = np.array([4, 2, 1, 1])      # shares 1/2, 1/4, 1/8, 1/8
    >>> novelty(np.array([[0, 1], [2, -1]]), popularity).tolist()   # (1 + 2) / 2 and 3 bits
    [1.5, 3.0]
    """
    info = self_information(item_popularity, total)
    recs, cutoff = _top(recommendations, info.shape[0], k)
    return novelty_table(recs, info, (cutoff,))[cutoff]


def intra_list_diversity(
    recommendations: npt.ArrayLike,
    item_tags: SparseMatrix,
    k: int | None = None,
    *,
    measure: DiversityMeasure = "jaccard",
) -> FloatArray:
    """Mean pairwise tag dissimilarity within each user's top ``k`` (ILD).

    For every pair of recommended items with at least one tag each, the dissimilarity is
    ``1 - Jaccard`` of their tag sets or ``1 - cosine`` of their tag weight vectors; a user's
    value is the mean over those pairs. Items without tags are left out of the pairs (rather
    than counted as dissimilar to everything).

    Parameters
    ----------
    recommendations : array_like of int, shape (n_users, K_max)
        Item indices per user, best first; ``-1`` for an empty slot.
    item_tags : scipy.sparse matrix, shape (n_items, n_tags)
        Non-negative tag weights per item; Jaccard uses only which entries are non-zero.
    k : int, optional
        Cut-off; all columns when omitted.
    measure : {"jaccard", "cosine"}, default "jaccard"
        Similarity between two items' tags.

    Returns
    -------
    numpy.ndarray of float64, shape (n_users,)
        In ``[0, 1]``; ``NaN`` for users with fewer than two tagged items in their top ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> tags = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]]))
    >>> # pairs (0,1): 1 - 1/2, (0,2): 1 - 0, (1,2): 1 - 0
    >>> intra_list_diversity(np.array([[0, 1, 2]]), tags).tolist()
    [0.8333333333333334]
    """
    check_measure(measure)
    tags = check_item_tags(item_tags)
    recs, cutoff = _top(recommendations, tags.shape[0], k)
    return diversity_table(recs, tags, (cutoff,), measure)[cutoff]


def check_measure(measure: str) -> None:
    """Raise unless ``measure`` is a :data:`DiversityMeasure`."""
    if measure not in ("jaccard", "cosine"):
        raise invalid("measure", f"must be 'jaccard' or 'cosine', got {measure!r}")


def self_information(item_popularity: npt.ArrayLike, total: float | None = None) -> FloatArray:
    """``-log2(max(count, 1) / total)`` per item; the basis of :func:`novelty`."""
    counts = check_counts(item_popularity, "item_popularity")
    denominator = float(counts.sum()) if total is None else float(total)
    if not denominator > 0:
        raise invalid("total", "the popularity total must be positive (no training data?)")
    if counts.size and counts.max() > denominator:
        raise invalid("total", f"is {denominator}, smaller than an item's count {counts.max()}")
    return np.asarray(-np.log2(np.maximum(counts, 1.0) / denominator), dtype=np.float64)


def _top(recommendations: npt.ArrayLike, n_items: int, k: int | None) -> tuple[IntArray, int]:
    """Validated top-``k`` columns and the cut-off (all columns, at least 1, when omitted)."""
    if k is not None:
        check_ks(k)
    recs = check_recommendations(recommendations, n_items, k=k)
    return recs, k if k is not None else max(recs.shape[1], 1)


def coverage_table(recs: IntArray, catalog_size: int, ks: tuple[int, ...]) -> dict[int, float]:
    """Catalog coverage for validated ``recs`` at several cut-offs."""
    out = {}
    for k in ks:
        top = recs[:, :k]
        distinct = int(np.count_nonzero(np.bincount(top[top >= 0])))
        out[k] = distinct / catalog_size
    return out


def novelty_table(recs: IntArray, info: FloatArray, ks: tuple[int, ...]) -> dict[int, FloatArray]:
    """Per-user novelty for validated ``recs`` at several cut-offs."""
    present = recs >= 0
    cum_info = np.cumsum(np.where(present, info[np.maximum(recs, 0)], 0.0), axis=1)
    cum_count = np.cumsum(present, axis=1)
    out = {}
    for k in ks:
        w = min(k, recs.shape[1])
        values = np.full(recs.shape[0], np.nan)
        if w:
            np.divide(
                cum_info[:, w - 1], cum_count[:, w - 1], out=values, where=cum_count[:, w - 1] > 0
            )
        out[k] = values
    return out


def diversity_table(
    recs: IntArray, tags: Csr, ks: tuple[int, ...], measure: DiversityMeasure
) -> dict[int, FloatArray]:
    """Per-user intra-list diversity for validated ``recs`` at several cut-offs."""
    n_users = recs.shape[0]
    width = min(max(ks), recs.shape[1])
    out = {k: np.full(n_users, np.nan) for k in ks}
    if width < 2:
        return out
    for start in range(0, n_users, DIVERSITY_CHUNK_ROWS):
        stop = min(start + DIVERSITY_CHUNK_ROWS, n_users)
        sim_sum, tagged = _similarity_sums(recs[start:stop, :width], tags, measure)
        cum_sim = np.cumsum(sim_sum, axis=1)
        cum_tagged = np.cumsum(tagged, axis=1)
        for k in ks:
            w = min(k, width)
            m = cum_tagged[:, w - 1].astype(np.float64)
            pairs = m * (m - 1.0) / 2.0
            mean_sim = np.full(stop - start, np.nan)
            np.divide(cum_sim[:, w - 1], pairs, out=mean_sim, where=pairs > 0)
            out[k][start:stop] = np.clip(1.0 - mean_sim, 0.0, 1.0)  # NaN stays NaN
    return out


def _similarity_sums(
    recs: IntArray, tags: Csr, measure: DiversityMeasure
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Tag similarity of every item pair in every list of a block of users.

    Returns ``sim_sum[u, q]``, the summed similarity of the item at position ``q`` with every
    earlier item of the list, and whether each slot holds a tagged item.

    Every (slot, tag) pair becomes an entry of a sparse matrix ``X`` whose rows are the slots
    ``u * width + p`` and whose columns are (user, tag) pairs, so ``X @ X.T`` holds dot products
    only between slots of the same user: tag overlaps, or weighted dot products for cosine.
    """
    n_users, width = recs.shape
    flat = recs.ravel()
    indptr = np.asarray(tags.indptr, dtype=np.int64)
    lengths = np.zeros(flat.size, dtype=np.int64)
    present = flat >= 0
    lengths[present] = indptr[flat[present] + 1] - indptr[flat[present]]
    tagged = (lengths > 0).reshape(n_users, width)
    sim_sum = np.zeros((n_users, width))
    slots = np.flatnonzero(lengths)
    if slots.size < 2:
        return sim_sum, tagged
    slot_len = lengths[slots]
    n_entries = int(slot_len.sum())
    entry_slot = np.repeat(slots, slot_len)
    offset = np.arange(n_entries) - np.repeat(np.cumsum(slot_len) - slot_len, slot_len)
    source = np.repeat(indptr[flat[slots]], slot_len) + offset
    tag = np.asarray(tags.indices, dtype=np.int64)[source]
    if measure == "cosine":
        weight = np.asarray(tags.data, dtype=np.float64)[source]
    else:
        weight = np.ones(n_entries)
    user_tag = (entry_slot // width) * tags.shape[1] + tag
    _, column = np.unique(user_tag, return_inverse=True)
    x = sp.csr_matrix(
        (weight, (entry_slot, column.ravel())), shape=(flat.size, int(column.max()) + 1)
    )
    dots = (x @ x.T).tocoo()
    upper = dots.row < dots.col  # same user by construction; keep each pair once
    first, second = dots.row[upper], dots.col[upper]
    dot = np.asarray(dots.data[upper], dtype=np.float64)
    if measure == "cosine":
        norm = np.sqrt(np.bincount(entry_slot, weights=weight * weight, minlength=flat.size))
        sim = dot / (norm[first] * norm[second])
    else:
        size = lengths.astype(np.float64)
        sim = dot / (size[first] + size[second] - dot)
    sim_sum += np.bincount(second, weights=sim, minlength=flat.size).reshape(n_users, width)
    return sim_sum, tagged
