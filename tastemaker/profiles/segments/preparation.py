"""Data preparation for clustering: imputation, scaling, optional PCA — fitted with
scikit-learn, applied with numpy.

Fitting uses the shared pipeline of :func:`tastemaker.profiles.features.preparation`. What it
learned is copied into :class:`Preparation` — plain arrays that are saved without pickle and
applied online without scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tastemaker.errors import ConfigurationError
from tastemaker.profiles.features import preparation

Matrix = npt.NDArray[np.float64]
_KEYS = ("medians", "mean", "scale", "components", "pca_mean", "whiten")


def preparation_pipeline(n_components: int | None, seed: int) -> Any:
    """The shared, unfitted preparation pipeline (:func:`tastemaker.profiles.features.
    preparation`) with ``seed`` for its randomized steps."""
    return preparation(n_components, seed=seed)


@dataclass(frozen=True)
class Preparation:
    """A fitted preparation as arrays: ``x → (fill NaN with medians − mean) / scale → PCA``.

    Attributes
    ----------
    medians
        Per input feature, the value that replaces a missing one.
    mean, scale
        Standardization (``scale`` is 1 for a constant feature, as in scikit-learn).
    components, pca_mean
        PCA projection ``(z − pca_mean) @ components.T``; empty when there is no PCA.
    whiten
        Per component divisor when the PCA whitens; empty otherwise.

    Examples
    --------
    >>> prep = Preparation(medians=np.array([1.0, 2.0]), mean=np.array([1.0, 0.0]),
    ...                    scale=np.array([2.0, 1.0]))
    >>> prep.transform(np.array([[np.nan, np.nan], [5.0, 3.0]])).tolist()
    [[0.0, 2.0], [2.0, 3.0]]
    """

    medians: Matrix
    mean: Matrix
    scale: Matrix
    components: Matrix = field(default_factory=lambda: np.zeros((0, 0)))
    pca_mean: Matrix = field(default_factory=lambda: np.zeros(0))
    whiten: Matrix = field(default_factory=lambda: np.zeros(0))

    def transform(self, x: Matrix) -> Matrix:
        """Prepare rows of raw features (NaN or ±inf = missing)."""
        x = np.array(x, dtype=np.float64, ndmin=2)
        missing = ~np.isfinite(x)
        if missing.any():
            x[missing] = np.broadcast_to(self.medians, x.shape)[missing]
        z = (x - self.mean) / self.scale
        if self.components.size:
            z = (z - self.pca_mean) @ self.components.T
            if self.whiten.size:
                z = z / self.whiten
        return z

    def arrays(self) -> dict[str, Matrix]:
        return {k: getattr(self, k) for k in _KEYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Matrix]) -> Preparation:
        return cls(**{k: np.asarray(arrays[k], dtype=np.float64) for k in _KEYS})

    @classmethod
    def from_pipeline(cls, pipeline: Any, n_features: int) -> Preparation:
        """Copy a fitted imputer → scaler → PCA pipeline (any step may be missing)."""
        from sklearn.decomposition import PCA
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import StandardScaler

        medians = np.zeros(n_features)
        mean = np.zeros(n_features)
        scale = np.ones(n_features)
        components, pca_mean, whiten = np.zeros((0, 0)), np.zeros(0), np.zeros(0)
        for name, step in pipeline.steps:
            if isinstance(step, SimpleImputer):
                if step.strategy != "median" or step.add_indicator:
                    raise ConfigurationError(f"preparation step {name!r}: only median imputation")
                medians = np.asarray(step.statistics_, dtype=np.float64)
            elif isinstance(step, StandardScaler):
                if step.mean_ is not None:
                    mean = np.asarray(step.mean_, dtype=np.float64)
                if step.scale_ is not None:
                    scale = np.asarray(step.scale_, dtype=np.float64)
            elif isinstance(step, PCA):
                components = np.asarray(step.components_, dtype=np.float64)
                pca_mean = np.asarray(step.mean_, dtype=np.float64)
                if step.whiten:
                    whiten = np.sqrt(np.asarray(step.explained_variance_, dtype=np.float64))
            elif step is not None and step != "passthrough":
                raise ConfigurationError(
                    f"preparation step {name!r} ({type(step).__name__}) cannot be saved without "
                    "pickle; use a median imputer, a standard scaler and PCA"
                )
        if len(medians) != n_features:
            raise ConfigurationError(
                "the imputer dropped features that are missing for every user; drop them first"
            )
        # Imputation happens before scaling, so the medians are in raw units.
        return cls(medians, mean, scale, components, pca_mean, whiten)
