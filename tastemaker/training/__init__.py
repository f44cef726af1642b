"""Training and offline evaluation of the configured models."""

from tastemaker.training.holdout import Holdout, ModelScore, score_model
from tastemaker.training.trainer import TrainOutcome, train

__all__ = ["Holdout", "ModelScore", "TrainOutcome", "score_model", "train"]
