"""A fitted segmentation: arrays plus a JSON header, saved without pickle, assigned with numpy.

The blob is one ``.npz`` file written with ``allow_pickle=False``: the preparation (imputer
medians, scaler mean and scale, PCA components and mean), the method's arrays (centroids; or
weights, means and covariances; or core samples and ``eps``) and a ``__header__`` array holding
UTF-8 JSON with the configuration, feature names, segments (names, descriptions, statistics,
top items) and the score of every candidate. Loading it needs numpy only.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from tastemaker.errors import FieldProblem, InvalidInput, NotFound
from tastemaker.profiles.segments.assigners import (
    UNSEGMENTED,
    Assigner,
    Labels,
    assigner_from_arrays,
)
from tastemaker.profiles.segments.config import SegmentationConfig
from tastemaker.profiles.segments.preparation import Preparation
from tastemaker.profiles.segments.search import Candidate
from tastemaker.profiles.segments.summary import (
    UNSEGMENTED_NAME,
    SegmentInfo,
    TopItem,
    with_top_items,
)

FORMAT_VERSION: Final = 1
REGISTRY_NAME: Final = "segments"
"""The model-registry name segmentations are saved under."""
REGISTRY_KIND: Final = "segmentation"


@dataclass(frozen=True)
class Segmentation:
    """Segments of users and how to assign anyone to one.

    Build it with :func:`~tastemaker.profiles.segments.fit.fit_segmentation`; save it with
    :meth:`to_bytes`, load it with :meth:`from_bytes`. :meth:`assign` maps feature rows (any
    frame holding :attr:`features`; missing values allowed) to segment ids, ``-1`` for
    unsegmented.

    Attributes
    ----------
    config
        How it was fitted.
    features
        The clustered columns, in the order the arrays expect.
    preparation, assigner
        The fitted preparation and clusterer as arrays.
    segments
        Every segment, the unsegmented one (id ``-1``) last when there is one.
    candidates
        Every candidate tried with its scores, the chosen one flagged.
    n_users
        Users it was fitted on.
    """

    config: SegmentationConfig
    features: tuple[str, ...]
    preparation: Preparation
    assigner: Assigner
    segments: tuple[SegmentInfo, ...]
    candidates: tuple[Candidate, ...]
    n_users: int

    # --- reading -------------------------------------------------------------------------

    @property
    def method(self) -> str:
        return self.config.method

    @property
    def chosen(self) -> Candidate:
        """The candidate that was kept."""
        return next(c for c in self.candidates if c.chosen)

    @property
    def k(self) -> int:
        """Number of segments, not counting "unsegmented"."""
        return sum(1 for s in self.segments if s.id != UNSEGMENTED)

    def segment(self, segment_id: int) -> SegmentInfo:
        """One segment by id; :class:`~tastemaker.errors.NotFound` if there is none."""
        for s in self.segments:
            if s.id == segment_id:
                return s
        raise NotFound(
            f"no segment {segment_id}; this segmentation has ids "
            + ", ".join(str(s.id) for s in self.segments)
        )

    def name_of(self, segment_id: int) -> str | None:
        """The segment's name; "Unsegmented" for ``-1``; ``None`` for an unknown id."""
        if segment_id == UNSEGMENTED:
            return UNSEGMENTED_NAME
        return next((s.name for s in self.segments if s.id == segment_id), None)

    # --- assigning -----------------------------------------------------------------------

    def assign(self, frame: pd.DataFrame) -> Labels:
        """Segment ids for the rows of ``frame`` (one per row, ``-1`` = unsegmented).

        Columns beyond :attr:`features` are ignored; a missing column is an error; NaN values
        are imputed as in training.
        """
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise InvalidInput(
                f"the frame lacks the segmentation's features: {', '.join(missing)}",
                [FieldProblem(field=f, reason="missing column") for f in missing],
            )
        x = frame[list(self.features)].to_numpy(dtype=np.float64, na_value=np.nan)
        return self.assign_array(x)

    def assign_array(self, x: npt.NDArray[np.float64]) -> Labels:
        """Segment ids for raw feature rows ordered as :attr:`features`."""
        return self.assigner.predict(self.preparation.transform(x))

    def assign_one(self, features: Mapping[str, float | None]) -> int:
        """The segment id of one user from a feature mapping (absent keys count as missing).

        Constant work per call (no pandas): suited to online updates.
        """
        row = np.array(
            [[np.nan if (v := features.get(f)) is None else v for f in self.features]],
            dtype=np.float64,
        )
        return int(self.assign_array(row)[0])

    # --- changing ------------------------------------------------------------------------

    def with_top_items(self, items: Mapping[int, tuple[TopItem, ...]]) -> Segmentation:
        """A copy whose segments carry these top items."""
        return replace(self, segments=tuple(with_top_items(list(self.segments), items)))

    # --- persistence ---------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-ready data."""
        return {
            "format": FORMAT_VERSION,
            "method": self.method,
            "config": self.config.model_dump(mode="json"),
            "features": list(self.features),
            "segments": [s.as_dict() for s in self.segments],
            "candidates": [c.as_dict() for c in self.candidates],
            "n_users": self.n_users,
        }

    def metrics(self) -> dict[str, Any]:
        """The figures the model registry records with a version."""
        noise = next((s.share for s in self.segments if s.id == UNSEGMENTED), 0.0)
        return {
            "k": self.k,
            "silhouette": self.chosen.silhouette,
            "bic": self.chosen.bic,
            "noise_share": noise,
            "n_users": self.n_users,
        }

    def to_bytes(self) -> bytes:
        """One ``.npz`` blob: arrays and a JSON header, no pickle."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "__header__": np.frombuffer(
                json.dumps(self.header(), allow_nan=False).encode(), dtype=np.uint8
            )
        }
        arrays.update({f"prep.{k}": v for k, v in self.preparation.arrays().items()})
        arrays.update({f"model.{k}": v for k, v in self.assigner.arrays().items()})
        buf = io.BytesIO()
        np.savez_compressed(buf, allow_pickle=False, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Segmentation:
        """Load a blob written by :meth:`to_bytes`."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(arrays.pop("__header__").tobytes())
        if header.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported segmentation format {header.get('format')!r}")
        prep = {k[5:]: v for k, v in arrays.items() if k.startswith("prep.")}
        model = {k[6:]: v for k, v in arrays.items() if k.startswith("model.")}
        return cls(
            config=SegmentationConfig.model_validate(header["config"]),
            features=tuple(header["features"]),
            preparation=Preparation.from_arrays(prep),
            assigner=assigner_from_arrays(header["method"], model),
            segments=tuple(SegmentInfo.from_dict(s) for s in header["segments"]),
            candidates=tuple(Candidate.from_dict(c) for c in header["candidates"]),
            n_users=int(header["n_users"]),
        )
