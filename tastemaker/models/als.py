"""Alternating least squares for implicit feedback (Hu, Koren & Volinsky, ICDM 2008).

Training runs ``implicit``'s CPU solver. Users whose rows changed since training, and users the
model never saw, get their factors re-solved in closed form from their current row, so new
events count at once without retraining.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from tastemaker.models.base import ModelConfig, Recommender, UserRow
from tastemaker.models.data import Dataset

MAX_THREADS = 4
"""Solver threads at most: training shares the machine with the API and the event stream."""


class ALSConfig(ModelConfig):
    """Hyper-parameters of :class:`ALS`.

    ``factors`` latent dimensions; ``regularization`` the ridge penalty λ (large values, 1–50,
    often rank best on real data); confidence ``C = 1 + alpha · weight``; ``iterations`` full
    alternations; ``seed`` seeds the initial factors; with ``binary`` every interaction has
    weight 1 whatever its summed weight.
    """

    factors: int = Field(default=128, ge=1, le=1024)
    regularization: float = Field(default=15.0, gt=0)
    alpha: float = Field(default=1.0, ge=0)
    iterations: int = Field(default=15, ge=1, le=500)
    seed: int = Field(default=0, ge=0)
    binary: bool = False


def confidence_matrix(
    positives: sp.csr_matrix, negatives: sp.csr_matrix, alpha: float, binary: bool = False
) -> sp.csr_matrix:
    """Confidences in ``implicit``'s signed convention.

    A cell whose net weight ``w = positive − negative`` is above zero holds ``1 + alpha·w``
    (preference 1); below zero it holds ``−(1 + alpha·|w|)``: preference 0 with that confidence,
    so an explicit negative is a confident "no" rather than a missing cell. With ``binary``
    ``|w|`` counts as 1.

    >>> pos = sp.csr_matrix(np.array([[2.0, 1.0, 0.0]], dtype=np.float32))
    >>> neg = sp.csr_matrix(np.array([[0.0, 3.0, 0.0]], dtype=np.float32))
    >>> confidence_matrix(pos, neg, alpha=2.0).toarray().tolist()
    [[5.0, -5.0, 0.0]]
    """
    net = sp.csr_matrix(positives - negatives, dtype=np.float32)
    net.eliminate_zeros()
    magnitude = np.ones_like(net.data) if binary else np.abs(net.data)
    conf = (1.0 + alpha * magnitude).astype(np.float32)
    net.data = np.where(net.data > 0, conf, -conf).astype(np.float32)
    return net


class ALS(Recommender[ALSConfig]):
    """Implicit-feedback matrix factorization; scores are ``user factors · item factors``.

    Explicit negatives enter training as preference 0 with high confidence. Similar items are
    the cosine between item factors.

    >>> import pandas as pd
    >>> from tastemaker.models.data import Dataset
    >>> ds = Dataset.from_interactions(pd.DataFrame({
    ...     "user_id": ["u", "u", "v", "v", "w", "x", "x", "y"],
    ...     "item_id": ["a", "b", "a", "b", "a", "c", "d", "c"]}))
    >>> model = ALS(factors=4, regularization=0.1, iterations=20, seed=3).fit(ds)
    >>> model.recommend(["w", "y"], k=1)["item_id"].tolist()
    ['b', 'd']
    >>> model.fold_in("newcomer", ["c"], [1.0])
    >>> model.recommend(["newcomer"], k=1)["item_id"].tolist()
    ['d']
    """

    name = "als"
    Config = ALSConfig

    def _fit(self, data: Dataset) -> None:
        # Imported here: loading and serving a fitted model needs numpy only.
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        cfg = self.config
        conf = confidence_matrix(data.positives, data.negatives, cfg.alpha, cfg.binary)
        # implicit's solver threads call BLAS; a BLAS thread pool underneath them oversubscribes
        # the cores and is many times slower (implicit warns about it).
        with threadpool_limits(1, "blas"):
            solver = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=1.0,  # confidences are already 1 + alpha·w
                iterations=cfg.iterations,
                random_state=cfg.seed,
                num_threads=min(MAX_THREADS, os.cpu_count() or 1),
                dtype=np.float32,
            )
            solver.fit(conf, show_progress=False)
        self._set_factors(
            np.ascontiguousarray(solver.user_factors, dtype=np.float32),
            np.ascontiguousarray(solver.item_factors, dtype=np.float32),
        )

    def _set_factors(self, users: np.ndarray, items: np.ndarray) -> None:
        """The factors, and what every request derives from the item factors, made once: a
        server scores one user per request, where copying the whole matrix to float64 cost more
        than the product."""
        self.user_factors_ = users
        self.item_factors_ = items
        self._items64 = items.astype(np.float64)
        norms = np.linalg.norm(self._items64, axis=1)
        self._unit_items = self._items64 / np.where(norms > 0, norms, 1.0)[:, None]
        self._gram: np.ndarray | None = None

    def _score(
        self,
        users: np.ndarray,
        positives: sp.csr_matrix,
        negatives: sp.csr_matrix,
        folded: np.ndarray,
    ) -> np.ndarray:
        resolve = folded | (users < 0)
        factors = np.empty((len(users), self.item_factors_.shape[1]), dtype=np.float32)
        factors[~resolve] = self.user_factors_[users[~resolve]]
        if resolve.any():
            cfg = self.config
            conf = confidence_matrix(positives[resolve], negatives[resolve], cfg.alpha, cfg.binary)
            factors[resolve] = self.solve_users(conf)
        # float64: a float32 product rounds differently with the batch's shape (BLAS picks
        # other kernels), and a user's list must not depend on who else is in the batch.
        scores: np.ndarray = factors.astype(np.float64) @ self._items64.T
        return scores

    def _score_one(self, uidx: int, pos: UserRow, neg: UserRow, folded: bool) -> np.ndarray:
        if folded or uidx < 0:
            return super()._score_one(uidx, pos, neg, folded)
        # Items × factor vector (a matrix-vector product): several times faster than the
        # batch's vector × itemsᵀ for one row; float64 either way, so the float32 scores agree.
        scores: np.ndarray = self._items64 @ self.user_factors_[uidx].astype(np.float64)
        return scores

    def solve_users(self, confidences: sp.csr_matrix) -> np.ndarray:
        """User factors that best explain ``confidences`` with the item factors held fixed.

        The exact ALS user step: ``x_u = (YᵀC_uY + λI)⁻¹ YᵀC_u p_u`` for each row, in the signed
        convention of :func:`confidence_matrix`.
        """
        y = self._items64
        if self._gram is None:
            self._gram = y.T @ y + self.config.regularization * np.eye(y.shape[1])
        n = confidences.shape[0]
        lhs = np.broadcast_to(self._gram, (n, *self._gram.shape)).copy()
        rhs = np.zeros((n, y.shape[1]))
        conf = confidences.tocsr()
        for r in range(n):
            lo, hi = conf.indptr[r], conf.indptr[r + 1]
            rows = y[conf.indices[lo:hi]]
            c = conf.data[lo:hi].astype(np.float64)
            # YᵀC_uY = YᵀY + Yᵀ(C_u − I)Y: only the user's own items add to the shared Gram matrix.
            lhs[r] += (rows.T * (np.abs(c) - 1.0)) @ rows
            rhs[r] = np.where(c > 0, c, 0.0) @ rows
        solved: np.ndarray = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        return solved.astype(np.float32)

    def _similar(self, items: np.ndarray) -> np.ndarray:
        unit = self._unit_items
        sims: np.ndarray = unit[items] @ unit.T
        return sims

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._set_factors(arrays["user_factors"], arrays["item_factors"])
