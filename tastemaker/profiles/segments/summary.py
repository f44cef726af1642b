"""What each segment is: size, share, feature means, distinguishing features, name, top items.

Statistics use every numeric column of the feature frame, not only the clustered ones, in their
own units (before imputation and scaling); missing values are left out of each mean. A
segment's z-score for a feature is ``(segment mean − overall mean) / overall standard deviation``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.profiles.segments.assigners import UNSEGMENTED, Labels
from tastemaker.profiles.segments.naming import describe, segment_name, unique_names

UNSEGMENTED_NAME = "Unsegmented"
DISTINGUISHING = 6
"""Distinguishing features kept per segment (by |z|)."""


@dataclass(frozen=True)
class Distinction:
    """How far a segment's mean of one feature lies from everyone's."""

    feature: str
    z: float
    mean: float | None
    overall: float | None


@dataclass(frozen=True)
class TopItem:
    """An item popular in a segment: how many of its users interacted positively with it."""

    item_id: str
    users: int
    share: float
    title: str | None = None


@dataclass(frozen=True)
class SegmentInfo:
    """One segment of a segmentation. ``id`` is its label; ``-1`` is "unsegmented"."""

    id: int
    name: str
    description: str
    size: int
    share: float
    means: dict[str, float | None]
    distinguishing: tuple[Distinction, ...]
    top_items: tuple[TopItem, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "size": self.size,
            "share": self.share,
            "means": self.means,
            "distinguishing": [asdict(d) for d in self.distinguishing],
            "top_items": [asdict(t) for t in self.top_items],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SegmentInfo:
        return cls(
            id=int(d["id"]),
            name=str(d["name"]),
            description=str(d["description"]),
            size=int(d["size"]),
            share=float(d["share"]),
            means=dict(d["means"]),
            distinguishing=tuple(Distinction(**x) for x in d["distinguishing"]),
            top_items=tuple(TopItem(**x) for x in d["top_items"]),
        )


def _num(value: Any) -> float | None:
    v = float(value)
    return None if math.isnan(v) else v


def describe_segments(frame: pd.DataFrame, labels: Labels) -> list[SegmentInfo]:
    """Name, describe and summarize each segment of ``labels`` (aligned with ``frame``'s rows).

    Segments come in label order, ``-1`` (unsegmented) last when present.

    Examples
    --------
    >>> frame = pd.DataFrame({"tag_share:Sports": [0.9, 0.8, 0.1, 0.0],
    ...                       "tag_share:News": [0.1, 0.2, 0.9, 1.0]})
    >>> [s.name for s in describe_segments(frame, np.array([0, 0, 1, 1]))]
    ['Sports Fans', 'News Readers']
    """
    numeric = frame.select_dtypes(include="number").astype(np.float64)
    values = numeric.to_numpy(copy=True)
    values[~np.isfinite(values)] = np.nan
    columns = list(numeric.columns)
    overall = _safe(values)
    with np.errstate(invalid="ignore"):
        std = np.sqrt(_safe((values - overall) ** 2))
    ids = sorted(int(i) for i in np.unique(labels) if i != UNSEGMENTED)
    if (labels == UNSEGMENTED).any():
        ids.append(UNSEGMENTED)
    overall_map = {c: _num(m) for c, m in zip(columns, overall, strict=True)}
    infos: list[tuple[int, int, dict[str, float], dict[str, float | None]]] = []
    for i in ids:
        rows = values[labels == i]
        means = _safe(rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where((std > 0) & np.isfinite(means), (means - overall) / std, 0.0)
        infos.append(
            (
                i,
                len(rows),
                {c: float(v) for c, v in zip(columns, z, strict=True)},
                {c: _num(m) for c, m in zip(columns, means, strict=True)},
            )
        )
    named = [(i, size) for i, size, _, _ in infos if i != UNSEGMENTED]
    names = unique_names(
        [segment_name(z_of) for i, _, z_of, _ in infos if i != UNSEGMENTED],
        [s for _, s in named],
    )
    name_of = dict(zip([i for i, _ in named], names, strict=True))
    total = max(len(labels), 1)
    out = []
    for i, size, z_of, mean_of in infos:
        ranked = sorted(columns, key=lambda c: (-abs(z_of[c]), c))[:DISTINGUISHING]
        distinguishing = tuple(
            Distinction(c, round(z_of[c], 4), mean_of[c], overall_map[c]) for c in ranked
        )
        text = describe(z_of, mean_of, overall_map)
        if i == UNSEGMENTED:
            text = "Users in no dense region of the feature space (DBSCAN's noise). " + text
        out.append(
            SegmentInfo(
                id=i,
                name=UNSEGMENTED_NAME if i == UNSEGMENTED else name_of[i],
                description=text,
                size=size,
                share=round(size / total, 6),
                means=mean_of,
                distinguishing=distinguishing,
            )
        )
    return out


def _safe(rows: np.ndarray) -> np.ndarray:
    """Column means that are NaN (not a warning) where a column has no value."""
    present = np.isfinite(rows)
    counts = present.sum(axis=0)
    sums = np.where(present, rows, 0.0).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def top_items(
    labels: pd.Series,
    interactions: pd.DataFrame,
    titles: Mapping[str, str] | None = None,
    n: int = 10,
) -> dict[int, tuple[TopItem, ...]]:
    """The ``n`` items most users of each segment interacted with.

    Parameters
    ----------
    labels
        Segment per user key.
    interactions
        Positive interactions with columns ``USER`` (user key) and ``ITEM``; a user counts
        once per item. Users without a segment label are ignored.
    titles
        Item id → title, to show with the ids.
    n
        Items per segment; ties go to the smaller item id.

    Examples
    --------
    >>> labels = pd.Series({"u1": 0, "u2": 0, "u3": 1})
    >>> events = pd.DataFrame({"user_id": ["u1", "u2", "u2", "u3"],
    ...                        "item_id": ["a", "a", "b", "b"]})
    >>> [(t.item_id, t.users, t.share) for t in top_items(labels, events)[0]]
    [('a', 2, 1.0), ('b', 1, 0.5)]
    """
    pairs = interactions[[Columns.USER, Columns.ITEM]].drop_duplicates()
    segment = pairs[Columns.USER].map(labels)
    pairs = pairs.assign(segment=segment).dropna(subset=["segment"])
    sizes = labels.value_counts()
    out: dict[int, tuple[TopItem, ...]] = {}
    counts = pairs.groupby(["segment", Columns.ITEM]).size().rename("users").reset_index()
    for seg, group in counts.groupby("segment"):
        best = group.sort_values(["users", Columns.ITEM], ascending=[False, True]).head(n)
        label = int(cast(float, seg))
        size = int(sizes.get(label, 0)) or 1
        out[label] = tuple(
            TopItem(
                item_id=str(item),
                users=int(users),
                share=round(int(users) / size, 6),
                title=titles.get(str(item)) if titles else None,
            )
            for item, users in zip(best[Columns.ITEM], best["users"], strict=True)
        )
    return out


def with_top_items(
    segments: list[SegmentInfo], items: Mapping[int, tuple[TopItem, ...]]
) -> list[SegmentInfo]:
    """The segments with their top items filled in."""
    return [replace(s, top_items=items.get(s.id, ())) for s in segments]
