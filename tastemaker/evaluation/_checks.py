"""Input checks shared by splits and metrics; every failure is an :class:`InvalidInput`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from tastemaker.errors import FieldProblem, InvalidInput

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def invalid(field: str, reason: str) -> InvalidInput:
    """An :class:`InvalidInput` about one argument or column."""
    return InvalidInput(f"{field}: {reason}", [FieldProblem(field=field, reason=reason)])


def check_fraction(name: str, value: float) -> None:
    """Raise unless ``0 < value < 1``."""
    if not 0.0 < value < 1.0:
        raise invalid(name, f"must be strictly between 0 and 1, got {value!r}")


def require_columns(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    """Raise naming every missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise invalid(
            "interactions",
            f"missing column(s) {missing}; have {list(frame.columns)} "
            "(use the names in tastemaker.catalog.columns.Columns)",
        )


def check_ks(ks: int | Iterable[int]) -> tuple[int, ...]:
    """The cut-offs as a sorted tuple of distinct positive ints."""
    values = (ks,) if isinstance(ks, int | np.integer) else tuple(ks)
    if not values:
        raise invalid("k", "give at least one cut-off")
    out = []
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise invalid("k", f"cut-offs must be positive integers, got {k!r}")
        out.append(int(k))
    return tuple(sorted(set(out)))


class Relevance(NamedTuple):
    """The relevant items of each user as canonical CSR arrays (sorted, unique, no zeros)."""

    indptr: IntArray
    indices: IntArray
    n_users: int
    n_items: int

    @property
    def counts(self) -> IntArray:
        """Number of relevant items per user."""
        return np.diff(self.indptr)


Csr = sp.csr_matrix[Any] | sp.csr_array[Any]

SparseMatrix = sp.spmatrix[Any] | sp.sparray[Any, Any]
"""Any scipy.sparse matrix or array (CSR is used as is; other formats are converted)."""


def _canonical_csr(matrix: Any, name: str) -> Csr:
    is_sparse = sp.issparse(matrix)  # kept apart: narrowing to SparseABC would hide tocsr()
    if not is_sparse:
        raise invalid(name, f"must be a scipy.sparse matrix, got {type(matrix).__name__}")
    csr: Csr = matrix.tocsr()  # the same object when already CSR
    if not csr.has_canonical_format or (csr.data == 0).any():
        csr = csr.copy()  # never mutate the caller's matrix
        csr.sum_duplicates()
        csr.eliminate_zeros()
    return csr


def check_relevance(matrix: object) -> Relevance:
    """Validate the user x item relevance matrix; a stored non-zero means relevant."""
    csr = _canonical_csr(matrix, "relevant")
    n_users, n_items = csr.shape
    return Relevance(
        indptr=np.asarray(csr.indptr, dtype=np.int64),
        indices=np.asarray(csr.indices, dtype=np.int64),
        n_users=int(n_users),
        n_items=int(n_items),
    )


def check_item_tags(matrix: object, n_items: int | None = None) -> Csr:
    """Validate an item x tag matrix: one row per item, non-negative finite weights."""
    csr = _canonical_csr(matrix, "item_tags")
    if n_items is not None and csr.shape[0] != n_items:
        raise invalid("item_tags", f"must have one row per item ({n_items}), got {csr.shape[0]}")
    data = np.asarray(csr.data, dtype=np.float64)
    if data.size and (not np.isfinite(data).all() or data.min() < 0):
        raise invalid("item_tags", "weights must be finite and non-negative")
    return csr


def check_recommendations(
    values: npt.ArrayLike, n_items: int, n_users: int | None = None, k: int | None = None
) -> IntArray:
    """Validate a ``(n_users, K)`` array of item indices with ``-1`` for empty slots.

    Only the first ``k`` columns are checked and returned when ``k`` is given.
    """
    recs = np.asarray(values)
    if recs.ndim != 2:
        raise invalid("recommendations", f"must be 2-D (n_users, K), got shape {recs.shape}")
    if recs.dtype == np.bool_ or not np.issubdtype(recs.dtype, np.integer):
        raise invalid("recommendations", f"must hold integer item indices, got {recs.dtype}")
    if n_users is not None and recs.shape[0] != n_users:
        raise invalid(
            "recommendations",
            f"has {recs.shape[0]} rows but the relevance matrix has {n_users} users",
        )
    top: IntArray = np.asarray(recs[:, :k] if k is not None else recs, dtype=np.int64)
    if top.size:
        low, high = int(top.min()), int(top.max())
        if low < -1 or high >= n_items:
            raise invalid(
                "recommendations",
                f"item indices must be in [0, {n_items}) or -1 for an empty slot, "
                f"found values in [{low}, {high}]",
            )
        ordered = np.sort(top, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
        if repeated.any():
            row = int(np.flatnonzero(repeated.any(axis=1))[0])
            raise invalid(
                "recommendations",
                f"row {row} recommends the same item twice; lists must be unique "
                "(pad with -1 instead of repeating)",
            )
    return top


def check_counts(values: npt.ArrayLike, name: str, n_items: int | None = None) -> FloatArray:
    """Validate a 1-D array of one non-negative count per item."""
    counts = np.asarray(values, dtype=np.float64)
    if counts.ndim != 1 or (n_items is not None and counts.shape != (n_items,)):
        expected = f"({n_items},)" if n_items is not None else "(n_items,)"
        raise invalid(name, f"must have shape {expected}, got {counts.shape}")
    if counts.size and (not np.isfinite(counts).all() or counts.min() < 0):
        raise invalid(name, "counts must be finite and non-negative")
    return counts
