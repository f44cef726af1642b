"""Planning an experiment: the sample size that fixes its horizon, and the draft it becomes.

>>> from datetime import UTC, datetime
>>> from tastemaker.experiments.definition import Arm, ExperimentSpec
>>> spec = ExperimentSpec(id="home-boost", placement="homepage",
...     arms=[Arm(name="control", placement="homepage"),
...           Arm(name="boosted", placement="homepage-boosted")],
...     baseline=0.10, mde=0.10)
>>> exp = resolve(spec, datetime(2026, 3, 1, tzinfo=UTC), salt="s")
>>> exp.control, exp.layer, exp.planned_users
('control', 'homepage', 14751)
>>> plan(spec, baseline=0.10, mde=0.10).experiment_users
29502
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime

from pydantic import BaseModel, Field

from tastemaker.errors import FieldProblem, InvalidInput
from tastemaker.experiments.definition import Experiment, ExperimentSpec
from tastemaker.experiments.metrics import parse_metric
from tastemaker.experiments.stats import sample_size_means, sample_size_proportions

__all__ = ["Plan", "plan", "planned_users", "resolve"]


class Plan(BaseModel):
    """How many users an experiment needs to detect an effect."""

    metric: str
    kind: str = Field(description="rate or mean")
    baseline: float = Field(description="The control's expected value")
    mde: float = Field(description="Minimum detectable effect, relative")
    target: float = Field(description="baseline × (1 + mde)")
    sd: float | None = Field(description="Per-user standard deviation (mean metrics)")
    alpha: float = Field(description="Per comparison: alpha divided among the variants")
    power: float
    users_per_arm: int
    experiment_users: int = Field(description="Users the experiment needs in all (holdout too)")
    layer_users: int = Field(description="Users of the layer that makes: experiment / traffic")


def plan(
    spec: ExperimentSpec,
    baseline: float,
    mde: float,
    sd: float | None = None,
    alpha: float | None = None,
    power: float | None = None,
) -> Plan:
    """Users per arm (and in all) for ``spec``'s primary metric to detect a relative lift of
    ``mde`` over ``baseline``: a rate by ``sample_size_proportions``, a mean (with ``sd``) by
    ``sample_size_means`` (see :mod:`~tastemaker.experiments.stats`), at ``alpha`` (default
    the spec's) divided among the variants and ``power`` (default the spec's).

    Raises ``InvalidInput`` naming ``baseline``, ``mde`` or ``sd`` when they cannot be planned
    with.
    """
    metric = parse_metric(spec.primary_metric)
    alpha = (spec.alpha if alpha is None else alpha) / max(len(spec.arms) - 1, 1)
    power = spec.power if power is None else power
    target = baseline * (1 + mde)
    if metric.kind == "mean" and sd is None:
        raise InvalidInput(
            "a mean metric needs its standard deviation to be planned",
            [FieldProblem("sd", f"give the per-user standard deviation of {metric.name}")],
        )
    try:
        if metric.kind == "rate":
            n = sample_size_proportions(baseline, target, alpha, power)
        else:
            assert sd is not None
            n = sample_size_means(target - baseline, sd, alpha, power)
    except ValueError as exc:
        field = "baseline" if metric.kind == "rate" else "mde"
        raise InvalidInput(
            "the plan cannot be computed",
            [FieldProblem(field, f"{exc}: a rate and its lifted value must stay below 1")],
        ) from None
    smallest = min(s for name, s in spec.planned_shares().items() if name != "holdout")
    total = math.ceil(n / smallest - 1e-9)
    return Plan(
        metric=metric.name,
        kind=metric.kind,
        baseline=baseline,
        mde=mde,
        target=target,
        sd=sd,
        alpha=alpha,
        power=power,
        users_per_arm=n,
        experiment_users=total,
        layer_users=math.ceil(total / spec.traffic - 1e-9),
    )


def planned_users(spec: ExperimentSpec) -> int:
    """The fixed horizon of ``spec``: its ``planned_users``, or computed from its baseline and
    minimum detectable effect. Raises ``InvalidInput`` naming the missing fields."""
    if spec.planned_users is not None:
        return spec.planned_users
    if spec.baseline is None or spec.mde is None:
        missing = [f for f in ("baseline", "mde") if getattr(spec, f) is None]
        raise InvalidInput(
            "the experiment needs a fixed horizon",
            [
                FieldProblem(f, "give planned_users (per arm), or baseline and mde to compute it")
                for f in missing
            ],
        )
    return plan(spec, spec.baseline, spec.mde, spec.sd).users_per_arm


def resolve(spec: ExperimentSpec, now: datetime, salt: str | None = None) -> Experiment:
    """The draft experiment of ``spec``: control, layer, salt and horizon filled in."""
    data = spec.model_dump()
    data.update(
        control=spec.control or spec.arms[0].name,
        layer=spec.layer or spec.placement,
        salt=spec.salt or salt or secrets.token_hex(8),
        planned_users=planned_users(spec),
        created_at=now,
    )
    return Experiment.model_validate(data)
