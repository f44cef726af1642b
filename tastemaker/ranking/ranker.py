"""The learned ranker: LightGBM LambdaRank over per-candidate features.

It re-ranks the merged candidates of several sources (:mod:`tastemaker.ranking.candidates`) by
the features of :mod:`tastemaker.ranking.features`. Training data comes from history
(:meth:`LearnedRanker.fit`: a time split, see :func:`~tastemaker.ranking.examples.history_examples`)
or from logged exposures and their outcomes (:meth:`LearnedRanker.fit_exposures`).

The model is LightGBM's ``lambdarank`` objective (what ``LGBMRanker`` wraps) trained through
``lightgbm.train``: that API also takes the shown positions of exposures, so the position bias is
learned apart from the features (unbiased LambdaMART), and serving calls the bare booster. The
artifact is the booster's own text format plus a JSON header; nothing is pickled, and a loaded
ranker scores exactly as the one saved.

>>> import pandas as pd
>>> from tastemaker.models.popularity import Popularity
>>> from tastemaker.models.item_knn import ItemKNN
>>> from tastemaker.ranking.candidates import CandidateSources, rank_by
>>> rows = [(f"u{u}", f"i{(u * 7 + j * 3) % 40}", j) for u in range(60) for j in range(10)]
>>> events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
>>> sources = CandidateSources({"pop": Popularity(), "knn": ItemKNN()}, k=20)
>>> ranker = LearnedRanker(n_estimators=20, min_child_samples=5).fit(events, sources)
>>> table = sources.candidates(["u1"])           # the sources are refitted on everything
>>> feats = ranker.feature_builder(sources.data).build(table, now=100)
>>> top = ranker.rank(table, feats, k=3)
>>> top["rank"].tolist()
[1, 2, 3]
>>> again = LearnedRanker.from_bytes(ranker.to_bytes())
>>> bool((again.score(feats) == ranker.score(feats)).all())
True
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, Literal, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tastemaker.errors import ConfigurationError, NotFittedError
from tastemaker.models.base import build_config
from tastemaker.models.data import Dataset
from tastemaker.ranking.candidates import CandidateSources, rank_by
from tastemaker.ranking.examples import (
    Examples,
    dataset_of,
    exposure_examples,
    history_examples,
)
from tastemaker.ranking.features import CATEGORICAL, CandidateFeatures, FeatureConfig

FORMAT_VERSION: Final = 1
BIAS: Final = "bias"
"""Column of :meth:`LearnedRanker.contributions` holding the model's expected value."""


class RankerConfig(BaseModel):
    """Hyper-parameters of :class:`LearnedRanker`: typed, frozen, unknown keys rejected.

    Boosting: ``n_estimators`` trees of at most ``num_leaves`` leaves, each leaf with at least
    ``min_child_samples`` rows, shrunk by ``learning_rate``; ``feature_fraction`` of the
    features per tree, ``l2`` regularization of leaf values; ``truncation`` is how deep in a
    list LambdaRank compares pairs. Labels: a candidate's grade is 1 plus the number of
    ``grade_thresholds`` its summed positive weight reaches (0: no interaction), and grade ``g``
    is worth ``label_gain[g]``. Historical training (:meth:`LearnedRanker.fit`): each source
    proposes ``candidates`` items; the latest ``holdout_fraction`` of the interactions (of each
    user with ``min_interactions`` or more for ``split="per_user"``, of all for ``"global"``)
    labels the queries, at most ``max_users`` of them. ``position_bias`` learns the bias of
    shown positions from exposures. ``threads`` 0 lets LightGBM choose.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_estimators: int = Field(default=100, ge=1, le=20_000)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2, le=4096)
    min_child_samples: int = Field(default=50, ge=1)
    feature_fraction: float = Field(default=0.9, gt=0, le=1)
    l2: float = Field(default=1.0, ge=0)
    truncation: int = Field(default=30, ge=1)
    grade_thresholds: tuple[float, ...] = ()
    label_gain: tuple[float, ...] = (0.0, 1.0, 3.0, 7.0, 15.0)
    candidates: int = Field(default=100, ge=1, le=10_000)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    split: Literal["per_user", "global"] = "per_user"
    min_interactions: int = Field(default=5, ge=2)
    max_users: int | None = Field(default=None, ge=1)
    position_bias: bool = True
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    seed: int = Field(default=0, ge=0)
    threads: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _grades_have_gains(self) -> Self:
        if list(self.grade_thresholds) != sorted(self.grade_thresholds):
            raise ValueError("grade_thresholds must be ascending")
        if len(self.label_gain) < len(self.grade_thresholds) + 2:
            raise ValueError(
                f"label_gain needs a gain for grades 0 … {len(self.grade_thresholds) + 1}"
            )
        return self


class LearnedRanker:
    """LambdaRank over candidate features; see the module docstring.

    Parameters
    ----------
    config
        A :class:`RankerConfig`, or its fields as keyword arguments (not both).

    Attributes
    ----------
    feature_names_
        The features the booster was trained on, in column order; :meth:`score` aligns any frame
        to them (a missing column is ``NaN``, an extra one is ignored).
    segments_
        The segment vocabulary of the ``segment`` feature.
    sources_
        The candidate sources it was trained with (empty after :meth:`fit_exposures`).
    """

    def __init__(self, config: RankerConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise TypeError("pass either a config or keyword parameters, not both")
        if config is None:
            config = build_config(RankerConfig, params, "ranker")
        self.config = config
        self.booster_: lgb.Booster | None = None
        self.feature_names_: list[str] = []
        self.segments_: list[str] = []
        self.sources_: list[str] = []

    # --- training ----------------------------------------------------------------------------

    def fit(
        self,
        feedback: pd.DataFrame,
        sources: CandidateSources,
        items: pd.DataFrame | None = None,
        *,
        segments: Mapping[str, str] | None = None,
    ) -> Self:
        """Train from history with a time split, then refit the sources on everything.

        The sources are fitted on the interactions before the cut, propose
        ``config.candidates`` items to every user with positive interactions after it, and the
        booster learns to put those later interactions first
        (:func:`~tastemaker.ranking.examples.history_examples`). Finally every source is refitted
        on the whole of ``feedback``: serving ranks the candidates of models that saw all the
        data, with a booster that learned how such candidates turn out.

        Parameters
        ----------
        feedback
            Classified events (``USER, ITEM, WEIGHT, FEEDBACK, TIMESTAMP``) or weighted
            positives with timestamps.
        sources
            The candidate sources (fitted or not); their ``k`` is set to ``config.candidates``.
        items
            The item frame indexed by item id, or ``None``.
        segments
            User id → segment label for the ``segment`` feature.
        """
        cfg = self.config
        sources.k = dict.fromkeys(sources.names, cfg.candidates)
        examples = history_examples(
            feedback,
            sources,
            items,
            fraction=cfg.holdout_fraction,
            split=cfg.split,
            min_interactions=cfg.min_interactions,
            thresholds=cfg.grade_thresholds,
            features=cfg.features,
            segments=segments,
            max_users=cfg.max_users,
            seed=cfg.seed,
        )
        self.fit_examples(examples, sources=sources.names)
        whole = dataset_of(feedback, items)
        sources.fit(whole.with_segments(segments) if segments else whole)
        return self

    def fit_exposures(
        self, exposures: pd.DataFrame, *, segments: Sequence[str] | None = None
    ) -> Self:
        """Train from logged exposures and their outcomes (replaces any earlier training).

        ``exposures`` has one row per shown item: ``USER, ITEM, RECOMMENDATION_ID, POSITION``,
        the ``FEATURES`` dict logged when it was served and the ``LABEL`` grade of its outcome
        (see :func:`~tastemaker.ranking.examples.exposure_examples`). Each recommendation id is
        one query. With ``position_bias`` the booster also learns how much each position is
        looked at, so an item clicked low in a list counts for more than one clicked on top.
        The features keep the names they were logged with; a ranker trained before keeps its
        feature order, its sources and its segment vocabulary. ``segments`` is the vocabulary
        the logged ``segment`` codes were made with, when it is not this ranker's.
        (:func:`~tastemaker.ranking.examples.exposure_labels` grades shown items from the events
        attributed to them.)
        """
        examples = exposure_examples(exposures, self.feature_names_ or None)
        vocabulary = list(segments) if segments is not None else self.segments_
        examples = replace(
            examples,
            position=examples.position if self.config.position_bias else None,
            segments=vocabulary,
        )
        return self.fit_examples(examples, sources=self.sources_)

    def fit_examples(self, examples: Examples, *, sources: list[str] | None = None) -> Self:
        """Train the booster on prepared queries (what both ``fit`` methods end with)."""
        cfg = self.config
        if examples.queries == 0:
            raise ConfigurationError("no query with a positive label to learn from")
        if int(examples.labels.max()) >= len(cfg.label_gain):
            raise ConfigurationError(
                f"a label of {int(examples.labels.max())} has no gain: lengthen label_gain"
            )
        names = [str(c) for c in examples.features.columns]
        dataset = lgb.Dataset(
            examples.features.to_numpy(dtype=np.float32),
            label=examples.labels,
            group=examples.groups,
            # LightGBM forbids JSON punctuation (``score:ease``) in names: it gets positions.
            feature_name=[f"f{j}" for j in range(len(names))],
            categorical_feature=[j for j, c in enumerate(names) if c in CATEGORICAL],
            position=examples.position,
            free_raw_data=True,
            params={"verbosity": -1},
        )
        self.booster_ = lgb.train(self._params(), dataset, num_boost_round=cfg.n_estimators)
        self.feature_names_ = names
        self.segments_ = list(examples.segments)
        self.sources_ = list(sources or [])
        return self

    def _params(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "objective": "lambdarank",
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_data_in_leaf": cfg.min_child_samples,
            "feature_fraction": cfg.feature_fraction,
            "lambda_l2": cfg.l2,
            "label_gain": list(cfg.label_gain),
            "lambdarank_truncation_level": cfg.truncation,
            "seed": cfg.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": cfg.threads,
            "verbosity": -1,
        }

    # --- serving -----------------------------------------------------------------------------

    @property
    def booster(self) -> lgb.Booster:
        if self.booster_ is None:
            raise NotFittedError("the ranker is not fitted: call fit() or load a version first")
        return self.booster_

    def feature_builder(self, data: Dataset) -> CandidateFeatures:
        """The feature builder over ``data`` configured exactly as in training."""
        return CandidateFeatures(data, self.config.features, self.segments_ or None)

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """``features`` as the booster's input: its columns in training order, ``float32``."""
        if self.booster_ is None:
            raise NotFittedError("the ranker is not fitted: call fit() or load a version first")
        return features.reindex(columns=self.feature_names_).to_numpy(
            dtype=np.float32, na_value=np.nan
        )

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """One score per row of ``features`` (higher is better; only the order is meaningful).

        Rows are scored independently, so a user's scores do not depend on the batch."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float64)
        out = self.booster.predict(self.matrix(features), num_threads=1)
        return np.asarray(out, dtype=np.float64)

    def rank(
        self, candidates: pd.DataFrame, features: pd.DataFrame, k: int | None = None
    ) -> pd.DataFrame:
        """Each user's candidates ordered by score: ``USER, ITEM, SCORE, RANK``.

        ``features`` are the rows of ``candidates`` (same order), as the builder returns them.
        Ties keep the candidate table's order. ``k`` keeps each user's top ``k``.
        """
        return rank_by(candidates, self.score(features), k)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per-row contribution of every feature to the score (SHAP values), plus ``bias``.

        Each row sums to :meth:`score` of that row: what ``explain=true`` shows.
        """
        contrib = self.booster.predict(self.matrix(features), pred_contrib=True, num_threads=1)
        return pd.DataFrame(
            np.asarray(contrib, dtype=np.float64), columns=[*self.feature_names_, BIAS]
        )

    # --- persistence -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The fitted ranker: the booster's text model and a JSON header in one ``.npz``."""
        header = {
            "format": FORMAT_VERSION,
            "model": "learned_ranker",
            "config": self.config.model_dump(mode="json"),
            "feature_names": self.feature_names_,
            "segments": self.segments_,
            "sources": self.sources_,
        }
        arrays = {
            "__header__": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            "booster": np.frombuffer(self.booster.model_to_string().encode(), dtype=np.uint8),
        }
        buf = io.BytesIO()
        np.savez_compressed(buf, allow_pickle=False, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> LearnedRanker:
        """Load a ranker saved by :meth:`to_bytes`."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            header = json.loads(npz["__header__"].tobytes())
            if header.get("format") != FORMAT_VERSION or header.get("model") != "learned_ranker":
                raise ValueError(f"not a learned ranker of format {FORMAT_VERSION}")
            model = npz["booster"].tobytes().decode()
        ranker = cls(RankerConfig.model_validate(header["config"]))
        ranker.booster_ = lgb.Booster(model_str=model)
        ranker.feature_names_ = list(header["feature_names"])
        ranker.segments_ = list(header["segments"])
        ranker.sources_ = list(header["sources"])
        return ranker
