"""Recommenders: one per module behind one base class."""

from tastemaker.models.base import ItemFilter, ModelConfig, Recommender
from tastemaker.models.data import Dataset

__all__ = ["Dataset", "ItemFilter", "ModelConfig", "Recommender"]
