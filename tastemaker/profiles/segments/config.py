"""The typed configuration of a segmentation run."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tastemaker.profiles.segments.selection import DEFAULT_FEATURES

Method = Literal["kmeans", "gmm", "dbscan"]
METHODS: tuple[Method, ...] = ("kmeans", "gmm", "dbscan")


class SegmentationConfig(BaseModel):
    """How to segment: method, number of segments, features, seed.

    Frozen, unknown keys rejected; it round-trips through JSON and is stored with every
    segmentation version.

    Examples
    --------
    >>> SegmentationConfig(method="gmm", k=4).k
    4
    >>> SegmentationConfig.model_validate_json(SegmentationConfig().model_dump_json()).k
    'auto'
    >>> try:
    ...     SegmentationConfig(method="dbscan", k=3)
    ... except ValueError as exc:
    ...     print("DBSCAN finds the number of segments itself" in str(exc))
    True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method = "kmeans"
    k: int | Literal["auto"] = Field(
        default="auto", description="Number of segments, or 'auto' to choose it by silhouette"
    )
    k_min: int = Field(default=2, ge=2, description="Smallest k tried by 'auto'")
    k_max: int = Field(default=10, ge=2, description="Largest k tried by 'auto'")
    features: tuple[str, ...] = Field(
        default=DEFAULT_FEATURES, min_length=1, description="Columns or patterns (tag_share:*)"
    )
    n_components: int | None = Field(
        default=None, ge=1, description="Reduce to this many principal components first"
    )
    seed: int = Field(default=0, ge=0, description="Seed of every randomized step")
    criterion: Literal["silhouette", "bic"] = Field(
        default="silhouette", description="How 'auto' picks k; 'bic' only for gmm"
    )
    silhouette_tolerance: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="'auto' takes the smallest k whose silhouette is this close to the best",
    )
    n_init: int = Field(default=4, ge=1, description="Restarts of K-Means and of the mixture")
    covariance_type: Literal["full", "tied", "diag", "spherical"] = "full"
    reg_covar: float = Field(
        default=0.1,
        gt=0,
        description="Added to the mixture's covariance diagonals (features are standardized)",
    )
    eps: float | None = Field(
        default=None, gt=0, description="DBSCAN radius; chosen from the k-distance curve if unset"
    )
    min_samples: int | None = Field(
        default=None, ge=2, description="DBSCAN core size; 2 × dimensions if unset"
    )
    minibatch_above: int = Field(
        default=20_000, ge=1, description="Use MiniBatchKMeans for more users than this"
    )
    silhouette_sample: int = Field(
        default=5_000, ge=100, description="Users sampled (seeded) for the silhouette score"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SegmentationConfig:
        if self.k_max < self.k_min:
            raise ValueError("k_max must be at least k_min")
        if self.k != "auto" and self.k < 2:
            raise ValueError("k must be at least 2 (or 'auto')")
        if self.method == "dbscan" and self.k != "auto":
            raise ValueError(
                "DBSCAN finds the number of segments itself: leave k at 'auto' and set eps "
                "(or let it be chosen from the k-distance curve)"
            )
        if self.criterion == "bic" and self.method != "gmm":
            raise ValueError("the bic criterion needs method 'gmm'")
        return self

    @property
    def ks(self) -> list[int]:
        """The candidate numbers of segments (K-Means and mixtures)."""
        return list(range(self.k_min, self.k_max + 1)) if self.k == "auto" else [int(self.k)]
