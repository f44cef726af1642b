"""The combined item feature space: blocks side by side, each a cosine, weighted.

Every block (text, tags, author, source) is scaled to unit length per item and multiplied by the
square root of its weight, so the dot product of two items is ``Σ weight_b · cos_b``. Dividing
by the total weight makes it a weighted cosine in ``[-1, 1]``. Items missing a block (no author)
simply score 0 on it: missing means "no evidence", not "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from tastemaker.models.base import ranges, weighted_row_sum

CHUNK = 128
"""Users (or query items) densified at once; bounds memory at ``CHUNK × sparse columns``."""


def unit_rows(block: np.ndarray | sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
    """``block`` with every non-zero row scaled to length 1 (zero rows stay zero).

    >>> print(unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])))
    [[0.6 0.8]
     [0.  0. ]]
    """
    if isinstance(block, np.ndarray):
        dense = block.astype(np.float32)
        norms = np.linalg.norm(dense, axis=1)
        return dense / np.where(norms > 0, norms, 1.0)[:, None]
    m = sp.csr_matrix(block, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1), dtype=np.float64).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ m)


def one_hot(codes: np.ndarray, n_values: int) -> sp.csr_matrix:
    """Rows of 1 at each item's code; code ``-1`` (none) gives an empty row.

    >>> one_hot(np.array([1, -1, 0]), 2).toarray().tolist()
    [[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]
    """
    rows = np.flatnonzero(codes >= 0)
    return sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, codes[rows])),
        shape=(len(codes), max(n_values, 1)),
    )


@dataclass(frozen=True)
class ItemSpace:
    """Items as vectors: dense columns (LSA, embeddings) and sparse columns side by side.

    ``total_weight`` is the summed weight of the blocks present, the squared length of an item
    that has every block.
    """

    dense: np.ndarray
    sparse: sp.csr_matrix
    total_weight: float

    @classmethod
    def combine(
        cls, blocks: list[tuple[float, np.ndarray | sp.csr_matrix]], n_items: int
    ) -> ItemSpace:
        """Stack ``(weight, block)`` pairs, skipping zero weights and empty blocks."""
        dense: list[np.ndarray] = []
        sparse: list[sp.csr_matrix] = []
        total = 0.0
        for weight, block in blocks:
            unit = unit_rows(block)
            if weight <= 0 or not _any(unit):
                continue
            scaled = unit * np.float32(np.sqrt(weight))
            if isinstance(scaled, np.ndarray):
                dense.append(scaled.astype(np.float32))
            else:
                sparse.append(sp.csr_matrix(scaled, dtype=np.float32))
            total += weight
        return cls(
            dense=np.hstack(dense) if dense else np.zeros((n_items, 0), dtype=np.float32),
            sparse=sp.csr_matrix(sp.hstack(sparse, format="csr"), dtype=np.float32)
            if sparse
            else sp.csr_matrix(np.zeros((n_items, 0), dtype=np.float32)),
            total_weight=total,
        )

    def profile_scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """Weighted cosine of each row's profile (``rows @ items``) with every item."""
        out = np.zeros((rows.shape[0], self.dense.shape[0]), dtype=np.float32)
        for start in range(0, rows.shape[0], CHUNK):
            chunk = rows[start : start + CHUNK]
            prof_dense = np.asarray(chunk @ self.dense, dtype=np.float32)
            prof_sparse = sp.csr_matrix(chunk @ self.sparse).toarray()
            out[start : start + CHUNK] = self._cosine(prof_dense, prof_sparse)
        return out

    def profile_scores_one(self, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """:meth:`profile_scores` of one row given as its columns and weights, in numpy (one
        row's sparse products cost more in scipy's overhead than in arithmetic)."""
        weights = vals.astype(np.float64)
        prof_dense = (weights @ self.dense[cols].astype(np.float64)).astype(np.float32)
        prof_sparse = weighted_row_sum(self.sparse, cols, weights).astype(np.float32)
        scores: np.ndarray = self._cosine(prof_dense[None, :], prof_sparse[None, :])[0]
        return scores

    def _cosine(self, prof_dense: np.ndarray, prof_sparse: np.ndarray) -> np.ndarray:
        norms = np.sqrt(
            np.sum(prof_dense**2, axis=1, dtype=np.float64)
            + np.sum(prof_sparse**2, axis=1, dtype=np.float64)
        )
        raw = self._dot(prof_dense, prof_sparse)
        scale = np.divide(
            1.0, norms * np.sqrt(self.total_weight), out=np.zeros_like(norms), where=norms > 0
        )
        result: np.ndarray = raw * scale.astype(np.float32)[:, None]
        return result

    def item_scores(self, items: np.ndarray) -> np.ndarray:
        """Weighted cosine of each given item with every item."""
        n = self.dense.shape[0]
        out = np.zeros((len(items), n), dtype=np.float32)
        for start in range(0, len(items), CHUNK):
            sel = items[start : start + CHUNK]
            raw = self._sparse_item_dot(sel)
            if self.dense.shape[1]:
                raw += self.dense[sel].astype(np.float64) @ self._dense64.T
            out[start : start + CHUNK] = raw / self.total_weight
        return out

    def _sparse_item_dot(self, items: np.ndarray) -> np.ndarray:
        """``sparse[items] @ sparseᵀ`` (float64) through the columns: only the items sharing a
        feature with a query are touched, where a product would run over every item's row."""
        csc = self._columns
        sparse = self.sparse
        starts, ends = sparse.indptr[items], sparse.indptr[items + 1]
        n_feats = ends - starts
        at = ranges(starts, n_feats)
        query = np.repeat(np.arange(len(items)), n_feats)
        features, weights = sparse.indices[at], sparse.data[at].astype(np.float64)
        col_starts = csc.indptr[features]
        lengths = csc.indptr[features + 1] - col_starts
        hit = ranges(col_starts, lengths)
        n = sparse.shape[0]
        key = np.repeat(query * n, lengths) + csc.indices[hit]
        return np.bincount(
            key, weights=np.repeat(weights, lengths) * csc.data[hit], minlength=len(items) * n
        ).reshape(len(items), n)

    @cached_property
    def _columns(self) -> sp.csc_matrix:
        """The sparse columns by feature, made once."""
        return sp.csc_matrix(self.sparse)

    def _dot(self, dense: np.ndarray, sparse_part: np.ndarray) -> np.ndarray:
        # float64 for the BLAS product: in float32 its rounding depends on the batch's shape,
        # and one user's scores must not depend on who else is in the batch.
        result = dense.astype(np.float64) @ self._dense64.T
        # Sparse items × dense profile columns is the fast direction for scipy.
        result += np.asarray(self.sparse @ sparse_part.T).T
        out: np.ndarray = result.astype(np.float32)
        return out

    @cached_property
    def _dense64(self) -> np.ndarray:
        """The dense columns in float64, made once (a request would otherwise copy them)."""
        return self.dense.astype(np.float64)

    def arrays(self) -> dict[str, np.ndarray]:
        """The space as plain arrays (saved without pickle)."""
        return {
            "dense": self.dense,
            "sparse.data": self.sparse.data,
            "sparse.indices": self.sparse.indices,
            "sparse.indptr": self.sparse.indptr,
            "sparse.shape": np.asarray(self.sparse.shape, dtype=np.int64),
            "total_weight": np.asarray(self.total_weight, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ItemSpace:
        shape = arrays["sparse.shape"]
        return cls(
            dense=arrays["dense"],
            sparse=sp.csr_matrix(
                (arrays["sparse.data"], arrays["sparse.indices"], arrays["sparse.indptr"]),
                shape=(int(shape[0]), int(shape[1])),
            ),
            total_weight=float(arrays["total_weight"]),
        )


def _any(block: np.ndarray | sp.csr_matrix) -> bool:
    if isinstance(block, np.ndarray):
        return bool(block.size) and bool(np.any(block))
    return block.nnz > 0
