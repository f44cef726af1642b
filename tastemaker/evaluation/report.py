"""Whole tables of metrics at several cut-offs, overall and per group of users.

>>> import numpy as np
>>> import scipy.sparse as sp
>>> recs = np.array([[0, 1], [2, 0], [1, 2]])
>>> relevant = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0], [0, 0, 0]]))
>>> report = evaluate(recs, relevant, ks=[1, 2])
>>> report["precision@1"], report["recall@2"], report.n_evaluated
(0.5, 1.0, 2)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from tastemaker.evaluation._checks import (
    BoolArray,
    Csr,
    FloatArray,
    IntArray,
    Relevance,
    SparseMatrix,
    check_item_tags,
    check_ks,
    check_recommendations,
    check_relevance,
    invalid,
)
from tastemaker.evaluation.beyond_accuracy import (
    DiversityMeasure,
    check_measure,
    coverage_table,
    diversity_table,
    novelty_table,
    self_information,
)
from tastemaker.evaluation.metrics import accuracy_table, user_mean

__all__ = [
    "ACTIVITY_LABELS",
    "ACTIVITY_THRESHOLDS",
    "MetricReport",
    "activity_buckets",
    "evaluate",
    "evaluate_groups",
    "reports_frame",
]

ACTIVITY_THRESHOLDS = (5, 20)
"""Training interactions that start the ``warm`` and the ``heavy`` bucket."""

ACTIVITY_LABELS = ("cold", "warm", "heavy")
"""Buckets of :func:`activity_buckets`: < 5, 5-19 and >= 20 training interactions."""


@dataclass(frozen=True)
class MetricReport:
    """Mean of every computed metric at every cut-off, for one population of users.

    Attributes
    ----------
    ks : tuple of int
        The cut-offs, ascending.
    values : mapping
        ``{metric: {k: mean}}``. Accuracy metrics average over users with at least one relevant
        item; novelty and diversity over users for whom they are defined; ``coverage`` is one
        catalog-level value. ``NaN`` when no user qualifies.
    n_users : int
        Users (rows of the recommendations) in the population.
    n_evaluated : int
        Of those, users with at least one relevant item (the accuracy population).
    per_user : mapping or None
        ``{metric: {k: per-user array}}`` when requested (coverage has none).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> report = evaluate(np.array([[0, 1]]), sp.csr_matrix(np.array([[0, 1]])), ks=[1, 2])
    >>> report.as_dict()["ndcg@2"] == report["ndcg@2"]
    True
    >>> report.to_frame()[["precision", "hit_rate"]]  # doctest: +NORMALIZE_WHITESPACE
       precision  hit_rate
    k
    1        0.0       0.0
    2        0.5       1.0
    """

    ks: tuple[int, ...]
    values: Mapping[str, Mapping[int, float]]
    n_users: int
    n_evaluated: int
    per_user: Mapping[str, Mapping[int, FloatArray]] | None = field(
        default=None, repr=False, compare=False
    )

    def __getitem__(self, key: str) -> float:
        """The mean of ``"metric@k"``, e.g. ``report["ndcg@10"]``."""
        name, _, k = key.partition("@")
        try:
            return self.values[name][int(k)]
        except (KeyError, ValueError):
            raise KeyError(f"no metric {key!r}; have {sorted(self.as_dict())}") from None

    def as_dict(self) -> dict[str, float]:
        """Flat ``{"metric@k": mean}``, e.g. for logging or a quality gate."""
        return {f"{name}@{k}": v for name, per_k in self.values.items() for k, v in per_k.items()}

    def to_frame(self) -> pd.DataFrame:
        """One row per cut-off (index ``k``), one column per metric."""
        frame = pd.DataFrame({name: dict(per_k) for name, per_k in self.values.items()})
        frame.index.name = "k"
        return frame


def evaluate(
    recommendations: npt.ArrayLike,
    relevant: SparseMatrix,
    ks: int | Iterable[int] = (10,),
    *,
    item_popularity: npt.ArrayLike | None = None,
    popularity_total: float | None = None,
    item_tags: SparseMatrix | None = None,
    diversity: DiversityMeasure = "jaccard",
    catalog_size: int | None = None,
    per_user: bool = False,
) -> MetricReport:
    """Compute every metric at every cut-off in one pass.

    Always computes precision, recall, ndcg, map, mrr, hit_rate (see
    :mod:`tastemaker.evaluation.metrics`) and catalog ``coverage``; ``novelty`` when
    ``item_popularity`` is given and ``diversity`` when ``item_tags`` is given.

    Parameters
    ----------
    recommendations : array_like of int, shape (n_users, K_max)
        Item indices per user, best first; ``-1`` for an empty slot.
    relevant : scipy.sparse matrix, shape (n_users, n_items)
        Non-zero where the item is relevant (held out) for the user.
    ks : int or iterable of int, default (10,)
        Cut-offs.
    item_popularity : array_like, shape (n_items,), optional
        Training interactions per item, for novelty.
    popularity_total : float, optional
        Denominator of the popularity share (see :func:`~.beyond_accuracy.novelty`).
    item_tags : scipy.sparse matrix, shape (n_items, n_tags), optional
        Tag weights per item, for intra-list diversity.
    diversity : {"jaccard", "cosine"}, default "jaccard"
        Tag similarity behind intra-list diversity.
    catalog_size : int, optional
        Denominator of coverage; ``n_items`` when omitted. Pass the number of recommendable
        items when the index also holds items that may not be recommended. Coverage is not
        clipped, so it exceeds 1 if the lists hold more distinct items than this.
    per_user : bool, default False
        Keep the per-user arrays in :attr:`MetricReport.per_user`.

    Returns
    -------
    MetricReport

    Raises
    ------
    tastemaker.errors.InvalidInput
        An input has the wrong shape, type or range.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> recs = np.array([[0, 1], [1, 2]])
    >>> relevant = sp.csr_matrix(np.array([[0, 1, 0], [0, 1, 1]]))
    >>> report = evaluate(recs, relevant, ks=2, item_popularity=[2, 1, 1])
    >>> report["map@2"], report["coverage@2"], report["novelty@2"]
    (0.75, 1.0, 1.75)
    """
    inputs = _Inputs.build(
        recommendations, relevant, ks, item_popularity, popularity_total, item_tags, catalog_size
    )
    values = inputs.per_user_values(diversity)
    return _summarize(inputs, values, np.ones(inputs.rel.n_users, dtype=np.bool_), per_user)


def evaluate_groups(
    recommendations: npt.ArrayLike,
    relevant: SparseMatrix,
    groups: npt.ArrayLike | Sequence[object] | pd.Categorical | pd.Series,
    ks: int | Iterable[int] = (10,),
    *,
    item_popularity: npt.ArrayLike | None = None,
    popularity_total: float | None = None,
    item_tags: SparseMatrix | None = None,
    diversity: DiversityMeasure = "jaccard",
    catalog_size: int | None = None,
) -> dict[Hashable, MetricReport]:
    """:func:`evaluate` separately for each group of users.

    Per-user metrics are computed once and averaged within each group; coverage is computed on
    each group's own lists (so group coverages do not add up to the overall coverage).

    Parameters
    ----------
    groups : array_like, shape (n_users,)
        One label per user (a segment id, an :func:`activity_buckets` bucket ...). Users with a
        missing label belong to no group.
    recommendations, relevant, ks
        As for :func:`evaluate`.
    item_popularity, popularity_total, item_tags, diversity, catalog_size
        As for :func:`evaluate`.

    Returns
    -------
    dict
        ``{label: MetricReport}``, in category order for a categorical ``groups`` and sorted
        otherwise; only labels that occur.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> recs = np.array([[0, 1], [1, 0], [2, 1]])
    >>> relevant = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0]]))
    >>> buckets = activity_buckets([2, 30, 40])
    >>> by_bucket = evaluate_groups(recs, relevant, buckets, ks=1)
    >>> {label: r["hit_rate@1"] for label, r in by_bucket.items()}
    {'cold': 1.0, 'heavy': 0.0}
    """
    inputs = _Inputs.build(
        recommendations, relevant, ks, item_popularity, popularity_total, item_tags, catalog_size
    )
    codes, uniques = _factorize_groups(groups, inputs.rel.n_users)
    values = inputs.per_user_values(diversity)
    out: dict[Hashable, MetricReport] = {}
    for code, label in enumerate(uniques):
        member = codes == code
        if member.any():
            out[label] = _summarize(inputs, values, member, per_user=False)
    return out


def activity_buckets(
    train_counts: npt.ArrayLike,
    thresholds: Sequence[int] = ACTIVITY_THRESHOLDS,
    labels: Sequence[str] = ACTIVITY_LABELS,
) -> pd.Categorical[str]:
    """Bucket users by how many training interactions they have.

    With the defaults a user is ``cold`` below 5 training interactions, ``warm`` from 5 to 19
    and ``heavy`` from 20 on; ``thresholds[i]`` is the first count of ``labels[i + 1]``.

    Parameters
    ----------
    train_counts : array_like of int, shape (n_users,)
        Training interactions per user (see :func:`tastemaker.evaluation.user_activity`).
    thresholds : sequence of int, default (5, 20)
        Strictly increasing.
    labels : sequence of str, default ("cold", "warm", "heavy")
        One more label than thresholds.

    Returns
    -------
    pandas.Categorical
        Ordered, with ``labels`` as its categories.

    Examples
    --------
    >>> activity_buckets([0, 4, 5, 19, 20]).tolist()
    ['cold', 'cold', 'warm', 'warm', 'heavy']
    """
    edges = np.asarray(thresholds, dtype=np.float64)
    if len(labels) != len(edges) + 1:
        raise invalid("labels", f"need {len(edges) + 1} labels for {len(edges)} thresholds")
    if np.any(np.diff(edges) <= 0):
        raise invalid("thresholds", f"must be strictly increasing, got {list(thresholds)}")
    counts = np.asarray(train_counts, dtype=np.float64)
    if counts.ndim != 1:
        raise invalid("train_counts", f"must be 1-D, got shape {counts.shape}")
    codes = np.searchsorted(edges, counts, side="right")
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(labels)), ordered=True)


def reports_frame(reports: Mapping[Hashable, MetricReport]) -> pd.DataFrame:
    """One row per group, with user counts and one ``"metric@k"`` column per mean.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> relevant = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    >>> reports = evaluate_groups(np.array([[0], [0]]), relevant, ["a", "b"], ks=1)
    >>> reports_frame(reports)[["n_users", "precision@1"]]  # doctest: +NORMALIZE_WHITESPACE
           n_users  precision@1
    group
    a            1          1.0
    b            1          0.0
    """
    rows = {
        label: {"n_users": r.n_users, "n_evaluated": r.n_evaluated, **r.as_dict()}
        for label, r in reports.items()
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "group"
    return frame


@dataclass(frozen=True)
class _Inputs:
    """Validated inputs of one evaluation."""

    recs: IntArray
    rel: Relevance
    ks: tuple[int, ...]
    catalog_size: int
    info: FloatArray | None
    tags: Csr | None

    @classmethod
    def build(
        cls,
        recommendations: npt.ArrayLike,
        relevant: SparseMatrix,
        ks: int | Iterable[int],
        item_popularity: npt.ArrayLike | None,
        popularity_total: float | None,
        item_tags: SparseMatrix | None,
        catalog_size: int | None,
    ) -> _Inputs:
        cutoffs = check_ks(ks)
        rel = check_relevance(relevant)
        recs = check_recommendations(recommendations, rel.n_items, rel.n_users, k=max(cutoffs))
        size = rel.n_items if catalog_size is None else catalog_size
        if size < 1:
            raise invalid("catalog_size", f"must be positive, got {size}")
        info = None
        if item_popularity is not None:
            info = self_information(item_popularity, popularity_total)
            if info.shape != (rel.n_items,):
                raise invalid("item_popularity", f"need one count per item ({rel.n_items})")
        tags = None if item_tags is None else check_item_tags(item_tags, rel.n_items)
        return cls(recs, rel, cutoffs, size, info, tags)

    def per_user_values(self, diversity: DiversityMeasure) -> dict[str, dict[int, FloatArray]]:
        check_measure(diversity)
        values = accuracy_table(self.recs, self.rel, self.ks)
        if self.info is not None:
            values["novelty"] = novelty_table(self.recs, self.info, self.ks)
        if self.tags is not None:
            values["diversity"] = diversity_table(self.recs, self.tags, self.ks, diversity)
        return values


def _summarize(
    inputs: _Inputs,
    values: Mapping[str, Mapping[int, FloatArray]],
    member: BoolArray,
    per_user: bool,
) -> MetricReport:
    means: dict[str, dict[int, float]] = {
        name: {k: user_mean(array[member]) for k, array in per_k.items()}
        for name, per_k in values.items()
    }
    means["coverage"] = coverage_table(inputs.recs[member], inputs.catalog_size, inputs.ks)
    return MetricReport(
        ks=inputs.ks,
        values=means,
        n_users=int(member.sum()),
        n_evaluated=int((inputs.rel.counts[member] > 0).sum()),
        per_user=values if per_user else None,
    )


def _factorize_groups(
    groups: npt.ArrayLike | Sequence[object] | pd.Categorical | pd.Series, n_users: int
) -> tuple[IntArray, list[Hashable]]:
    """Codes (-1 for a missing label) and labels; categories keep their own order."""
    values = groups if isinstance(groups, pd.Categorical | pd.Series) else np.asarray(groups)
    if np.ndim(values) != 1 or len(values) != n_users:
        raise invalid(
            "groups", f"need one label per user ({n_users}), got shape {np.shape(values)}"
        )
    codes, uniques = pd.factorize(values, sort=True)
    return np.asarray(codes, dtype=np.int64), [_plain(label) for label in uniques]


def _plain(label: object) -> Hashable:
    """A numpy scalar label as the equal Python scalar, so ``report[1]`` finds segment 1."""
    if isinstance(label, np.generic):
        plain: Hashable = label.item()
        return plain
    assert isinstance(label, Hashable)
    return label
