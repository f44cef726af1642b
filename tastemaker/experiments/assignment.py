"""Deterministic assignment of users to experiments and arms: a pure function of ids.

A user's position in an experiment is ``unit_hash(salt, experiment id, user id)``: the first
8 bytes of a SHA-256 digest read as a number in ``[0, 1)``. The same user gets the same arm in
every process, after every restart, on every replica, without cookies or stored state. Positions
below the holdout share form the holdout; the rest is split among the arms by their shares.

Experiments of one *layer* exclude each other: a user's layer position
``unit_hash("layer", layer, user id)`` (the same for every experiment of the layer) falls in at
most one running experiment's slice of ``[0, 1)``. Layer and arm positions come from different
hashes, so which experiment a user is in says nothing about the arm.

>>> a = Assigner("exp-1", salt="s", layer="home", slice=(0.0, 1.0),
...              arms=[("control", "homepage", 0.5), ("b", "homepage-b", 0.5)])
>>> a.arm("user-42") == Assigner("exp-1", "s", "home", (0.0, 1.0),
...                              [("control", "homepage", 0.5), ("b", "homepage-b", 0.5)]
...                              ).arm("user-42")
True
>>> round(unit_hash("s", "exp-1", "user-42"), 6)
0.717369
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from tastemaker.experiments.definition import HOLDOUT, Experiment

__all__ = ["Assigner", "Assignment", "RunningExperiments", "unit_hash"]

_SEP = "\x1f"  # unit separator: ("ab", "c") and ("a", "bc") must hash differently
_SCALE = float(2**64)


def unit_hash(*parts: str) -> float:
    """A uniform number in ``[0, 1)`` from SHA-256 of the parts (joined by a separator)."""
    digest = hashlib.sha256(_SEP.join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def layer_position(layer: str, user_id: str) -> float:
    """The user's position in ``layer``: shared by every experiment of the layer."""
    return unit_hash("layer", layer, user_id)


@dataclass(frozen=True)
class Assignment:
    """Where a request goes: the experiment, the arm, the placement configuration to serve."""

    experiment: str
    arm: str
    placement: str


class Assigner:
    """The assignment of one experiment.

    Parameters
    ----------
    experiment_id, salt
        Hashed with the user id into the user's arm position.
    layer, slice
        The user is in the experiment when their layer position lies in ``[slice[0], slice[1])``.
    arms
        ``(name, placement, share)`` per arm, the control first; shares are normalized.
    holdout
        Share of the experiment's users held out: they are served the control's placement and
        logged under the arm :data:`~tastemaker.experiments.definition.HOLDOUT`.
    """

    def __init__(
        self,
        experiment_id: str,
        salt: str,
        layer: str,
        slice: tuple[float, float],
        arms: Sequence[tuple[str, str, float]],
        holdout: float = 0.0,
    ) -> None:
        if not arms:
            raise ValueError("an experiment needs arms")
        self.experiment_id = experiment_id
        self.salt = salt
        self.layer = layer
        self.slice = slice
        self.holdout = holdout
        self._names = [a[0] for a in arms]
        self._placements = {a[0]: a[1] for a in arms}
        total = sum(a[2] for a in arms)
        self._bounds = list(accumulate(a[2] / total for a in arms))

    @classmethod
    def of(cls, experiment: Experiment) -> Assigner:
        """The assigner of a running experiment."""
        if experiment.slice is None:
            raise ValueError(f"experiment {experiment.id!r} has not started")
        shares = experiment.shares()
        arms = [experiment.control_arm, *experiment.variants]
        return cls(
            experiment.id,
            experiment.salt,
            experiment.layer,
            experiment.slice,
            [(a.name, a.placement, shares[a.name]) for a in arms],
            experiment.holdout,
        )

    def includes(self, user_id: str) -> bool:
        """Whether the user is in this experiment (their layer position is in its slice)."""
        lo, hi = self.slice
        return lo <= layer_position(self.layer, user_id) < hi

    def arm(self, user_id: str) -> str:
        """The user's arm (or the holdout), whether or not the user is in the experiment."""
        u = unit_hash(self.salt, self.experiment_id, user_id)
        if u < self.holdout:
            return HOLDOUT
        v = (u - self.holdout) / (1 - self.holdout)
        i = bisect.bisect_right(self._bounds, v)
        return self._names[min(i, len(self._names) - 1)]  # the sum of shares may be 1 − ε

    def assign(self, user_id: str) -> Assignment | None:
        """The user's arm and placement configuration, or ``None`` outside the experiment."""
        if not self.includes(user_id):
            return None
        arm = self.arm(user_id)
        placement = self._placements[self._names[0] if arm == HOLDOUT else arm]
        return Assignment(self.experiment_id, arm, placement)


class RunningExperiments:
    """The running experiments of a process, by the placement they apply to.

    >>> RunningExperiments([]).assign("homepage", "u1") is None
    True
    """

    def __init__(self, experiments: Iterable[Experiment]) -> None:
        self.experiments = sorted(experiments, key=lambda e: e.id)
        self._by_placement: dict[str, list[Assigner]] = {}
        for e in self.experiments:
            if e.status == "running" and e.slice is not None:
                self._by_placement.setdefault(e.placement, []).append(Assigner.of(e))

    def fingerprint(self) -> tuple[tuple[str, str, tuple[float, float] | None], ...]:
        """What identifies this set: reload only when it changed."""
        return tuple((e.id, e.status, e.slice) for e in self.experiments)

    def assign(self, placement: str, user_id: str) -> Assignment | None:
        """The assignment of a request for ``placement`` by ``user_id``, if an experiment runs
        on the placement and includes the user."""
        for assigner in self._by_placement.get(placement, ()):
            found = assigner.assign(user_id)
            if found is not None:
                return found
        return None
