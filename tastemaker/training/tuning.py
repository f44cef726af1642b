"""Hyper-parameter search: a plain grid, chosen on a validation split of the training part only.

``ModelSpec.search`` lists values per parameter; every combination (merged over
``ModelSpec.params``) is fitted on the validation split carved out of the holdout's training part
(:meth:`Holdout.validation`) and scored on its validation part. The best combination by one
accuracy metric is then refitted on the whole training part and scored on the test part once.
No choice is ever made by looking at the test part.

>>> from tastemaker.config import ModelSpec
>>> spec = ModelSpec(model="ease", params={"binary": True}, search={"l2": [10.0, 100.0]})
>>> grid(spec)
[{'binary': True, 'l2': 10.0}, {'binary': True, 'l2': 100.0}]
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from tastemaker.config import ModelSpec
from tastemaker.errors import ConfigurationError, FieldProblem, InvalidInput
from tastemaker.evaluation.metrics import ACCURACY_METRICS
from tastemaker.models.catalog import model_class
from tastemaker.models.data import Dataset
from tastemaker.training.holdout import Holdout, ModelScore, score_model

MAX_GRID = 50
"""Combinations a grid may have unless the caller raises the limit."""

DEFAULT_METRIC = "ndcg@10"


class Scorer(Protocol):
    """Fits a spec on a holdout's training part and scores it (:func:`score_model`)."""

    def __call__(
        self,
        name: str,
        spec: ModelSpec,
        holdout: Holdout,
        ks: Sequence[int] = ...,
        data: Dataset | None = ...,
    ) -> ModelScore: ...


@dataclass(frozen=True)
class Step:
    """Progress of one model's evaluation: ``done`` of ``total`` fits, and what runs now."""

    model: str
    done: int
    total: int
    message: str


StepCallback = Callable[[Step], None]


@dataclass(frozen=True)
class Candidate:
    """One grid point: the full parameters and what they scored on the validation part."""

    params: dict[str, Any]
    value: float
    fit_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"params": self.params, "value": self.value, "fit_seconds": self.fit_seconds}


@dataclass(frozen=True)
class TuningResult:
    """A finished grid search.

    Attributes
    ----------
    name
        The configured model name.
    metric
        What chose the winner, e.g. ``"ndcg@10"`` (higher is better).
    searched
        The parameter names that varied, in grid order.
    candidates
        Every grid point with its validation value, in grid order.
    best_index
        Position of the winner in ``candidates``: the highest value, the earliest on ties;
        ``NaN`` values never win unless every value is ``NaN``.
    validation_users
        Users the validation part measured.
    seconds
        Wall time of the whole search.
    """

    name: str
    metric: str
    searched: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    best_index: int
    validation_users: int
    seconds: float

    @property
    def best(self) -> Candidate:
        return self.candidates[self.best_index]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON: the grid (params → validation metric) and the choice."""
        return {
            "metric": self.metric,
            "searched": list(self.searched),
            "candidates": [c.as_dict() for c in self.candidates],
            "best_index": self.best_index,
            "best_params": self.best_params,
            "best_value": self.best.value,
            "validation_users": self.validation_users,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class TunedScore:
    """The test score of the chosen parameters, and the search that chose them.

    ``tuning`` is ``None`` when the spec has nothing to search (a one-point grid).
    """

    score: ModelScore
    tuning: TuningResult | None


def parse_metric(metric: str) -> tuple[str, int]:
    """Split ``"name@k"`` and check it names an accuracy metric.

    >>> parse_metric("recall@20")
    ('recall', 20)

    Raises
    ------
    tastemaker.errors.InvalidInput
        Not of the form ``name@k`` with a known name and a positive ``k``.
    """
    name, _, k = metric.partition("@")
    if name in ACCURACY_METRICS and k.isdigit() and int(k) > 0:
        return name, int(k)
    raise InvalidInput(
        f"cannot tune by {metric!r}",
        [
            FieldProblem(
                field="metric",
                reason=f"give name@k with a name from {', '.join(ACCURACY_METRICS)} and k ≥ 1, "
                "e.g. ndcg@10",
            )
        ],
    )


def grid(spec: ModelSpec, max_candidates: int = MAX_GRID, name: str = "") -> list[dict[str, Any]]:
    """Every combination of ``spec.search``, each merged over ``spec.params``.

    The first searched parameter varies slowest. A spec without ``search`` gives one point,
    ``spec.params``.

    Parameters
    ----------
    spec
        The configured model.
    max_candidates
        The most combinations allowed.
    name
        The model's configured name, for error messages.

    Raises
    ------
    tastemaker.errors.ConfigurationError
        A searched parameter lists no value, or the grid is larger than ``max_candidates``.
    """
    label = name or spec.model
    empty = [key for key, values in spec.search.items() if not values]
    if empty:
        raise ConfigurationError(
            f"training.models.{label}.search lists no value for {', '.join(empty)}: give at "
            "least one value or remove the parameter from the search"
        )
    sizes = [len(values) for values in spec.search.values()]
    total = math.prod(sizes)
    if total > max_candidates:
        shape = " × ".join(f"{len(v)} {k}" for k, v in spec.search.items())
        raise ConfigurationError(
            f"the search grid of {label!r} has {total} combinations ({shape}), more than the "
            f"limit of {max_candidates}: shorten the lists in training.models.{label}.search or "
            "raise the limit"
        )
    keys = list(spec.search)
    return [
        {**spec.params, **dict(zip(keys, values, strict=True))}
        for values in itertools.product(*spec.search.values())
    ]


def check_params(name: str, spec: ModelSpec, candidates: Sequence[dict[str, Any]]) -> None:
    """Raise :class:`ConfigurationError` unless the model accepts every candidate.

    Run before any fitting, so a typo in the last grid point does not waste the others' work.
    """
    cls = model_class(spec.model)
    for params in candidates:
        try:
            cls.Config(**params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigurationError(
                f"training.models.{name} ({spec.model}) rejects {params}: {problems}"
            ) from exc


def search(
    name: str,
    spec: ModelSpec,
    validation: Holdout,
    *,
    metric: str = DEFAULT_METRIC,
    max_candidates: int = MAX_GRID,
    data: Dataset | None = None,
    progress: StepCallback | None = None,
    total_steps: int | None = None,
    scorer: Scorer = score_model,
) -> TuningResult:
    """Fit every grid point on ``validation.train`` and score it on ``validation.test``.

    Parameters
    ----------
    name, spec
        The configured model.
    validation
        A holdout carved from a training part (:meth:`Holdout.validation`), never the test one.
    metric
        ``"name@k"`` of an accuracy metric; higher wins.
    max_candidates
        The grid size limit (see :func:`grid`).
    data
        ``validation.dataset()`` if already built.
    progress
        Told before every fit.
    total_steps
        The ``total`` reported to ``progress`` (default: the grid size).
    scorer
        Fits and scores one candidate (default :func:`score_model`).
    """
    _, k = parse_metric(metric)
    candidates = grid(spec, max_candidates, name)
    check_params(name, spec, candidates)
    data = data if data is not None else validation.dataset()
    total = total_steps if total_steps is not None else len(candidates)
    started = time.perf_counter()
    results: list[Candidate] = []
    users = 0
    for i, params in enumerate(candidates):
        if progress is not None:
            progress(Step(name, i, total, f"validating {_describe(params, spec.search)}"))
        candidate = ModelSpec(model=spec.model, params=params)
        score = scorer(name, candidate, validation, (k,), data)
        users = score.report.n_evaluated
        results.append(Candidate(params, score.metric(metric), score.fit_seconds))
    return TuningResult(
        name=name,
        metric=metric,
        searched=tuple(spec.search),
        candidates=tuple(results),
        best_index=_best(results),
        validation_users=users,
        seconds=time.perf_counter() - started,
    )


def tune(
    name: str,
    spec: ModelSpec,
    holdout: Holdout,
    ks: Sequence[int] = (5, 10, 20),
    *,
    metric: str = DEFAULT_METRIC,
    max_candidates: int = MAX_GRID,
    data: Dataset | None = None,
    validation: Holdout | None = None,
    validation_data: Dataset | None = None,
    progress: StepCallback | None = None,
    scorer: Scorer = score_model,
) -> TunedScore:
    """Search the grid on a validation split, then refit the winner and score it on test once.

    Parameters
    ----------
    name, spec
        The configured model; ``spec.search`` is the grid.
    holdout
        The train/test split. Only its training part is used to choose.
    ks
        Cut-offs of the final test score.
    metric, max_candidates
        As for :func:`search`.
    data
        ``holdout.dataset()`` if already built.
    validation, validation_data
        ``holdout.validation()`` and its dataset if already built (shared between models).
    progress
        Told before every fit.
    scorer
        Fits and scores (default :func:`score_model`).

    Returns
    -------
    TunedScore

    Raises
    ------
    tastemaker.errors.ConfigurationError
        The grid is too large or holds parameters the model rejects.
    tastemaker.errors.InvalidInput
        ``metric`` is not an accuracy metric at a cut-off, or the validation part is empty.
    """
    parse_metric(metric)
    candidates = grid(spec, max_candidates, name)
    check_params(name, spec, candidates)
    total = len(candidates) + 1 if len(candidates) > 1 else 1
    tuning: TuningResult | None = None
    params = dict(spec.params)
    if len(candidates) > 1:
        validation = validation if validation is not None else holdout.validation()
        tuning = search(
            name,
            spec,
            validation,
            metric=metric,
            max_candidates=max_candidates,
            data=validation_data,
            progress=progress,
            total_steps=total,
            scorer=scorer,
        )
        params = tuning.best_params
    if progress is not None:
        progress(Step(name, total - 1, total, "fitting on the training part, scoring on test"))
    score = scorer(name, ModelSpec(model=spec.model, params=params), holdout, ks, data)
    if progress is not None:
        progress(Step(name, total, total, "done"))
    return TunedScore(score=score, tuning=tuning)


def _best(results: Sequence[Candidate]) -> int:
    best, best_value = 0, -math.inf
    for i, c in enumerate(results):
        if not math.isnan(c.value) and c.value > best_value:
            best, best_value = i, c.value
    return best


def _describe(params: dict[str, Any], searched: dict[str, list[Any]]) -> str:
    return ", ".join(f"{k}={params[k]}" for k in searched) or "defaults"
