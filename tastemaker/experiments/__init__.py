"""Experiments: A/B tests over placement configurations; bandits (``bandits``) and off-policy
evaluation (``ope``) beside them.

- :mod:`~tastemaker.experiments.definition`: what an experiment is (arms, traffic, holdout,
  layer, metrics, fixed horizon);
- :mod:`~tastemaker.experiments.assignment`: the deterministic, salted-hash assignment;
- :mod:`~tastemaker.experiments.metrics` and :mod:`~tastemaker.experiments.kpis`: per-user KPIs
  from exposures and attributed events;
- :mod:`~tastemaker.experiments.stats`: tests, intervals, sample ratio mismatch, sample sizes;
- :mod:`~tastemaker.experiments.report` and :mod:`~tastemaker.experiments.plot`: the report;
- :mod:`~tastemaker.experiments.manage`: create, start, stop (what the API and CLI call).
"""

from tastemaker.experiments.assignment import Assigner, Assignment, RunningExperiments, unit_hash
from tastemaker.experiments.definition import HOLDOUT, Arm, Experiment, ExperimentSpec
from tastemaker.experiments.metrics import Metric, parse_metric
from tastemaker.experiments.planning import Plan, plan, resolve
from tastemaker.experiments.report import ExperimentReport, build_report, experiment_report

__all__ = [
    "HOLDOUT",
    "Arm",
    "Assigner",
    "Assignment",
    "Experiment",
    "ExperimentReport",
    "ExperimentSpec",
    "Metric",
    "Plan",
    "RunningExperiments",
    "build_report",
    "experiment_report",
    "parse_metric",
    "plan",
    "resolve",
    "unit_hash",
]
