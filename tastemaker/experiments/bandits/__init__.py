"""Bandit policies: epsilon-greedy, UCB1, Thompson sampling, LinUCB, and a per-segment chooser.

Every policy derives from :class:`BanditPolicy`: ``select(context, n, rng=…)`` returns the
chosen arms with their propensities, ``update`` learns online, ``rebuild`` replays logged
rewards into the same state, ``to_dict``/``from_dict`` round-trip it without pickle.
"""

from tastemaker.experiments.bandits.base import BanditPolicy, LoggedReward, Selection, top_n
from tastemaker.experiments.bandits.context_free import (
    UCB1,
    CountingPolicy,
    EpsilonGreedy,
    ThompsonSampling,
)
from tastemaker.experiments.bandits.linucb import LinUCB, joint_features
from tastemaker.experiments.bandits.segments import SegmentArmChooser

__all__ = [
    "UCB1",
    "BanditPolicy",
    "CountingPolicy",
    "EpsilonGreedy",
    "LinUCB",
    "LoggedReward",
    "SegmentArmChooser",
    "Selection",
    "ThompsonSampling",
    "joint_features",
    "top_n",
]
