"""Learned ranking: candidates from several sources, their features, and a LambdaRank model."""

from tastemaker.ranking.candidates import CandidateSources, merge_candidates
from tastemaker.ranking.examples import Examples, exposure_examples, history_examples
from tastemaker.ranking.features import CandidateFeatures, FeatureConfig
from tastemaker.ranking.ranker import LearnedRanker, RankerConfig

__all__ = [
    "CandidateFeatures",
    "CandidateSources",
    "Examples",
    "FeatureConfig",
    "LearnedRanker",
    "RankerConfig",
    "exposure_examples",
    "history_examples",
    "merge_candidates",
]
