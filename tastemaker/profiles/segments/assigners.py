"""Assigning prepared feature rows to segments with numpy alone, one class per method.

Each assigner holds the arrays a fitted scikit-learn clusterer learned and reproduces its
``predict``: nearest centroid (K-Means), highest posterior (Gaussian mixture, log-likelihood
computed here), nearest core sample within ``eps`` (DBSCAN). Label ``-1`` means unsegmented.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

UNSEGMENTED = -1
"""The label of a user no segment takes (DBSCAN's noise)."""

_BLOCK = 4096


class Assigner(ABC):
    """Maps prepared rows ``(n, d)`` to labels ``(n,)``."""

    method: ClassVar[str]

    @abstractmethod
    def predict(self, z: Matrix) -> Labels: ...

    @abstractmethod
    def arrays(self) -> dict[str, npt.NDArray[Any]]: ...

    @abstractmethod
    def relabel(self, order: Labels) -> Assigner:
        """The same assigner with segment ``order[i]`` renamed to ``i``."""


def _squared_distances(z: Matrix, points: Matrix) -> Matrix:
    # ‖z‖² − 2 z·p + ‖p‖², clipped: rounding can make it slightly negative.
    d = (z * z).sum(axis=1)[:, None] - 2.0 * z @ points.T + (points * points).sum(axis=1)[None, :]
    out: Matrix = np.maximum(d, 0.0)
    return out


@dataclass(frozen=True)
class CentroidAssigner(Assigner):
    """K-Means: the nearest centroid.

    >>> a = CentroidAssigner(np.array([[0.0, 0.0], [10.0, 10.0]]))
    >>> a.predict(np.array([[1.0, 2.0], [9.0, 8.0]])).tolist()
    [0, 1]
    """

    method: ClassVar[str] = "kmeans"
    centroids: Matrix

    def predict(self, z: Matrix) -> Labels:
        out = np.empty(len(z), dtype=np.int64)
        for s in range(0, len(z), _BLOCK):
            out[s : s + _BLOCK] = _squared_distances(z[s : s + _BLOCK], self.centroids).argmin(1)
        return out

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"centroids": self.centroids}

    def relabel(self, order: Labels) -> CentroidAssigner:
        return CentroidAssigner(self.centroids[order])


def _full_covariances(covariances: Matrix, kind: str, k: int, d: int) -> Matrix:
    """scikit-learn's ``covariances_`` of any ``covariance_type`` as ``(k, d, d)``."""
    if kind == "full":
        return np.asarray(covariances, dtype=np.float64)
    if kind == "tied":
        return np.repeat(np.asarray(covariances, dtype=np.float64)[None], k, axis=0)
    if kind == "diag":
        return np.stack([np.diag(c) for c in np.asarray(covariances, dtype=np.float64)])
    if kind == "spherical":
        return np.stack([np.eye(d) * c for c in np.asarray(covariances, dtype=np.float64)])
    raise ValueError(f"unknown covariance type {kind!r}")


@dataclass(frozen=True)
class MixtureAssigner(Assigner):
    """Gaussian mixture: the component with the highest ``log w + log N(z | μ, Σ)``.

    Parameters
    ----------
    weights
        Mixing weights ``(k,)``.
    means
        Component means ``(k, d)``.
    covariances
        Full covariance matrices ``(k, d, d)`` (see :meth:`from_sklearn` for other types).

    Examples
    --------
    >>> a = MixtureAssigner(np.array([0.5, 0.5]), np.array([[0.0], [4.0]]),
    ...                     np.array([[[1.0]], [[1.0]]]))
    >>> a.predict(np.array([[1.0], [3.5]])).tolist()
    [0, 1]
    >>> round(float(a.log_likelihood(np.array([[0.0]]))[0, 0]), 4)  # log(0.5) + log N(0|0,1)
    -1.6121
    """

    method: ClassVar[str] = "gmm"
    weights: Matrix
    means: Matrix
    covariances: Matrix
    _precision_cholesky: Matrix = field(init=False, repr=False, compare=False)
    _log_det: Matrix = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # As scikit-learn does: Σ = L Lᵀ, and with P = L⁻ᵀ, (z − μ)ᵀ Σ⁻¹ (z − μ) = ‖(z − μ) P‖².
        d = self.means.shape[1]
        chol = np.linalg.cholesky(self.covariances)
        precision = np.stack([np.linalg.solve(c, np.eye(d)).T for c in chol])
        log_det = np.log(np.diagonal(precision, axis1=1, axis2=2)).sum(axis=1)
        object.__setattr__(self, "_precision_cholesky", precision)
        object.__setattr__(self, "_log_det", log_det)

    @classmethod
    def from_sklearn(cls, mixture: Any) -> MixtureAssigner:
        """Copy a fitted :class:`sklearn.mixture.GaussianMixture`."""
        means = np.asarray(mixture.means_, dtype=np.float64)
        k, d = means.shape
        covs = _full_covariances(mixture.covariances_, str(mixture.covariance_type), k, d)
        return cls(np.asarray(mixture.weights_, dtype=np.float64), means, covs)

    def log_likelihood(self, z: Matrix) -> Matrix:
        """``log w_k + log N(z | μ_k, Σ_k)`` for every row and component, ``(n, k)``."""
        n, d = z.shape
        out = np.empty((n, len(self.weights)))
        for j, (mu, p) in enumerate(zip(self.means, self._precision_cholesky, strict=True)):
            # z·P − μ·P rather than (z − μ)·P: the same rounding as scikit-learn's predict.
            y = z @ p - mu @ p
            out[:, j] = -0.5 * (d * np.log(2 * np.pi) + (y * y).sum(axis=1)) + self._log_det[j]
        return out + np.log(self.weights)

    def predict(self, z: Matrix) -> Labels:
        return np.asarray(self.log_likelihood(z).argmax(axis=1), dtype=np.int64)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"weights": self.weights, "means": self.means, "covariances": self.covariances}

    def relabel(self, order: Labels) -> MixtureAssigner:
        return MixtureAssigner(self.weights[order], self.means[order], self.covariances[order])


@dataclass(frozen=True)
class CoreSampleAssigner(Assigner):
    """DBSCAN: the segment of the nearest core sample within ``eps``, else unsegmented.

    For a core sample of the training data this is its own segment; a border point joins the
    segment of its nearest core sample (DBSCAN itself takes the first one it reaches, which
    agrees in almost every case).

    >>> a = CoreSampleAssigner(np.array([[0.0], [5.0]]), np.array([0, 1]), eps=1.0)
    >>> a.predict(np.array([[0.5], [4.2], [2.5]])).tolist()
    [0, 1, -1]
    """

    method: ClassVar[str] = "dbscan"
    cores: Matrix
    core_labels: Labels
    eps: float

    def predict(self, z: Matrix) -> Labels:
        out = np.full(len(z), UNSEGMENTED, dtype=np.int64)
        if not len(self.cores):
            return out
        for s in range(0, len(z), _BLOCK):
            d = _squared_distances(z[s : s + _BLOCK], self.cores)
            nearest = d.argmin(axis=1)
            near = d[np.arange(len(nearest)), nearest] <= self.eps * self.eps
            out[s : s + _BLOCK] = np.where(near, self.core_labels[nearest], UNSEGMENTED)
        return out

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "cores": self.cores,
            "core_labels": self.core_labels,
            "eps": np.asarray([self.eps]),
        }

    def relabel(self, order: Labels) -> CoreSampleAssigner:
        rename = np.empty(len(order), dtype=np.int64)
        rename[order] = np.arange(len(order))
        return CoreSampleAssigner(self.cores, rename[self.core_labels], self.eps)


def assigner_from_arrays(method: str, arrays: dict[str, npt.NDArray[Any]]) -> Assigner:
    """Rebuild the assigner of ``method`` from :meth:`Assigner.arrays`."""
    if method == "kmeans":
        return CentroidAssigner(np.asarray(arrays["centroids"], dtype=np.float64))
    if method == "gmm":
        return MixtureAssigner(
            np.asarray(arrays["weights"], dtype=np.float64),
            np.asarray(arrays["means"], dtype=np.float64),
            np.asarray(arrays["covariances"], dtype=np.float64),
        )
    if method == "dbscan":
        return CoreSampleAssigner(
            np.asarray(arrays["cores"], dtype=np.float64),
            np.asarray(arrays["core_labels"], dtype=np.int64),
            float(np.asarray(arrays["eps"])[0]),
        )
    raise ValueError(f"unknown segmentation method {method!r}")
