"""What one request knows: the request itself, the user's state, and the candidates so far."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tastemaker.config import FeedbackClass
from tastemaker.profiles.profile import Profile


@dataclass(frozen=True)
class RecommendationRequest:
    """A placement asking for recommendations for a user."""

    user_id: str
    placement: str
    k: int | None = None
    context_item: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    explain: bool = False
    recommendation_id: str | None = None
    """Set to ask for the next page of an earlier answer: nothing it showed comes back."""


class HistoryEvent(NamedTuple):
    """One of the user's stored events, classified by the feedback policy (a tuple: a request
    makes hundreds of them)."""

    item_id: str
    feedback: FeedbackClass
    weight: float
    ts: int
    received_at: int


@dataclass
class UserState:
    """The user as the pipeline sees them."""

    user_id: str
    user_key: str
    profile: Profile | None
    history: list[HistoryEvent]
    """Newest first, as many as ``history_limit``."""
    shown: set[str] = field(default_factory=set)
    """Items earlier pages of this recommendation id showed."""
    _folded: dict[int, dict[str, float]] = field(default_factory=dict, repr=False)

    @property
    def segment(self) -> str | None:
        return None if self.profile is None else self.profile.segment

    @property
    def activity(self) -> int:
        """Events that count for learning (positive or negative)."""
        n = sum(1 for e in self.history if e.feedback is not FeedbackClass.SEEN)
        if self.profile is not None:
            return max(n, self.profile.actions)
        return n

    def folded(self, since_micros: int) -> dict[str, float]:
        """Item → summed feedback weight of the events received after ``since_micros``: what a
        model trained then has not seen. Made once per training time and request (the models
        of one training share it); callers must not change it."""
        out = self._folded.get(since_micros)
        if out is None:
            out = self._folded[since_micros] = {}
            for e in self.history:
                if e.received_at > since_micros and e.weight:
                    sign = -1.0 if e.feedback is FeedbackClass.NEGATIVE else 1.0
                    out[e.item_id] = out.get(e.item_id, 0.0) + sign * abs(e.weight)
        return out


@dataclass
class Candidates:
    """The merged candidates of one request: one row per item, one column per source.

    ``raw`` holds each source's score (NaN where the source did not propose the item), ``rank``
    its 1-based rank (0 where absent), ``norm`` the per-source min–max normalized score (0 where
    absent). ``score`` is the ranking's score, ``contributions`` its per-source (or per-feature)
    parts, ``boost`` the factor rules multiplied in (boosts and freshness).
    """

    rows: np.ndarray
    item_ids: Sequence[str]
    """By candidate: a list, or an object array (selected from the catalog's by row)."""
    sources: list[str]
    raw: np.ndarray
    rank: np.ndarray
    anchors: dict[str, str] = field(default_factory=dict)
    """Item → the item it was found similar to (for "because you read …")."""
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contributions: dict[str, np.ndarray] = field(default_factory=dict)
    boost: np.ndarray = field(default_factory=lambda: np.zeros(0))
    promoted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Candidates a boost or promotion rule lifted (explained as "promoted")."""
    features: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)

    @property
    def norm(self) -> np.ndarray:
        raw = self.raw
        have = ~np.isnan(raw)
        if not raw.size:
            return np.zeros_like(raw, dtype=np.float64)
        lo = np.where(have, raw, np.inf).min(axis=0)
        hi = np.where(have, raw, -np.inf).max(axis=0)
        span = hi - lo
        flat = ~(span > 0)  # one value (or none): every proposed item scores 1
        with np.errstate(invalid="ignore"):
            out: np.ndarray = (raw - lo) / np.where(flat, 1.0, span)
        out[:, flat] = 1.0
        out[~have] = 0.0
        return out

    def __len__(self) -> int:
        return len(self.item_ids)

    def take(self, keep: np.ndarray) -> Candidates:
        """The candidates where ``keep`` (a boolean mask or an index array) selects."""
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        return Candidates(
            rows=self.rows[idx],
            item_ids=self.item_ids[idx]
            if isinstance(self.item_ids, np.ndarray)
            else [self.item_ids[i] for i in idx.tolist()],
            sources=self.sources,
            raw=self.raw[idx],
            rank=self.rank[idx],
            anchors=self.anchors,
            score=self.score[idx] if len(self.score) else self.score,
            contributions={k: v[idx] for k, v in self.contributions.items()},
            boost=self.boost[idx] if len(self.boost) else self.boost,
            promoted=self.promoted[idx] if len(self.promoted) else self.promoted,
            features=None if self.features is None else self.features[idx],
            feature_names=self.feature_names,
        )
