"""LinUCB: a contextual bandit with a linear reward model over user and item features.

We chose LinUCB (Li, Chu, Langford & Schapire 2010; the shared-parameter form of Chu et al.
2011) over linear Thompson sampling because it is deterministic given its state, so the
propensity an exposure logs is exact (1, or a share of a tie) rather than a Monte Carlo
estimate. Every round gives each arm a feature vector ``x_a`` (a row of ``context``); the
reward is modelled as ``x_a · θ`` with one ``θ`` shared by all arms, and the chosen arm
maximizes ``x_a · θ̂ + alpha · sqrt(x_a' A⁻¹ x_a)`` with ``A = ridge · I + Σ x x'`` and
``θ̂ = A⁻¹ Σ r x``.

Build ``x_a`` from user and item features with :func:`joint_features` (their outer product):
with one-hot item ids it is a separate linear model of the user features per arm (the
"disjoint" LinUCB); with descriptive item features the model generalizes to new items.

Examples
--------
>>> user = np.array([1.0, 0.0])                   # a one-hot user type
>>> items = np.eye(3)                             # three arms, one-hot ids
>>> x = joint_features(user, items)
>>> x.shape
(3, 6)
>>> policy = LinUCB(3, dim=6, alpha=0.5)
>>> policy.update(2, 1.0, x)
>>> policy.update(0, 0.0, x)
>>> int(policy.select(x, rng=np.random.default_rng(0)).arms[0])   # the arm that paid
2
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tastemaker.experiments.bandits.base import BanditPolicy, _problem, top_n


def joint_features(user: np.ndarray, items: np.ndarray) -> np.ndarray:
    """One row per item: the outer product of the user's and the item's features, flattened
    (``user`` of shape ``(d_u,)``, ``items`` of shape ``(n, d_i)`` → ``(n, d_u · d_i)``)."""
    u = np.asarray(user, dtype=np.float64).reshape(-1)
    m = np.asarray(items, dtype=np.float64)
    return (m[:, None, :] * u[None, :, None]).reshape(len(m), -1)


class LinUCB(BanditPolicy):
    """LinUCB over per-arm feature vectors (``context`` has one row per arm, ``dim`` columns).

    Parameters
    ----------
    n_arms
        The number of arms (rows of ``context``).
    dim
        The length of a feature vector.
    alpha
        Width of the confidence bonus (exploration).
    ridge
        The L2 regularization (the prior precision of ``θ``).
    """

    kind = "linucb"
    contextual = True

    def __init__(self, n_arms: int, dim: int, alpha: float = 1.0, ridge: float = 1.0) -> None:
        if dim < 1:
            raise _problem("dim", "must be 1 or more")
        if alpha < 0 or ridge <= 0:
            raise _problem("alpha", "alpha must be 0 or more and ridge positive")
        super().__init__(n_arms)
        self.dim = int(dim)
        self.alpha = float(alpha)
        self.ridge = float(ridge)
        self._reset()

    def params(self) -> dict[str, Any]:
        return {"dim": self.dim, "alpha": self.alpha, "ridge": self.ridge}

    def theta(self) -> np.ndarray:
        """The current estimate of the reward model's coefficients."""
        return np.linalg.solve(self.a_, self.b_)

    def scores(self, context: np.ndarray) -> np.ndarray:
        """Each row's upper confidence bound."""
        x = self._rows(context)
        a_inv = np.linalg.inv(self.a_)
        spread = np.asarray(np.einsum("ij,jk,ik->i", x, a_inv, x), dtype=np.float64)
        out: np.ndarray = x @ (a_inv @ self.b_) + self.alpha * np.sqrt(np.maximum(spread, 0.0))
        return out

    def _choose(
        self, eligible: np.ndarray, n: int, context: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        if context is None:
            raise _problem("context", "LinUCB chooses by the arms' features: pass context")
        rows = self._rows(context)
        if len(rows) != self.n_arms:
            raise _problem("context", f"needs one row per arm ({self.n_arms}), not {len(rows)}")
        return top_n(self.scores(rows[eligible]), n, rng)

    def _learn(self, arm: int, reward: float, context: np.ndarray | None) -> None:
        c = np.asarray(context, dtype=np.float64)
        x = c[arm] if c.ndim == 2 else c
        if x.shape != (self.dim,):
            raise _problem("context", f"the arm's feature vector must have {self.dim} values")
        self.a_ += np.outer(x, x)
        self.b_ += reward * x

    def _reset(self) -> None:
        self.a_ = self.ridge * np.eye(self.dim)
        self.b_ = np.zeros(self.dim)

    def _grow(self, extra: int) -> None:
        """Arms carry no state of their own: nothing to add."""

    def _state(self) -> dict[str, Any]:
        return {"a": self.a_.tolist(), "b": self.b_.tolist()}

    def _load_state(self, state: dict[str, Any]) -> None:
        if state:
            self.a_ = np.asarray(state["a"], dtype=np.float64)
            self.b_ = np.asarray(state["b"], dtype=np.float64)
            if self.a_.shape != (self.dim, self.dim) or self.b_.shape != (self.dim,):
                raise _problem("state", f"a must be {self.dim}×{self.dim} and b {self.dim} long")

    def _rows(self, context: np.ndarray) -> np.ndarray:
        x = np.asarray(context, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise _problem("context", f"needs shape (arms, {self.dim})")
        return x
