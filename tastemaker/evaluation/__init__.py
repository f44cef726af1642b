"""Offline evaluation: splits of interaction frames and top-K metrics.

A typical run, from a frame of interactions to a table of metrics:

>>> import numpy as np
>>> import pandas as pd
>>> from tastemaker.evaluation import (
...     chronological_split, evaluate, recommendation_array, relevance_matrix)
>>> frame = pd.DataFrame({
...     "user_id": ["a"] * 5 + ["b"] * 5,
...     "item_id": ["x", "y", "z", "w", "x", "y", "x", "z", "w", "y"],
...     "timestamp": range(10),
... })
>>> train, test = chronological_split(frame)
>>> users, items = ["a", "b"], ["w", "x", "y", "z"]
>>> reco = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": ["x", "y", "w", "y"],
...                      "rank": [1, 2, 1, 2]})
>>> recs = recommendation_array(reco, users, items, k=2)
>>> report = evaluate(recs, relevance_matrix(test, users, items), ks=[1, 2])
>>> report["hit_rate@2"], report["ndcg@1"]
(1.0, 0.5)
"""

from tastemaker.evaluation.beyond_accuracy import (
    DiversityMeasure,
    catalog_coverage,
    intra_list_diversity,
    novelty,
)
from tastemaker.evaluation.matrices import (
    item_popularity,
    recommendation_array,
    relevance_matrix,
    user_activity,
)
from tastemaker.evaluation.metrics import (
    ACCURACY_METRICS,
    accuracy_at_k,
    average_precision_at_k,
    hit_matrix,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank_at_k,
    user_mean,
)
from tastemaker.evaluation.report import (
    ACTIVITY_LABELS,
    ACTIVITY_THRESHOLDS,
    MetricReport,
    activity_buckets,
    evaluate,
    evaluate_groups,
    reports_frame,
)
from tastemaker.evaluation.splits import (
    carve_validation,
    chronological_split,
    random_split,
    time_split,
)

__all__ = [
    "ACCURACY_METRICS",
    "ACTIVITY_LABELS",
    "ACTIVITY_THRESHOLDS",
    "DiversityMeasure",
    "MetricReport",
    "accuracy_at_k",
    "activity_buckets",
    "average_precision_at_k",
    "carve_validation",
    "catalog_coverage",
    "chronological_split",
    "evaluate",
    "evaluate_groups",
    "hit_matrix",
    "hit_rate_at_k",
    "intra_list_diversity",
    "item_popularity",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "random_split",
    "recall_at_k",
    "reciprocal_rank_at_k",
    "recommendation_array",
    "relevance_matrix",
    "reports_frame",
    "time_split",
    "user_activity",
    "user_mean",
]
