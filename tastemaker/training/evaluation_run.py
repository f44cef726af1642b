"""An offline evaluation of several configured models on one holdout: `tastemaker evaluate`.

Every model is fitted on the same training part and scored on the same test part; with tuning,
each model's grid is searched on the same validation split carved from the training part. The
result is plain data (:meth:`EvaluationRun.as_dict`) that the JSON and HTML reports are made of.
Given segment labels, every model's score is also broken down per segment of the test users and
per-segment models train on them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from tastemaker import __version__
from tastemaker.catalog.columns import Columns
from tastemaker.config import FeedbackClass, ModelSpec
from tastemaker.errors import ConfigurationError, FieldProblem, InvalidInput, TastemakerError
from tastemaker.models.data import FEEDBACK, Dataset
from tastemaker.training.holdout import PROTOCOLS, Holdout, Protocol
from tastemaker.training.tuning import (
    DEFAULT_METRIC,
    MAX_GRID,
    Step,
    StepCallback,
    TunedScore,
    check_params,
    grid,
    parse_metric,
    tune,
)

DEFAULT_KS = (5, 10, 20)


@dataclass(frozen=True)
class DataSummary:
    """How much data the run saw and how it was split.

    ``interactions`` counts classified events (positive and negative); ``train_rows`` and
    ``test_rows`` the parts of the split (test: positive rows only, after dropping rows a model
    cannot hit); the ``validation_*`` fields are set when tuning carved a validation split.
    """

    users: int
    items: int
    interactions: int
    positives: int
    negatives: int
    train_rows: int
    test_rows: int
    test_users: int
    validation_fit_rows: int | None = None
    validation_rows: int | None = None
    validation_users: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ModelEvaluation:
    """One model's outcome: its test score and tuning, or why it could not be evaluated."""

    name: str
    model: str
    result: TunedScore | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.result is None:
            return {"name": self.name, "model": self.model, "error": self.error}
        tuning = self.result.tuning
        return {
            **self.result.score.as_dict(),
            "tuning": tuning.as_dict() if tuning is not None else None,
            "error": None,
        }


@dataclass(frozen=True)
class EvaluationRun:
    """Every model's score on one holdout, with how the holdout was made."""

    protocol: Protocol
    seed: int
    ks: tuple[int, ...]
    tuned: bool
    metric: str
    test_fraction: float
    min_interactions: int
    data: DataSummary
    models: tuple[ModelEvaluation, ...]
    created_at: datetime | None = None
    segment_source: str | None = None
    """Where the segment labels came from, when there were any (e.g. ``"segments v3"``)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values: no ``NaN`` (it becomes ``null``), no numpy scalars."""
        plain = {
            "tastemaker_version": __version__,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "protocol": self.protocol,
            "seed": self.seed,
            "ks": list(self.ks),
            "tuned": self.tuned,
            "tuning_metric": self.metric,
            "test_fraction": self.test_fraction,
            "min_interactions": self.min_interactions,
            "data": self.data.as_dict(),
            **({"segment_source": self.segment_source} if self.segment_source else {}),
            "models": [m.as_dict() for m in self.models],
        }
        cleaned: dict[str, Any] = to_plain(plain)
        return cleaned

    def to_json(self) -> str:
        """:meth:`as_dict` as strict JSON (``allow_nan=False``), indented."""
        return json.dumps(self.as_dict(), indent=2, allow_nan=False, ensure_ascii=False)


def to_plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python values and non-finite floats as None.

    >>> to_plain({"a": [np.float32(0.5), float("nan")], "b": np.int64(3)})
    {'a': [0.5, None], 'b': 3}
    """
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_evaluation(
    feedback: pd.DataFrame,
    items: pd.DataFrame | None,
    models: Mapping[str, ModelSpec],
    names: Sequence[str] | None = None,
    *,
    protocol: Protocol = "chronological",
    ks: Sequence[int] = DEFAULT_KS,
    tune_models: bool = False,
    metric: str = DEFAULT_METRIC,
    seed: int = 0,
    test_fraction: float = 0.2,
    min_interactions: int = 5,
    max_grid: int = MAX_GRID,
    progress: StepCallback | None = None,
    now: datetime | None = None,
    segments: Mapping[str, str] | None = None,
    segment_source: str | None = None,
) -> EvaluationRun:
    """Evaluate the named models (all of ``models`` by default) on one holdout.

    Parameters
    ----------
    feedback
        Classified events (``classify_events``).
    items
        The item frame indexed by item id, or ``None``.
    models
        Configured models by name (``settings.training.models``).
    names
        Which of them; default all, in configuration order.
    protocol, seed, test_fraction, min_interactions
        How the holdout is made (see :meth:`Holdout.split`).
    ks
        Cut-offs of every metric.
    tune_models
        Search each model's ``search`` grid on a validation split of the training part first
        (:func:`tastemaker.training.tuning.tune`); otherwise score ``params`` as configured.
    metric, max_grid
        What tuning maximizes, and the largest grid allowed.
    progress
        Told before every fit, per model.
    now
        Recorded as the run's time.
    segments
        User id (as in ``feedback``) → segment label: models train with the labels (see
        :meth:`Dataset.with_segments`) and each score gets a ``by_segment`` breakdown. ``None``
        (the default) or an empty mapping: no segmentation, no breakdown.
    segment_source
        Where ``segments`` came from, for the report (default ``"given"`` when there are any).

    Returns
    -------
    EvaluationRun
        A model whose fitting raised a :class:`TastemakerError` (e.g. EASE over its item
        limit) is reported with its ``error`` rather than ending the run.

    Raises
    ------
    tastemaker.errors.InvalidInput
        An unknown model name, protocol or metric, or a cut-off below 1.
    tastemaker.errors.ConfigurationError
        A model or grid the configuration cannot build, no events, or no user to test.
    """
    chosen = _check(models, names, protocol, ks, metric)
    cutoffs = tuple(sorted(set(ks)))
    searching: dict[str, bool] = {}
    for name in chosen:  # fail before any work if a model, parameter or grid is wrong
        spec = models[name]
        points = grid(spec, max_grid, name) if tune_models else [dict(spec.params)]
        check_params(name, spec, points)
        searching[name] = len(points) > 1
    if feedback.empty:
        raise ConfigurationError(
            "there are no usable events to evaluate on: import events or run `tastemaker demo-data`"
        )
    holdout = Holdout.split(
        feedback,
        items,
        protocol=protocol,
        test_fraction=test_fraction,
        min_interactions=min_interactions,
        seed=seed,
        segments=segments or None,
    )
    if holdout.test.empty:
        raise ConfigurationError(
            f"no user has {min_interactions} or more interactions with a positive one to hold "
            "out, so there is nothing to test on: add events or lower "
            "training.min_user_interactions"
        )
    data = holdout.dataset()
    validation: Holdout | None = None
    validation_data: Dataset | None = None
    if any(searching.values()):
        validation = holdout.validation()
        validation_data = validation.dataset()
    results: list[ModelEvaluation] = []
    for name in chosen:
        spec = models[name]
        try:
            outcome = tune(
                name,
                spec if tune_models else ModelSpec(model=spec.model, params=spec.params),
                holdout,
                cutoffs,
                metric=metric,
                max_candidates=max_grid,
                data=data,
                validation=validation,
                validation_data=validation_data,
                progress=progress,
            )
        except TastemakerError as exc:
            if progress is not None:
                progress(Step(name, 1, 1, "failed"))
            results.append(ModelEvaluation(name, spec.model, None, exc.message))
            continue
        results.append(ModelEvaluation(name, spec.model, outcome))
    return EvaluationRun(
        protocol=protocol,
        seed=seed,
        ks=cutoffs,
        tuned=tune_models,
        metric=metric,
        test_fraction=test_fraction,
        min_interactions=min_interactions,
        data=_summary(feedback, holdout, data, validation),
        models=tuple(results),
        created_at=now,
        segment_source=(segment_source or "given") if segments else None,
    )


def _check(
    models: Mapping[str, ModelSpec],
    names: Sequence[str] | None,
    protocol: str,
    ks: Sequence[int],
    metric: str,
) -> list[str]:
    chosen = list(dict.fromkeys(names)) if names else list(models)
    problems = [
        FieldProblem(field="model", reason=f"{n!r} is not in training.models ({', '.join(models)})")
        for n in chosen
        if n not in models
    ]
    if not chosen:
        problems.append(FieldProblem(field="model", reason="training.models is empty"))
    if protocol not in PROTOCOLS:
        problems.append(FieldProblem(field="protocol", reason=f"use one of {', '.join(PROTOCOLS)}"))
    if not ks or any(int(k) < 1 for k in ks):
        problems.append(FieldProblem(field="k", reason="give one or more cut-offs, each ≥ 1"))
    if problems:
        raise InvalidInput("cannot run this evaluation", problems)
    parse_metric(metric)
    return chosen


def _summary(
    feedback: pd.DataFrame, holdout: Holdout, data: Dataset, validation: Holdout | None
) -> DataSummary:
    positive = int((feedback[FEEDBACK] == FeedbackClass.POSITIVE.value).sum())
    return DataSummary(
        users=int(feedback[Columns.USER].nunique()),
        items=data.n_items,
        interactions=len(feedback),
        positives=positive,
        negatives=int((feedback[FEEDBACK] == FeedbackClass.NEGATIVE.value).sum()),
        train_rows=len(holdout.train),
        test_rows=len(holdout.test),
        test_users=int(holdout.test[Columns.USER].nunique()),
        validation_fit_rows=len(validation.train) if validation is not None else None,
        validation_rows=len(validation.test) if validation is not None else None,
        validation_users=(
            int(validation.test[Columns.USER].nunique()) if validation is not None else None
        ),
    )
