"""Per-candidate features of a learned ranker, built the same way at training and serving time.

:class:`CandidateFeatures` indexes a :class:`~tastemaker.models.data.Dataset` once; its
:meth:`~CandidateFeatures.build` turns a candidate table (see
:mod:`tastemaker.ranking.candidates`) into a ``float32`` frame, one row per candidate, in the
table's row order. Training (:class:`~tastemaker.ranking.ranker.LearnedRanker`) and serving call
the same method; every statistic is taken **as of an explicit** ``now``: interactions at or after
``now`` are ignored, so features never see the future and a request at time ``now`` gets exactly
what a training example labelled after ``now`` got.

Columns (``NaN`` where a value is undefined; counts are ``log1p`` so differences are ratios):

=========================  =========================================================================
column                     meaning
=========================  =========================================================================
``score:<s>``              source ``s``'s score (``NaN``: ``s`` did not propose the item)
``rank:<s>``               source ``s``'s 1-based rank (``k + 1``: not proposed)
``nscore:<s>``             ``s``'s score min-max normalized over the user's candidates from ``s``
``sources``                how many sources proposed the item
``best_rank``              the best rank any source gave
``item_count``             ``log1p`` of the item's interactions before ``now``
``item_recent``            ``log1p`` of its interactions in the ``recent_days`` before ``now``
``item_recent_share``      ``item_recent`` over ``item_count`` in raw counts (``NaN``: none)
``item_age_days``          days since the item's first interaction (``NaN``: none before ``now``)
``item_idle_days``         days since its latest interaction before ``now``
``item_published_days``    days since ``published_at`` (``NaN``: unknown)
``user_count``             ``log1p`` of the user's interactions before ``now``
``user_active_days``       distinct UTC days with an interaction of the user
``user_span_days``         days from the user's first interaction to ``now``
``user_idle_days``         days from the user's latest interaction to ``now``
``user_item_count``        mean ``item_count`` (as of ``now``) of the user's items: mainstreamness
``user_item_age``          mean ``log1p`` age in days an item had when the user interacted with it
``count_vs_user``          ``item_count − user_item_count``
``age_vs_user``            ``log1p(item_age_days) − user_item_age``
``tag_affinity``           cosine of the item's tf-idf tag vector with the user's (sum over history)
``tag_share``              largest share of the user's items carrying one of the item's tags
``author_affinity``        share of the user's items by the item's author (``NaN``: no author)
``segment``                the user's segment, coded by the vocabulary (categorical; ``NaN``: none)
``user:<name>``            numeric per-user values given in ``users`` (e.g. profile aggregates)
``ctx:<name>``             numeric request context; text context becomes ``ctx:<name>=<value>`` = 1
=========================  =========================================================================

"User's items" are the positive interactions of the dataset before ``now`` and, at serving time,
the user's positive events since the dataset was taken (``recent``); a user with neither has none
(counts 0, ratios ``NaN``).

Examples
--------
>>> import pandas as pd
>>> from tastemaker.ranking.candidates import merge_candidates
>>> data = Dataset.from_interactions(pd.DataFrame({
...     "user_id": ["u", "u", "v", "v"], "item_id": ["a", "b", "a", "c"],
...     "timestamp": [0, DAY, DAY, 5 * DAY]}))
>>> recs = pd.DataFrame({"user_id": ["u"], "item_id": ["c"], "score": [0.5], "rank": [1]})
>>> table = merge_candidates({"pop": recs}, k=10)
>>> feats = CandidateFeatures(data).build(table, now=3 * DAY)
>>> feats.loc[0, ["sources", "item_count", "user_count", "user_span_days"]].tolist()
[1.0, 0.0, 1.0986123085021973, 3.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.catalog.columns import Columns
from tastemaker.models.data import Dataset
from tastemaker.profiles.rules import as_micros
from tastemaker.ranking.arrays import (
    History,
    TimeIndex,
    expand,
    lookup,
    minmax_per_user,
    normalize_rows,
)
from tastemaker.ranking.candidates import rank_column, score_column, source_names

DAY: Final = 86_400 * 1_000_000
"""One day in microseconds."""

SEGMENT: Final = "segment"
"""The segment feature, and the column of the ``users`` frame it is read from."""

USER_PREFIX: Final = "user:"
CONTEXT_PREFIX: Final = "ctx:"
CATEGORICAL: Final = (SEGMENT,)
"""Features LightGBM must treat as categories, not numbers."""

Now = int | datetime | pd.Series
"""A request time: microseconds since the epoch or a datetime for every user, or a Series of
microseconds indexed by user id (each user's own time, e.g. in offline training)."""

ContextValue = float | int | bool | str


class FeatureConfig(BaseModel):
    """How features are computed: part of a ranker's config, so serving repeats training."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recent_days: float = Field(default=30.0, gt=0, description="Window of `item_recent`, days")


class CandidateFeatures:
    """The feature builder over one dataset (indexes built once, reused for every request).

    Parameters
    ----------
    data
        Training interactions (with timestamps) and item metadata. A dataset loaded from a model
        artifact has no interaction rows, so every count would be zero: build from the training
        snapshot.
    config
        Windows and options; a ranker passes its own.
    segments
        The segment vocabulary: code ``j`` is ``segments[j]``. Default: the dataset's labels,
        sorted. A ranker records the vocabulary it was trained with and passes it back.
    """

    def __init__(
        self,
        data: Dataset,
        config: FeatureConfig | None = None,
        segments: Sequence[str] | None = None,
    ) -> None:
        self.data = data
        self.config = config or FeatureConfig()
        if segments is None:
            labels = data.user_segments if data.user_segments is not None else np.array([])
            segments = sorted({str(s) for s in labels.tolist() if s})
        self.segments = list(segments)
        self._segment_code = {s: j for j, s in enumerate(self.segments)}
        inter = data.interactions
        self._u = inter[Columns.USER].to_numpy(dtype=np.int64)
        self._i = inter[Columns.ITEM].to_numpy(dtype=np.int64)
        self._t = inter[Columns.TIMESTAMP].to_numpy(dtype=np.int64)
        clock = np.unique(self._t)
        self._by_item = TimeIndex(self._i, self._t, data.n_items, clock)
        self._by_user = TimeIndex(self._u, self._t, data.n_users, clock)
        self._item_first = np.full(data.n_items, -1, dtype=np.int64)
        has = self._by_item.sizes > 0
        self._item_first[has] = self._by_item.times[self._by_item.ptr[:-1][has]]
        self._tags, self._tags_binary = _tag_matrices(data)
        self._authors = data.items.authors if data.items is not None else None
        self._published = data.items.published_at if data.items is not None else None

    # --- the one entry point ------------------------------------------------------------------

    def build(
        self,
        candidates: pd.DataFrame,
        now: Now,
        *,
        users: pd.DataFrame | None = None,
        context: Mapping[str, ContextValue] | None = None,
        recent: Mapping[str, Sequence[tuple[str, int]]] | None = None,
    ) -> pd.DataFrame:
        """The feature frame of ``candidates`` as of ``now`` (see the module docstring).

        Parameters
        ----------
        candidates
            ``USER, ITEM`` and per source ``score:<s>``, ``rank:<s>``
            (:func:`~tastemaker.ranking.candidates.merge_candidates`).
        now
            The request time; a Series gives each user their own (users missing from it raise).
        users
            Optional per-user values indexed by user id: ``segment`` (a label) overrides the
            dataset's segment; every numeric column ``c`` becomes ``user:c``.
        context
            Optional request context applied to every row.
        recent
            Optional positive interactions the dataset does not hold, by user id: ``(item id,
            time in microseconds)`` pairs (a live request's events since the training snapshot).
            They count as the user's items like the dataset's own (user and affinity features;
            item features stay the dataset's).

        Returns
        -------
        pandas.DataFrame
            ``float32`` columns, one row per candidate in table order (a fresh ``RangeIndex``).
        """
        user_keys = candidates[Columns.USER].to_numpy().astype(str)
        uniq, urow = np.unique(user_keys, return_inverse=True)
        uidx = self.data.user_index(uniq.tolist())
        items = self.data.item_index(candidates[Columns.ITEM].to_numpy().astype(str).tolist())
        now_u = _now_per_user(now, uniq)
        now_r = now_u[urow]
        cols: dict[str, np.ndarray] = {}
        cols.update(_source_features(candidates, urow))
        cols.update(self._item_features(items, now_r))
        hist = self._history(uidx, now_u, self._recent(recent, uniq, now_u) if recent else None)
        user = self._user_features(hist, now_u)
        for name, values in user.items():
            cols[name] = values[urow]
        cols["count_vs_user"] = cols["item_count"] - cols["user_item_count"]
        cols["age_vs_user"] = np.log1p(cols["item_age_days"]) - cols["user_item_age"]
        cols.update(self._affinities(hist, urow, items))
        cols[SEGMENT] = self._segment_codes(uniq, uidx, users)[urow]
        if users is not None:
            cols.update(_user_columns(users, uniq, urow))
        if context:
            cols.update(_context_columns(context, len(candidates)))
        # One float32 block: a frame of many separate columns costs more to build than to fill.
        block = np.empty((len(candidates), len(cols)), dtype=np.float32)
        for j, values in enumerate(cols.values()):
            block[:, j] = values
        return pd.DataFrame(block, columns=list(cols))

    # --- items ----------------------------------------------------------------------------------

    def _item_features(self, items: np.ndarray, now: np.ndarray) -> dict[str, np.ndarray]:
        known = items >= 0
        sel = np.where(known, items, 0)
        before = np.where(known, self._by_item.count_before(sel, now), 0)
        window = now - np.int64(round(self.config.recent_days * DAY))
        recent = before - np.where(known, self._by_item.count_before(sel, window), 0)
        start = self._by_item.ptr[sel]
        # One slot past the end so empty datasets index safely; masked by `has` below.
        times = np.append(self._by_item.times, np.int64(0))
        first = times[start]
        last = times[start + np.maximum(before - 1, 0)]
        has = before > 0
        out = {
            "item_count": np.log1p(before.astype(np.float64)),
            "item_recent": np.log1p(recent.astype(np.float64)),
            "item_recent_share": np.where(has, recent / np.maximum(before, 1), np.nan),
            "item_age_days": np.where(has, (now - first) / DAY, np.nan),
            "item_idle_days": np.where(has, (now - last) / DAY, np.nan),
        }
        published = np.full(len(items), -1, dtype=np.int64)
        if self._published is not None:
            published = np.where(known, self._published[sel], -1)
        out["item_published_days"] = np.where(published >= 0, (now - published) / DAY, np.nan)
        return out

    # --- users ----------------------------------------------------------------------------------

    def _history(
        self, uidx: np.ndarray, now_u: np.ndarray, recent: History | None = None
    ) -> History:
        """Every user's interactions before their ``now``, the dataset's and ``recent``'s."""
        known = uidx >= 0
        sel = np.where(known, uidx, 0)
        counts = np.where(known, self._by_user.count_before(sel, now_u), 0)
        owner, pos = expand(self._by_user.ptr[sel], counts)
        rows = self._by_user.order[pos]
        items, times = self._i[rows], self._t[rows]
        if recent is not None and len(recent.owner):
            owner = np.concatenate([owner, recent.owner])
            items = np.concatenate([items, recent.items])
            times = np.concatenate([times, recent.times])
            counts = counts + recent.counts
        return History(owner=owner, items=items, times=times, counts=counts, n_users=len(uidx))

    def _recent(
        self,
        recent: Mapping[str, Sequence[tuple[str, int]]],
        uniq: np.ndarray,
        now_u: np.ndarray,
    ) -> History:
        """The users' interactions the dataset does not hold (newer than it), before each
        user's ``now``; items the dataset does not know are left out, as it would."""
        owner: list[int] = []
        ids: list[str] = []
        times: list[int] = []
        for j, user in enumerate(uniq.tolist()):
            for item_id, ts in recent.get(user, ()):
                if ts < now_u[j]:
                    owner.append(j)
                    ids.append(item_id)
                    times.append(ts)
        items = self.data.item_index(ids) if ids else np.zeros(0, dtype=np.int64)
        ok = items >= 0
        who = np.asarray(owner, dtype=np.int64)[ok]
        return History(
            owner=who,
            items=np.asarray(items, dtype=np.int64)[ok],
            times=np.asarray(times, dtype=np.int64)[ok],
            counts=np.bincount(who, minlength=len(uniq)),
            n_users=len(uniq),
        )

    def _user_features(self, hist: History, now_u: np.ndarray) -> dict[str, np.ndarray]:
        n = hist.n_users
        counts = hist.counts
        has = counts > 0
        t = hist.times
        items = hist.items
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.minimum.at(first, hist.owner, t)
        np.maximum.at(last, hist.owner, t)
        days = np.unique(hist.owner * np.int64(1 << 32) + t // DAY)
        active = np.bincount(days // np.int64(1 << 32), minlength=n)
        item_count = np.log1p(
            self._by_item.count_before(items, now_u[hist.owner]).astype(np.float64)
        )
        # An item's first interaction, its own if earlier: a recent event may be an item's
        # first (the dataset holds none of it); for the dataset's rows this changes nothing.
        first_seen = self._item_first[items]
        first_seen = np.where((first_seen < 0) | (first_seen > t), t, first_seen)
        age = np.log1p((t - first_seen) / DAY)
        denom = np.maximum(counts, 1)
        return {
            "user_count": np.log1p(counts.astype(np.float64)),
            "user_active_days": active.astype(np.float64),
            "user_span_days": np.where(has, (now_u - first) / DAY, np.nan),
            "user_idle_days": np.where(has, (now_u - last) / DAY, np.nan),
            "user_item_count": np.where(
                has, np.bincount(hist.owner, item_count, minlength=n) / denom, np.nan
            ),
            "user_item_age": np.where(
                has, np.bincount(hist.owner, age, minlength=n) / denom, np.nan
            ),
        }

    def _affinities(
        self, hist: History, urow: np.ndarray, items: np.ndarray
    ) -> dict[str, np.ndarray]:
        known = items >= 0
        sel = np.where(known, items, 0)
        has_history = hist.counts[urow] > 0
        denom = np.maximum(hist.counts, 1)[urow]
        h = sp.csr_matrix(
            (np.ones(len(hist.items), dtype=np.float32), (hist.owner, hist.items)),
            shape=(hist.n_users, self.data.n_items),
        )
        # Each candidate's item tags, one entry per (candidate, tag): the user's profile is
        # looked up at exactly those tags instead of multiplying two sparse row selections.
        row, pos = expand(self._tags.indptr[sel], np.diff(self._tags.indptr)[sel] * known)
        tag = self._tags.indices[pos]
        profile = normalize_rows(sp.csr_matrix(h @ self._tags))
        weight = self._tags.data[pos] * lookup(profile, urow[row], tag)
        counts = sp.csr_matrix(h @ self._tags_binary)
        share = np.zeros(len(items))
        np.maximum.at(share, row, lookup(counts, urow[row], tag))
        out = {
            "tag_affinity": np.bincount(row, weight, minlength=len(items)),
            "tag_share": np.where(has_history, share / denom, np.nan),
        }
        author = np.full(len(items), np.nan)
        if self._authors is not None and len(self._authors) and self._authors.max() >= 0:
            codes = np.where(known, self._authors[sel], -1)
            written = self._authors[hist.items]
            ok = written >= 0
            by_author = sp.csr_matrix(
                (np.ones(int(ok.sum()), dtype=np.float32), (hist.owner[ok], written[ok])),
                shape=(hist.n_users, int(self._authors.max()) + 1),
            )
            hits = lookup(by_author, urow, np.maximum(codes, 0))
            author = np.where((codes >= 0) & has_history, hits / denom, np.nan)
        out["author_affinity"] = author
        return out

    def _segment_codes(
        self, uniq: np.ndarray, uidx: np.ndarray, users: pd.DataFrame | None
    ) -> np.ndarray:
        labels = np.full(len(uniq), "", dtype=object)
        stored = self.data.user_segments
        if stored is not None:
            known = uidx >= 0
            labels[known] = stored[uidx[known]]
        if users is not None and SEGMENT in users.columns:
            given = users[SEGMENT].reindex(pd.Index(uniq))
            mask = given.notna().to_numpy()
            labels[mask] = given.to_numpy()[mask].astype(str)
        get = self._segment_code.get
        return np.array([get(str(s), np.nan) for s in labels], dtype=np.float64)


def _now_per_user(now: Now, users: np.ndarray) -> np.ndarray:
    if isinstance(now, pd.Series):
        index = now.copy()
        index.index = index.index.astype(str)
        values = index.reindex(pd.Index(users))
        if values.isna().any():
            missing = users[values.isna().to_numpy()][:5].tolist()
            raise ValueError(f"`now` has no time for users {missing}")
        return values.to_numpy(dtype=np.int64)
    return np.full(len(users), as_micros(now), dtype=np.int64)


def _source_features(table: pd.DataFrame, urow: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    ranks = []
    proposed = np.zeros(len(table), dtype=np.float64)
    for name in source_names(table):
        score = table[score_column(name)].to_numpy(dtype=np.float64)
        rank = table[rank_column(name)].to_numpy(dtype=np.float64)
        has = np.isfinite(score)
        out[score_column(name)] = score
        out[rank_column(name)] = rank
        out[f"nscore:{name}"] = minmax_per_user(score, urow)
        proposed += has
        ranks.append(rank)
    out["sources"] = proposed
    out["best_rank"] = np.min(np.vstack(ranks), axis=0) if ranks else np.zeros(len(table))
    return out


def _tag_matrices(data: Dataset) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Items × tags: tf-idf rows (L2-normalized) and binary rows."""
    if data.items is None or data.items.tags.nnz == 0:
        empty = sp.csr_matrix(np.zeros((data.n_items, 1), dtype=np.float32))
        return empty, empty
    tags = sp.csr_matrix(data.items.tags, dtype=np.float32)
    df = np.asarray((tags > 0).sum(axis=0)).ravel()
    idf = np.log((1.0 + data.n_items) / (1.0 + df)) + 1.0
    weighted = normalize_rows(sp.csr_matrix(tags @ sp.diags(idf.astype(np.float32))))
    binary = sp.csr_matrix(tags, copy=True)
    binary.data[:] = 1.0
    return weighted, binary


def _user_columns(users: pd.DataFrame, uniq: np.ndarray, urow: np.ndarray) -> dict[str, np.ndarray]:
    frame = users.copy()
    frame.index = frame.index.astype(str)
    frame = frame.reindex(pd.Index(uniq))
    out: dict[str, np.ndarray] = {}
    for col in frame.columns:
        if col == SEGMENT or not pd.api.types.is_numeric_dtype(frame[col]):
            continue
        out[f"{USER_PREFIX}{col}"] = frame[col].to_numpy(dtype=np.float64)[urow]
    return out


def _context_columns(context: Mapping[str, ContextValue], n: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, value in context.items():
        if isinstance(value, str):
            out[f"{CONTEXT_PREFIX}{key}={value}"] = np.ones(n)
        else:
            out[f"{CONTEXT_PREFIX}{key}"] = np.full(n, float(value))
    return out
