"""Training data on internal integer indices.

External ids live only at the edges; a :class:`Dataset` maps them to rows and columns once, and
every model works on the matrices it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.tags import tag_ancestors
from tastemaker.config import FeedbackClass, FeedbackPolicy

Ids = np.ndarray  # 1-d array of str ids

FEEDBACK = "feedback"
"""Column of a classified event frame: the feedback class as a string."""


def classify_frame(events: pd.DataFrame, policy: FeedbackPolicy) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized :meth:`FeedbackPolicy.classify`: feedback classes (as str) and weights.

    >>> frame = pd.DataFrame({"type": ["dwell", "dwell", "dislike"], "value": [40.0, 3.0, None]})
    >>> classes, weights = classify_frame(frame, FeedbackPolicy())
    >>> list(classes), weights.tolist()
    (['positive', 'seen', 'negative'], [1.0, 0.0, 2.0])
    """
    n = len(events)
    classes = np.full(n, FeedbackClass.SEEN.value, dtype=object)
    weights = np.zeros(n, dtype=np.float32)
    decided = np.zeros(n, dtype=bool)
    types = events[Columns.TYPE].to_numpy()
    values = pd.to_numeric(events[Columns.VALUE], errors="coerce").to_numpy(dtype=float)
    for rule in policy.rules:
        mask = (types == rule.type) & ~decided
        if rule.min_value is not None:
            mask &= ~np.isnan(values) & (values >= rule.min_value)
        if rule.max_value is not None:
            mask &= ~np.isnan(values) & (values <= rule.max_value)
        classes[mask] = rule.feedback.value
        weights[mask] = rule.weight
        decided |= mask
    return classes, weights


def classify_events(events: pd.DataFrame, policy: FeedbackPolicy | None = None) -> pd.DataFrame:
    """Events with an item, classified: adds ``WEIGHT`` and ``FEEDBACK``, drops ``seen`` rows.

    >>> ev = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"],
    ...                    "type": ["view", "impression"], "value": [None, None],
    ...                    "timestamp": [1, 2]})
    >>> classify_events(ev)[["item_id", "weight", "feedback"]].values.tolist()
    [['a', 1.0, 'positive']]
    """
    frame = events.dropna(subset=[Columns.ITEM])
    classes, weights = classify_frame(frame, policy or FeedbackPolicy())
    frame = frame.assign(**{Columns.WEIGHT: weights, FEEDBACK: classes})
    return frame[frame[FEEDBACK] != FeedbackClass.SEEN.value].reset_index(drop=True)


@dataclass(frozen=True)
class ItemFeatures:
    """What content-based models and filters know about items, aligned with ``Dataset.item_ids``.

    ``tags`` holds each item's tags and (with smaller weight) their ancestors, so items sharing a
    parent are similar, less than items sharing a leaf.
    """

    tags: sp.csr_matrix
    tag_names: Ids
    text: list[str]
    authors: np.ndarray  # int codes, -1 = none
    author_names: Ids
    sources: np.ndarray
    source_names: Ids
    published_at: np.ndarray  # int64 micros, -1 = unknown
    recommendable: np.ndarray  # bool


def item_features(items: pd.DataFrame, item_ids: Ids, parent_weight: float = 0.5) -> ItemFeatures:
    """Build :class:`ItemFeatures` from an item frame indexed by item id.

    Columns used when present: ``title``, ``summary``, ``text``, ``tags`` (list of paths),
    ``author``, ``source``, ``published_at`` (int64 micros), ``recommendable``. Items missing from
    the frame get empty features and count as recommendable.
    """
    frame = items.reindex(pd.Index(item_ids, dtype=object))
    n = len(item_ids)
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, tags in enumerate(frame["tags"] if "tags" in frame else [None] * n):
        if not isinstance(tags, list | tuple | np.ndarray):
            continue
        weights: dict[int, float] = {}
        for tag in tags:
            chain = tag_ancestors(str(tag))
            depth = len(chain)
            for level, name in enumerate(chain):
                w = parent_weight ** (depth - 1 - level)
                j = vocab.setdefault(name, len(vocab))
                weights[j] = max(weights.get(j, 0.0), w)
        rows.extend([i] * len(weights))
        cols.extend(weights)
        vals.extend(weights.values())
    tags_m = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(n, max(len(vocab), 1))
    )

    def text_of(col: str) -> pd.Series:
        if col not in frame:
            # Aligned with the frame: a default RangeIndex would turn every sum into NaN.
            return pd.Series([""] * n, index=frame.index, dtype=object)
        return frame[col].fillna("").astype(str)

    text = (text_of("title") + " " + text_of("summary") + " " + text_of("text")).str.strip()

    def codes(col: str) -> tuple[np.ndarray, Ids]:
        if col not in frame:
            return np.full(n, -1, dtype=np.int32), np.array([], dtype=str)
        cat = pd.Categorical(frame[col])
        return np.asarray(cat.codes, dtype=np.int32), np.asarray(cat.categories, dtype=str)

    authors, author_names = codes("author")
    sources, source_names = codes("source")
    published = (
        frame["published_at"].fillna(-1).astype(np.int64).to_numpy()
        if "published_at" in frame
        else np.full(n, -1, dtype=np.int64)
    )
    recommendable = (
        frame["recommendable"].fillna(True).astype(bool).to_numpy()
        if "recommendable" in frame
        else np.ones(n, dtype=bool)
    )
    names = np.empty(len(vocab), dtype=object)
    for name, j in vocab.items():
        names[j] = name
    return ItemFeatures(
        tags=tags_m,
        tag_names=names.astype(str),
        text=list(text),
        authors=authors,
        author_names=author_names,
        sources=sources,
        source_names=source_names,
        published_at=published,
        recommendable=recommendable,
    )


@dataclass(frozen=True)
class Dataset:
    """Interactions on internal indices, built once and shared by every model.

    Attributes
    ----------
    user_ids, item_ids
        External ids by internal index.
    positives
        ``n_users × n_items`` summed weights of positive feedback.
    negatives
        ``n_users × n_items`` summed weights of explicit negative feedback.
    interactions
        The positive interactions one per row (user index, item index, weight, timestamp), for
        models that need time (trending).
    items
        Item features, or ``None`` when only interactions are known.
    user_segments
        The segment label of every user (str, aligned with ``user_ids``; ``""`` for a user
        without one), or ``None`` when no segmentation is attached: see :meth:`with_segments`.
    """

    user_ids: Ids
    item_ids: Ids
    positives: sp.csr_matrix
    negatives: sp.csr_matrix
    interactions: pd.DataFrame
    items: ItemFeatures | None = None
    user_segments: np.ndarray | None = None
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index.update({u: i for i, u in enumerate(self.user_ids)})
        self._item_index.update({it: i for i, it in enumerate(self.item_ids)})

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, user_ids: Sequence[str]) -> np.ndarray:
        """Internal indices, ``-1`` for users not in the data."""
        get = self._user_index.get
        return np.fromiter((get(u, -1) for u in user_ids), dtype=np.int64, count=len(user_ids))

    def item_index(self, item_ids: Sequence[str]) -> np.ndarray:
        """Internal indices, ``-1`` for items not in the data."""
        get = self._item_index.get
        return np.fromiter((get(i, -1) for i in item_ids), dtype=np.int64, count=len(item_ids))

    def with_segments(self, segments: Mapping[str, object] | pd.Series) -> Dataset:
        """A copy with a segment label per user (see :attr:`user_segments`).

        Parameters
        ----------
        segments
            User id → segment label (labels are turned into strings, so the integer labels of a
            clustering work too). Users missing from it, or mapped to ``None``, NaN or ``""``,
            get ``""``: no segment. Ids of users not in the data are ignored.

        Returns
        -------
        Dataset
            The same matrices, interactions and items (shared, not copied) with
            ``user_segments`` set; ``self`` is unchanged.

        Examples
        --------
        >>> ds = Dataset.from_interactions(pd.DataFrame({"user_id": ["u", "v", "w"],
        ...                                              "item_id": ["a", "b", "a"]}))
        >>> ds.with_segments({"u": 1, "w": "sports", "x": 2}).user_segments.tolist()
        ['1', '', 'sports']
        >>> ds.user_segments is None
        True
        """
        lookup = segments.to_dict() if isinstance(segments, pd.Series) else segments
        get = lookup.get
        text = np.array([_label(get(u)) for u in self.user_ids.tolist()], dtype=str)
        return Dataset(
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            positives=self.positives,
            negatives=self.negatives,
            interactions=self.interactions,
            items=self.items,
            user_segments=text,
        )

    def subset_users(self, rows: Sequence[int] | np.ndarray) -> Dataset:
        """The users at internal indices ``rows`` (in that order) with every item kept.

        Item ids, the catalog and item features stay as they are, so a model fitted on the
        subset scores the same item columns as one fitted on the whole.

        >>> ds = Dataset.from_interactions(pd.DataFrame({"user_id": ["u", "v", "v"],
        ...                                              "item_id": ["a", "b", "c"]}))
        >>> sub = ds.subset_users([1])
        >>> sub.user_ids.tolist(), sub.n_items, sub.positives.toarray().tolist()
        (['v'], 3, [[0.0, 1.0, 1.0]])
        """
        idx = np.asarray(rows, dtype=np.int64)
        new_index = np.full(self.n_users, -1, dtype=np.int64)
        new_index[idx] = np.arange(len(idx))
        inter = self.interactions
        users = new_index[inter[Columns.USER].to_numpy(dtype=np.int64)]
        keep = users >= 0
        interactions = inter[keep].assign(**{Columns.USER: users[keep]}).reset_index(drop=True)
        return Dataset(
            user_ids=self.user_ids[idx],
            item_ids=self.item_ids,
            positives=sp.csr_matrix(self.positives[idx]),
            negatives=sp.csr_matrix(self.negatives[idx]),
            interactions=interactions,
            items=self.items,
            user_segments=None if self.user_segments is None else self.user_segments[idx],
        )

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        policy: FeedbackPolicy | None = None,
        items: pd.DataFrame | None = None,
    ) -> Dataset:
        """Build from raw events (``USER, ITEM, TYPE, VALUE, TIMESTAMP``) and a feedback policy.

        Every item of ``items`` is in the catalog even without interactions; events of items not
        in ``items`` add those items too. Only users with at least one positive or negative
        interaction get a row.

        >>> ev = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["a", "b", "a"],
        ...                    "type": ["view", "dislike", "view"], "value": [None] * 3,
        ...                    "timestamp": [1, 2, 3]})
        >>> ds = Dataset.from_events(ev)
        >>> ds.positives.toarray().tolist(), ds.negatives.toarray().tolist()
        ([[1.0, 0.0], [1.0, 0.0]], [[0.0, 2.0], [0.0, 0.0]])
        """
        return cls.from_feedback(classify_events(events, policy), items)

    @classmethod
    def from_feedback(cls, frame: pd.DataFrame, items: pd.DataFrame | None = None) -> Dataset:
        """Build from classified events (``USER, ITEM, WEIGHT, FEEDBACK[, TIMESTAMP]``), as
        :func:`classify_events` returns them; ``seen`` rows are ignored."""
        frame = frame[frame[FEEDBACK] != FeedbackClass.SEEN.value]
        return cls._build(frame.rename(columns={FEEDBACK: "_class"}), items)

    @classmethod
    def from_interactions(
        cls, interactions: pd.DataFrame, items: pd.DataFrame | None = None
    ) -> Dataset:
        """Build from already weighted positives (``USER, ITEM, WEIGHT[, TIMESTAMP]``)."""
        frame = interactions.assign(_class=FeedbackClass.POSITIVE.value)
        if Columns.WEIGHT not in frame:
            frame[Columns.WEIGHT] = np.float32(1.0)
        return cls._build(frame, items)

    @classmethod
    def _build(cls, frame: pd.DataFrame, items: pd.DataFrame | None) -> Dataset:
        users = pd.Index(pd.unique(frame[Columns.USER].astype(str)))
        catalog = [] if items is None else list(items.index.astype(str))
        item_index = pd.Index(pd.unique(pd.Series([*catalog, *frame[Columns.ITEM].astype(str)])))
        u = users.get_indexer(pd.Index(frame[Columns.USER].astype(str)))
        i = item_index.get_indexer(pd.Index(frame[Columns.ITEM].astype(str)))
        w = frame[Columns.WEIGHT].to_numpy(dtype=np.float32)
        pos = (frame["_class"] == FeedbackClass.POSITIVE.value).to_numpy()
        shape = (len(users), len(item_index))

        def matrix(mask: np.ndarray) -> sp.csr_matrix:
            m = sp.csr_matrix((w[mask], (u[mask], i[mask])), shape=shape, dtype=np.float32)
            m.sum_duplicates()
            m.eliminate_zeros()
            return m

        ts = (
            frame[Columns.TIMESTAMP].to_numpy(dtype=np.int64)
            if Columns.TIMESTAMP in frame
            else np.zeros(len(frame), dtype=np.int64)
        )
        interactions = pd.DataFrame(
            {
                Columns.USER: u[pos],
                Columns.ITEM: i[pos],
                Columns.WEIGHT: w[pos],
                Columns.TIMESTAMP: ts[pos],
            }
        )
        user_ids = np.asarray(users, dtype=str)
        item_ids = np.asarray(item_index, dtype=str)
        feats = item_features(items, item_ids) if items is not None else None
        return cls(
            user_ids=user_ids,
            item_ids=item_ids,
            positives=matrix(pos),
            negatives=matrix(~pos),
            interactions=interactions,
            items=feats,
        )


def _label(value: object) -> str:
    """A segment label as text; ``""`` for none (``None``, NaN)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)
