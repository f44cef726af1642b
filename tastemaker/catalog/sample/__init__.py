"""The built-in sample data set: a news and magazine site with a small shop.

Deterministic for a given :class:`SampleConfig`, so demos, tests and benchmarks can rely on it;
``tastemaker demo-data`` loads it or writes it as JSON Lines. Users are drawn from planted
segments (:attr:`SampleData.segments`), so segmentation and recommenders can be checked against
a known answer.
"""

from tastemaker.catalog.sample.export import write_jsonl
from tastemaker.catalog.sample.generator import (
    DEFAULT_END,
    EVENT_ID_PREFIX,
    SampleConfig,
    SampleData,
    generate_sample,
)
from tastemaker.catalog.sample.segments import SEGMENTS, Segment
from tastemaker.catalog.sample.taxonomy import CATEGORIES, Category

__all__ = [
    "CATEGORIES",
    "DEFAULT_END",
    "EVENT_ID_PREFIX",
    "SEGMENTS",
    "Category",
    "SampleConfig",
    "SampleData",
    "Segment",
    "generate_sample",
    "write_jsonl",
]
