"""What an experiment is: arms over placement configurations, traffic, holdout, layer and plan.

An experiment applies to one placement. Each arm serves a placement configuration (an existing
placement, possibly the experiment's own) to its share of the experiment's users; one arm is the
control. A ``holdout`` share of the users sees the control's configuration but is kept out of
the comparison (reported as its own group: a clean baseline that stays untouched while variants
are tried). The experiment takes ``traffic`` of its ``layer``'s users; experiments of one layer
never share a user (see :mod:`tastemaker.experiments.assignment`).

The fixed horizon is ``planned_users`` per arm: given, or computed when the experiment is
created from ``baseline`` and ``mde`` (and ``sd`` for a mean metric) by the sample-size
calculator, at ``alpha`` divided among the variants (Bonferroni) and ``power``.

>>> spec = ExperimentSpec(id="home-boost", placement="homepage", holdout=0.1,
...     arms=[Arm(name="control", placement="homepage"),
...           Arm(name="boosted", placement="homepage-boosted")])
>>> spec.planned_shares()
{'control': 0.45, 'boosted': 0.45, 'holdout': 0.1}
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tastemaker.errors import FieldProblem, InvalidInput
from tastemaker.experiments.metrics import Metric, parse_metric
from tastemaker.storage.base import StoredExperiment

__all__ = ["HOLDOUT", "Arm", "Experiment", "ExperimentSpec", "check_references"]

HOLDOUT = "holdout"
"""The arm name exposures of holdout users are logged with (no arm may take it)."""

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
Status = Literal["draft", "running", "stopped"]


class Arm(BaseModel):
    """One arm: a name, the placement configuration it serves, its share of the users."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    placement: Name = Field(description="An existing placement configuration to serve")
    share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Share of the experiment's (non-holdout) users; default: an equal split",
    )


class ExperimentSpec(BaseModel):
    """An experiment as a client defines it."""

    model_config = ConfigDict(extra="forbid")

    id: Name
    placement: Name = Field(description="The placement whose requests the experiment answers")
    arms: list[Arm] = Field(min_length=2, max_length=10)
    control: Name | None = Field(default=None, description="The control arm; default: the first")
    description: str = Field(default="", max_length=2000)
    layer: Name | None = Field(
        default=None,
        description="Experiments of one layer never share a user; default: the placement",
    )
    traffic: float = Field(default=1.0, gt=0, le=1, description="Share of the layer's users")
    holdout: float = Field(
        default=0.0, ge=0, le=0.5, description="Share of the experiment's users held out"
    )
    salt: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Salt of the assignment hash; default: random (stored)",
    )
    primary_metric: str = Field(
        default="ctr", description="ctr, conversion, dwell, an event type, rate:<t> or mean:<t>"
    )
    metrics: list[str] = Field(default_factory=list, max_length=20, description="Also reported")
    alpha: float = Field(default=0.05, gt=0, le=0.2)
    power: float = Field(default=0.8, ge=0.5, le=0.99)
    planned_users: int | None = Field(
        default=None, ge=2, le=1_000_000_000, description="Users per arm: the fixed horizon"
    )
    baseline: float | None = Field(
        default=None, gt=0, le=1e9, description="The control's expected primary metric"
    )
    mde: float | None = Field(
        default=None, gt=0, le=10, description="Minimum detectable effect, relative (0.1: +10 %)"
    )
    sd: float | None = Field(
        default=None, gt=0, le=1e9, description="Per-user standard deviation (mean metrics)"
    )

    @property
    def comparison_alpha(self) -> float:
        """``alpha`` divided among the variants (Bonferroni): each variant's test level."""
        return self.alpha / max(len(self.arms) - 1, 1)

    def shares(self) -> dict[str, float]:
        """Each arm's share of the non-holdout users."""
        if self.arms[0].share is None:
            return {a.name: 1.0 / len(self.arms) for a in self.arms}
        return {a.name: float(a.share or 0.0) for a in self.arms}

    def planned_shares(self) -> dict[str, float]:
        """Each group's planned share of the experiment's users (the holdout too, if any)."""
        out = {n: s * (1 - self.holdout) for n, s in self.shares().items()}
        if self.holdout > 0:
            out[HOLDOUT] = self.holdout
        return out

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        if HOLDOUT in names:
            raise ValueError(f"{HOLDOUT!r} is reserved for the holdout group; rename the arm")
        if self.control is not None and self.control not in names:
            raise ValueError(f"control {self.control!r} is not an arm ({', '.join(names)})")
        given = [a.share for a in self.arms if a.share is not None]
        if given and len(given) != len(self.arms):
            raise ValueError("give every arm a share, or none (an equal split)")
        if given and not math.isclose(sum(given), 1.0, abs_tol=1e-6):
            raise ValueError(f"the arms' shares must add up to 1, not {sum(given):g}")
        for name in [self.primary_metric, *self.metrics]:
            parse_metric(name)
        return self


class Experiment(ExperimentSpec):
    """A stored experiment: its definition with the defaults resolved, and its life cycle."""

    control: Name
    layer: Name
    salt: str
    planned_users: int = Field(ge=2, description="Users per arm: the fixed horizon")
    status: Status = "draft"
    created_at: datetime
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    slice: tuple[float, float] | None = Field(
        default=None, description="The part of the layer's hash range it holds, once started"
    )

    @property
    def variants(self) -> list[Arm]:
        return [a for a in self.arms if a.name != self.control]

    @property
    def control_arm(self) -> Arm:
        return next(a for a in self.arms if a.name == self.control)

    def metric_list(self) -> list[Metric]:
        """The primary metric, then the others (each once)."""
        names = dict.fromkeys([self.primary_metric, *self.metrics])
        return [parse_metric(n) for n in names]

    def to_stored(self) -> StoredExperiment:
        return StoredExperiment(
            experiment_id=self.id,
            placement=self.placement,
            layer=self.layer,
            traffic=self.traffic,
            definition=self.model_dump(
                mode="json",
                exclude={"status", "created_at", "started_at", "stopped_at", "slice"},
            ),
            created_at=self.created_at,
            status=self.status,
            started_at=self.started_at,
            stopped_at=self.stopped_at,
            slice=self.slice,
        )

    @classmethod
    def from_stored(cls, stored: StoredExperiment) -> Experiment:
        data: dict[str, Any] = {
            **stored.definition,
            "status": stored.status,
            "created_at": stored.created_at,
            "started_at": stored.started_at,
            "stopped_at": stored.stopped_at,
            "slice": stored.slice,
        }
        return cls.model_validate(data)


def check_references(
    experiment: ExperimentSpec, placements: Collection[str], event_types: Collection[str]
) -> None:
    """Raise ``InvalidInput`` if the experiment names a placement or event type that does not
    exist, each problem naming its field."""
    known = ", ".join(sorted(placements)) or "none"
    problems = []
    if experiment.placement not in placements:
        problems.append(
            FieldProblem("placement", f"no placement {experiment.placement!r} ({known})")
        )
    for i, arm in enumerate(experiment.arms):
        if arm.placement not in placements:
            problems.append(
                FieldProblem(f"arms.{i}.placement", f"no placement {arm.placement!r} ({known})")
            )
    names = [("primary_metric", experiment.primary_metric)]
    names += [(f"metrics.{i}", m) for i, m in enumerate(experiment.metrics)]
    for field, name in names:
        types = parse_metric(name).types
        if not any(t in event_types for t in types):  # conversion: purchase or add_to_cart
            known_types = ", ".join(sorted(event_types))
            problems.append(
                FieldProblem(field, f"unknown event type {types[0]!r} (known: {known_types})")
            )
    if problems:
        raise InvalidInput("the experiment names what does not exist", problems)
