"""The one base class of every recommender (template method).

The public methods map ids, restrict candidates, filter seen and negative items, fall back for
cold users and shape results — once, here. A model writes only ``_fit`` and its scoring on
internal integer indices.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, ValidationError

from tastemaker.catalog.columns import Columns
from tastemaker.errors import ConfigurationError, FieldProblem, InvalidInput, NotFittedError
from tastemaker.models.data import Dataset

FORMAT_VERSION = 1

NEIGHBOURS_KEPT = 128
"""Neighbours :meth:`Recommender.similar_to_any` keeps per item (more when asked for more)."""
NEIGHBOUR_LISTS_KEPT = 20_000
"""Items whose neighbour lists one model keeps (~1.5 KB each at 128), then it starts over."""


class ModelConfig(BaseModel):
    """Hyper-parameters of a model: typed, frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ItemFilter:
    """Which items may be recommended besides the model's own judgement.

    ``include_tags``/``exclude_tags`` are tag paths; a subtree matches (``Tech`` matches
    ``Tech > Phones``). ``exclude_items`` lists item ids. Items flagged not recommendable are
    always excluded unless ``only_recommendable`` is false.
    """

    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    exclude_items: tuple[str, ...] = ()
    only_recommendable: bool = True


ConfigT = TypeVar("ConfigT", bound=ModelConfig)
AnyConfig = TypeVar("AnyConfig", bound=BaseModel)


def build_config(config_type: type[AnyConfig], params: dict[str, Any], what: str) -> AnyConfig:
    """``config_type(**params)``, with every validation problem named in one ConfigurationError.

    >>> build_config(ModelConfig, {"l2": 1}, "ease")
    Traceback (most recent call last):
    ...
    tastemaker.errors.ConfigurationError: invalid ease parameters: l2: Extra inputs are not ...
    """
    try:
        return config_type(**params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid {what} parameters: {problems}") from exc


class Recommender(ABC, Generic[ConfigT]):
    """Base of every recommender, generic over its config type (``self.config`` is typed).

    Subclasses set ``name`` and ``Config`` and implement :meth:`_fit`, :meth:`_score` and
    :meth:`_state`/:meth:`_load_state`; :meth:`_similar` when they can compare items.
    """

    name: ClassVar[str]
    Config: ClassVar[type[ModelConfig]]
    folds_in: ClassVar[bool] = True
    """Whether new events change a user's scores without retraining."""
    personalized: ClassVar[bool] = True
    """Whether users get lists of their own (popularity: no)."""

    @classmethod
    def compares_items(cls) -> bool:
        """Whether :meth:`similar_items` is supported."""
        return cls._similar is not Recommender._similar

    config: ConfigT

    def __init__(self, config: ConfigT | None = None, **params: Any) -> None:
        if config is not None and params:
            raise TypeError("pass either a config or keyword parameters, not both")
        if config is None:
            config = cast(ConfigT, build_config(self.Config, params, self.name))
        self.config = config
        self.data_: Dataset | None = None
        self._extra: dict[str, dict[int, float]] = {}
        self._extra_neg: dict[str, dict[int, float]] = {}
        self._allowed_memo: dict[ItemFilter | None, np.ndarray] = {}
        self._blocked_memo: dict[ItemFilter | None, np.ndarray] = {}
        self._order_memo: tuple[np.ndarray, np.ndarray] | None = None
        self._neighbour_memo: dict[
            tuple[int, ItemFilter | None], tuple[np.ndarray, np.ndarray, int]
        ] = {}

    # --- configuration ---------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        return {"model": self.name, "params": self.config.model_dump(mode="json")}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        if config.get("model") != cls.name:
            raise ValueError(f"config is for {config.get('model')!r}, not {cls.name!r}")
        return cls(cast(ConfigT, cls.Config.model_validate(config.get("params", {}))))

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, data: Dataset) -> Self:
        """Learn from ``data`` from scratch; returns ``self``."""
        self.data_ = data
        self._extra = {}
        self._extra_neg = {}
        self._allowed_memo = {}
        self._blocked_memo = {}
        self._neighbour_memo = {}
        pop = np.asarray(data.positives.getnnz(axis=0), dtype=np.float32)
        self.popularity_ = pop
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, data: Dataset) -> None: ...

    @property
    def data(self) -> Dataset:
        if self.data_ is None:
            raise NotFittedError(f"{self.name} is not fitted: call fit() first or load a version")
        return self.data_

    # --- fold-in ---------------------------------------------------------------------------

    def fold_in(self, user_id: str, item_ids: Sequence[str], weights: Sequence[float]) -> None:
        """Add a user's new interactions (negative weight = explicit negative).

        Items unknown to the model are ignored. The next :meth:`recommend` reflects them.
        """
        data = self.data
        idx = data.item_index(item_ids)
        pos = self._extra.setdefault(user_id, {})
        neg = self._extra_neg.setdefault(user_id, {})
        for i, w in zip(idx.tolist(), weights, strict=True):
            if i < 0 or w == 0:
                continue
            target = pos if w > 0 else neg
            target[i] = target.get(i, 0.0) + abs(float(w))

    def _rows(
        self,
        user_ids: Sequence[str],
        uidx: np.ndarray,
        histories: Mapping[str, Mapping[str, float]] | None = None,
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        data = self.data
        n = len(user_ids)
        known = uidx >= 0
        sel = np.where(known, uidx, 0)
        pos = data.positives[sel]
        neg = data.negatives[sel]
        if not known.all():  # unknown users' rows are empty (row 0 stood in for them)
            mask = sp.diags(known.astype(np.float32))
            pos = (mask @ pos).tocsr()
            neg = (mask @ neg).tocsr()
        extra, extra_neg = self._extra, self._extra_neg
        if histories:
            extra, extra_neg = self._with_histories(user_ids, histories)
        if extra or extra_neg:
            pos = (pos + self._extra_matrix(user_ids, extra, n)).tocsr()
            neg = (neg + self._extra_matrix(user_ids, extra_neg, n)).tocsr()
        return pos, neg

    def _with_histories(
        self, user_ids: Sequence[str], histories: Mapping[str, Mapping[str, float]]
    ) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, float]]]:
        """The folded-in rows of ``user_ids`` plus their request-time ``histories``, without
        changing the model (concurrent requests share it)."""
        pos: dict[str, dict[int, float]] = {}
        neg: dict[str, dict[int, float]] = {}
        for u in user_ids:
            p = dict(self._extra.get(u, {}))
            q = dict(self._extra_neg.get(u, {}))
            history = histories.get(u)
            if history:
                ids = list(history)
                for i, w in zip(self.data.item_index(ids).tolist(), history.values(), strict=True):
                    if i < 0 or w == 0:
                        continue
                    target = p if w > 0 else q
                    target[i] = target.get(i, 0.0) + abs(float(w))
            if p:
                pos[u] = p
            if q:
                neg[u] = q
        return pos, neg

    def _extra_matrix(
        self, user_ids: Sequence[str], extra: Mapping[str, dict[int, float]], n: int
    ) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for r, u in enumerate(user_ids):
            for i, w in extra.get(u, {}).items():
                rows.append(r)
                cols.append(i)
                vals.append(w)
        return sp.csr_matrix(
            (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(n, self.data.n_items)
        )

    # --- recommending ----------------------------------------------------------------------

    @abstractmethod
    def _score(
        self,
        users: np.ndarray,
        positives: sp.csr_matrix,
        negatives: sp.csr_matrix,
        folded: np.ndarray,
    ) -> np.ndarray:
        """Scores ``(len(users), n_items)``, higher is better.

        ``users`` are internal indices (``-1`` for users not seen in training), ``positives`` and
        ``negatives`` their current interaction rows including folded-in events, ``folded`` marks
        users whose rows changed since training. Rows of users without any interaction are
        never asked for.
        """

    def recommend(
        self,
        user_ids: Sequence[str],
        k: int,
        *,
        exclude_seen: bool = True,
        items: Sequence[str] | None = None,
        filters: ItemFilter | None = None,
        histories: Mapping[str, Mapping[str, float]] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` items for each user: columns ``USER, ITEM, SCORE, RANK``.

        Users without history get the most popular allowed items. Explicit negatives are never
        recommended; with ``exclude_seen`` neither is anything the user interacted with.
        ``items`` restricts the candidates. ``histories`` adds, for this call only, interactions
        the model has not seen (item id → feedback weight, negative for explicit negatives):
        how a server reflects a user's newest events without changing the shared model.
        """
        if k < 1:
            raise InvalidInput("k must be at least 1", [FieldProblem(field="k", reason="≥ 1")])
        data = self.data
        users = [str(u) for u in user_ids]
        uidx = data.user_index(users)
        allowed = self._allowed(items, filters)
        out: list[pd.DataFrame] = []
        for start in range(0, len(users), 1024):
            batch = users[start : start + 1024]
            out.append(
                self._recommend_batch(
                    batch, uidx[start : start + 1024], k, exclude_seen, allowed, histories
                )
            )
        if not out:
            return _frame([], [], [], [])
        return pd.concat(out, ignore_index=True)

    def recommend_one(
        self,
        user_id: str,
        k: int,
        *,
        exclude_seen: bool = True,
        filters: ItemFilter | None = None,
        history: Mapping[str, float] | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """:meth:`recommend` for one user, without building a data frame: ``(item ids,
        scores)``, best first. The serving path asks for one user per request, where the
        frame's cost would exceed the scoring's."""
        idx, scores = self.recommend_indices(
            user_id, k, exclude_seen=exclude_seen, filters=filters, history=history
        )
        return self.data.item_ids[idx].astype(str).tolist(), scores

    def recommend_indices(
        self,
        user_id: str,
        k: int,
        *,
        exclude_seen: bool = True,
        filters: ItemFilter | None = None,
        history: Mapping[str, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend_one` as the model's item indices (see ``data.item_ids``) and
        scores, best first: the serving path maps indices to its catalog without strings."""
        if k < 1:
            raise InvalidInput("k must be at least 1", [FieldProblem(field="k", reason="≥ 1")])
        user = str(user_id)
        uidx = int(self.data.user_index([user])[0])
        pos, neg, folded = self._row_one(user, uidx, history)
        if len(pos.cols):
            scores = np.array(self._score_one(uidx, pos, neg, folded), dtype=np.float32)
        else:
            scores = self.popularity_.astype(np.float32, copy=True)
        scores[self._blocked(filters)] = -np.inf
        scores[neg.cols] = -np.inf
        if exclude_seen:
            scores[pos.cols] = -np.inf
        return _top_k_1d(scores, k, self._popularity_order())

    def _score_one(self, uidx: int, pos: UserRow, neg: UserRow, folded: bool) -> np.ndarray:
        """:meth:`_score` for one user (``uidx`` is ``-1`` for a user not seen in training):
        a 1-D array. Models override it where scipy's per-call overhead on one-row matrices
        would exceed the arithmetic; the results must equal :meth:`_score`'s."""
        n = self.data.n_items
        scores: np.ndarray = self._score(
            np.array([uidx]), pos.csr(n), neg.csr(n), np.array([folded])
        )[0]
        return scores

    def _row_one(
        self, user: str, uidx: int, history: Mapping[str, float] | None
    ) -> tuple[UserRow, UserRow, bool]:
        """One user's positive and negative rows (as :meth:`_rows` builds them for a batch),
        read straight from the stored arrays, and whether anything was folded in."""
        data = self.data
        extra, extra_neg = self._extra.get(user), self._extra_neg.get(user)
        folded = bool(extra or extra_neg or history)
        if history:
            told, told_neg = self._with_histories([user], {user: history})
            extra, extra_neg = told.get(user), told_neg.get(user)
        return (
            UserRow.of(data.positives, uidx, extra),
            UserRow.of(data.negatives, uidx, extra_neg),
            folded,
        )

    def _popularity_order(self) -> np.ndarray:
        """Each item's position when sorted by popularity descending, then index: the
        tie-break of every list, as one integer key."""
        pop = self.popularity_
        memo = self._order_memo
        if memo is None or memo[0] is not pop:
            ranks = np.empty(len(pop), dtype=np.int64)
            ranks[np.lexsort((np.arange(len(pop)), -pop))] = np.arange(len(pop))
            memo = self._order_memo = (pop, ranks)
        return memo[1]

    def _blocked(self, filters: ItemFilter | None) -> np.ndarray:
        """Indices of the items ``filters`` rule out (kept per filter, like the mask)."""
        cache = self._blocked_memo
        blocked = cache.get(filters)
        if blocked is None:
            if len(cache) >= 256:
                cache.clear()
            blocked = cache[filters] = np.flatnonzero(~self._allowed_cached(filters))
        return blocked

    def _allowed_cached(self, filters: ItemFilter | None) -> np.ndarray:
        """:meth:`_allowed` for ``filters`` without a candidate list, kept per filter (a
        server asks for the same few again and again)."""
        cache = self._allowed_memo
        mask = cache.get(filters)
        if mask is None:
            if len(cache) >= 256:
                cache.clear()
            mask = cache[filters] = self._allowed(None, filters)
        return mask

    def _recommend_batch(
        self,
        users: list[str],
        uidx: np.ndarray,
        k: int,
        exclude_seen: bool,
        allowed: np.ndarray,
        histories: Mapping[str, Mapping[str, float]] | None = None,
    ) -> pd.DataFrame:
        data = self.data
        pos, neg = self._rows(users, uidx, histories)
        has_history = np.asarray((pos.getnnz(axis=1) + neg.getnnz(axis=1)) > 0)
        told = histories or {}
        folded = np.fromiter(
            (u in self._extra or u in self._extra_neg or bool(told.get(u)) for u in users),
            dtype=bool,
            count=len(users),
        )
        scores = np.empty((len(users), data.n_items), dtype=np.float32)
        warm = np.flatnonzero(has_history & (pos.getnnz(axis=1) > 0))
        cold = np.setdiff1d(np.arange(len(users)), warm)
        if len(warm):
            scores[warm] = self._score(uidx[warm], pos[warm], neg[warm], folded[warm])
        if len(cold):
            scores[cold] = self.popularity_
        scores[:, ~allowed] = -np.inf
        # Negatives are never recommended back, whatever exclude_seen says.
        _mask(scores, neg)
        if exclude_seen:
            _mask(scores, pos)
        return _top_k(scores, users, data.item_ids, k, self.popularity_)

    def _allowed(self, items: Sequence[str] | None, filters: ItemFilter | None) -> np.ndarray:
        data = self.data
        allowed = np.ones(data.n_items, dtype=bool)
        if items is not None:
            allowed[:] = False
            idx = data.item_index(list(items))
            allowed[idx[idx >= 0]] = True
        f = filters or ItemFilter()
        feats = data.items
        if feats is not None:
            if f.only_recommendable:
                allowed &= feats.recommendable
            if f.include_tags or f.exclude_tags:
                names = feats.tag_names

                def hits(prefixes: tuple[str, ...]) -> np.ndarray:
                    cols = [
                        j
                        for j, n in enumerate(names)
                        if any(n == p or n.startswith(p + " > ") for p in prefixes)
                    ]
                    if not cols:
                        return np.zeros(data.n_items, dtype=bool)
                    return np.asarray(feats.tags[:, cols].getnnz(axis=1) > 0)

                if f.include_tags:
                    allowed &= hits(f.include_tags)
                if f.exclude_tags:
                    allowed &= ~hits(f.exclude_tags)
        if f.exclude_items:
            idx = data.item_index(list(f.exclude_items))
            allowed[idx[idx >= 0]] = False
        return allowed

    # --- similar items ---------------------------------------------------------------------

    def _similar(self, items: np.ndarray) -> np.ndarray:
        """Scores ``(len(items), n_items)`` of every item's similarity to each given item."""
        raise NotImplementedError(f"{self.name} cannot compare items")

    def similar_items(
        self, item_ids: Sequence[str], k: int, *, filters: ItemFilter | None = None
    ) -> pd.DataFrame:
        """The ``k`` items most similar to each given item (never the item itself).

        Columns ``ITEM`` (the query), ``"similar_item_id"``, ``SCORE``, ``RANK``. Unknown items
        get no rows.
        """
        found = self.similar_lists(item_ids, k, filters=filters)
        queries = [q for q, items, _ in found for _ in items]
        similar = [i for _, items, _ in found for i in items]
        scores = np.concatenate([s for _, _, s in found]) if found else np.zeros(0)
        ranks = [r + 1 for _, items, _ in found for r in range(len(items))]
        return pd.DataFrame(
            {
                Columns.ITEM: np.asarray(queries, dtype=object),
                SIMILAR: np.asarray(similar, dtype=object),
                Columns.SCORE: scores.astype(np.float32),
                Columns.RANK: np.asarray(ranks, dtype=np.int32),
            }
        )

    def similar_lists(
        self, item_ids: Sequence[str], k: int, *, filters: ItemFilter | None = None
    ) -> list[tuple[str, list[str], np.ndarray]]:
        """:meth:`similar_items` as ``(query, similar item ids, scores)`` per known query,
        without a data frame (the serving path)."""
        data = self.data
        idx = data.item_index([str(i) for i in item_ids])
        known = idx >= 0
        query = idx[known]
        if not len(query):
            return []
        scores = self._similar_scores(query, filters)
        names = [str(i) for i, ok in zip(item_ids, known, strict=True) if ok]
        out = []
        for r, name in enumerate(names):
            part, top = _top_k_1d(scores[r], k, self._popularity_order())
            out.append((name, data.item_ids[part].astype(str).tolist(), top))
        return out

    def similar_to_any(
        self, item_ids: Sequence[str], k: int, *, filters: ItemFilter | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` items most similar to any of ``item_ids`` (never one of them), by their
        best similarity: ``(item indices, scores, the query each was closest to)``, best
        first; ties go to the earlier query. Unknown queries are ignored.

        Each query's neighbour list is kept per model (a server asks about the same popular
        items again and again, as it asks for the same popular list): an item similarity does
        not change until the next model version.
        """
        idx = self.data.item_index([str(i) for i in item_ids])
        query = idx[idx >= 0]
        if not len(query):
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0, dtype=np.float32), empty
        # An item in the top k by best similarity is in the top k of the query it is closest
        # to, once the other queries (which are never proposed) are set aside.
        lists = [self._neighbours(int(q), k + len(query), filters) for q in query]
        items = np.concatenate([i for i, _ in lists])
        scores = np.concatenate([s for _, s in lists])
        closest = np.repeat(query, [len(i) for i, _ in lists])
        keep = ~np.isin(items, query)
        items, scores, closest = items[keep], scores[keep], closest[keep]
        # Best first (ties: more popular, lower index, then the earlier query), once per item.
        order = np.lexsort((self._popularity_order()[items], -scores))
        items, scores, closest = items[order], scores[order], closest[order]
        _, first = np.unique(items, return_index=True)
        best = np.sort(first)[:k]
        return items[best], scores[best], closest[best]

    def _neighbours(
        self, item: int, k: int, filters: ItemFilter | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``item``'s ``k`` most similar items (:meth:`similar_lists`' order), remembered."""
        memo = self._neighbour_memo
        found = memo.get((item, filters))
        # Recomputed when a longer list is wanted than the kept one, unless that one already
        # held every item there is.
        if found is None or (found[2] < k and len(found[0]) == found[2]):
            want = max(k, NEIGHBOURS_KEPT)
            part, top = _top_k_1d(
                self._similar_scores(np.array([item]), filters)[0], want, self._popularity_order()
            )
            if len(memo) >= NEIGHBOUR_LISTS_KEPT:
                memo.clear()
            found = memo[(item, filters)] = (part, top, want)
        return found[0][:k], found[1][:k]

    def _similar_scores(self, query: np.ndarray, filters: ItemFilter | None) -> np.ndarray:
        scores = np.array(self._similar(query), dtype=np.float32)
        scores[:, self._blocked(filters)] = -np.inf
        scores[np.arange(len(query)), query] = -np.inf
        return scores

    # --- persistence -----------------------------------------------------------------------

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """The learned arrays (no objects: they are saved without pickle)."""

    @abstractmethod
    def _load_state(self, arrays: dict[str, np.ndarray]) -> None: ...

    def to_bytes(self) -> bytes:
        """The fitted model as one ``.npz`` blob (numpy arrays and a JSON header, no pickle)."""
        data = self.data
        arrays: dict[str, np.ndarray] = {
            "__header__": np.frombuffer(
                json.dumps({"format": FORMAT_VERSION, **self.get_config()}).encode(), dtype=np.uint8
            ),
            "data.user_ids": data.user_ids,
            "data.item_ids": data.item_ids,
            "base.popularity": self.popularity_,
        }
        arrays.update(_sparse("data.positives", data.positives))
        arrays.update(_sparse("data.negatives", data.negatives))
        if data.items is not None:
            arrays.update(_item_arrays(data))
        for key, value in self._state().items():
            arrays[f"model.{key}"] = value
        buf = io.BytesIO()
        np.savez_compressed(buf, allow_pickle=False, **arrays)
        return buf.getvalue()

    @staticmethod
    def from_bytes(blob: bytes) -> Recommender[Any]:
        """Load any model saved by :meth:`to_bytes`."""
        from tastemaker.models.catalog import model_class

        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(arrays.pop("__header__").tobytes())
        if header.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported model format {header.get('format')!r}")
        cls = model_class(header["model"])
        model = cls.from_config(header)
        items = _load_items(arrays)
        data = Dataset(
            user_ids=arrays["data.user_ids"],
            item_ids=arrays["data.item_ids"],
            positives=_unsparse("data.positives", arrays),
            negatives=_unsparse("data.negatives", arrays),
            interactions=pd.DataFrame(
                {c: np.array([], dtype=np.int64) for c in Columns.INTERACTIONS}
            ),
            items=items,
        )
        model.data_ = data
        model.popularity_ = arrays["base.popularity"]
        model._load_state({k[6:]: v for k, v in arrays.items() if k.startswith("model.")})
        return model


SIMILAR = "similar_item_id"


def _frame(users: Any, items: Any, scores: Any, ranks: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {Columns.USER: users, Columns.ITEM: items, Columns.SCORE: scores, Columns.RANK: ranks}
    )


def _mask(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    r, c = rows.nonzero()
    scores[r, c] = -np.inf


def _top_k(
    scores: np.ndarray,
    keys: Sequence[str],
    item_ids: np.ndarray,
    k: int,
    popularity: np.ndarray,
) -> pd.DataFrame:
    """Top-k per row by score, ties broken by popularity then item index; ``-inf`` entries
    are never returned."""
    n = scores.shape[0]
    part, top = _top_k_indices(scores, k, popularity)
    if part.shape[1] == 0:
        return _frame([], [], [], [])
    valid = np.isfinite(top)
    rows = np.repeat(np.arange(n), part.shape[1]).reshape(n, part.shape[1])
    ranks = np.cumsum(valid, axis=1)
    keys_arr = np.asarray(keys, dtype=object)
    return _frame(
        keys_arr[rows[valid]],
        item_ids[part[valid]],
        top[valid].astype(np.float32),
        ranks[valid].astype(np.int32),
    )


def _top_k_indices(
    scores: np.ndarray, k: int, popularity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row the indices and scores of the top ``k`` (``-inf`` included, at the end), in
    the deterministic order: score descending, then popularity descending, then item index."""
    n, m = scores.shape
    kk = min(k, m)
    if kk == 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=scores.dtype)
    part = (
        np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        if kk < m
        else np.tile(np.arange(m), (n, 1))
    )
    top = np.take_along_axis(scores, part, axis=1)
    if kk < m:
        _settle_boundary_ties(scores, part, top, popularity)
    order = np.lexsort((part, -popularity[part], -top), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(top, order, axis=1)


def _settle_boundary_ties(
    scores: np.ndarray, part: np.ndarray, top: np.ndarray, popularity: np.ndarray
) -> None:
    """Make the choice among items tied at the k-th score deterministic (in place).

    ``argpartition`` picks arbitrarily among items tied with the k-th best score; here the most
    popular of them (then the lowest index) win, so a top-10 is always the start of the top-20.
    """
    kth = top.min(axis=1)
    ties_in = (top == kth[:, None]).sum(axis=1)
    ties_all = (scores == kth[:, None]).sum(axis=1)
    for r in np.flatnonzero((ties_all > ties_in) & np.isfinite(kth)):
        tied = np.flatnonzero(scores[r] == kth[r])
        chosen = tied[np.lexsort((tied, -popularity[tied]))][: ties_in[r]]
        slots = np.flatnonzero(top[r] == kth[r])
        part[r, slots] = chosen
        top[r, slots] = kth[r]


def signed_rows(
    positives: sp.csr_matrix, negatives: sp.csr_matrix, negative_weight: float, binary: bool
) -> sp.csr_matrix:
    """``positives − negative_weight × negatives`` as float32 CSR (weights 1 with ``binary``);
    a copy, and without the sparse subtraction when there are no negatives (the common case
    on the serving path, where scipy's overhead exceeds the arithmetic)."""
    pos = positives.astype(np.float32, copy=True)
    if binary:
        pos.data[:] = 1.0
    if not negatives.nnz or negative_weight == 0:
        return sp.csr_matrix(pos)
    neg = negatives.astype(np.float32, copy=True)
    if binary:
        neg.data[:] = 1.0
    return sp.csr_matrix(pos - negative_weight * neg)


def _top_k_1d(scores: np.ndarray, k: int, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_top_k_indices` of one row without its ``-inf`` entries: ``(indices, scores)``
    in the same deterministic order (score descending, then popularity descending, then
    index), where ``order`` is each item's position in (popularity descending, index) order
    (:meth:`Recommender._popularity_order`)."""
    m = len(scores)
    kk = min(k, m)
    if kk == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=scores.dtype)
    if kk < m:
        part = np.argpartition(-scores, kk - 1)[:kk]
        kth = scores[part].min()
        if np.isfinite(kth):
            tied_in = np.flatnonzero(scores[part] == kth)
            tied = np.flatnonzero(scores == kth)
            if len(tied) > len(tied_in):  # argpartition chose among the tied arbitrarily
                n = len(tied_in)
                part[tied_in] = tied[np.argpartition(order[tied], n - 1)[:n]]
    else:
        part = np.arange(m)
    part = part[np.lexsort((order[part], -scores[part]))]
    top = scores[part]
    valid = np.isfinite(top)
    return part[valid], top[valid]


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``starts[i] … starts[i] + lengths[i] − 1`` of every ``i``, concatenated."""
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))


def weighted_row_sum(matrix: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``Σ weights[i] · matrix[rows[i]]`` as a dense float64 vector, read from the stored
    arrays: one user's product with a sparse matrix, without scipy's per-call overhead (which
    exceeds that product's arithmetic)."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    at = ranges(starts, lengths)
    return np.bincount(
        matrix.indices[at],
        weights=np.repeat(weights, lengths) * matrix.data[at],
        minlength=matrix.shape[1],
    )


@dataclass(frozen=True)
class UserRow:
    """One user's interaction row: sorted unique columns and their float32 weights."""

    cols: np.ndarray
    vals: np.ndarray

    @classmethod
    def of(
        cls, matrix: sp.csr_matrix, row: int, extra: Mapping[int, float] | None = None
    ) -> UserRow:
        """Row ``row`` of ``matrix`` (empty for ``-1``) plus ``extra`` (column → weight),
        copied out of the matrix."""
        if row >= 0:
            lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
            cols = matrix.indices[lo:hi].astype(np.int32)
            vals = matrix.data[lo:hi].astype(np.float32)
        else:
            cols, vals = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        if extra:
            cols = np.concatenate([cols, np.fromiter(extra, dtype=np.int32, count=len(extra))])
            vals = np.concatenate(
                [vals, np.fromiter(extra.values(), dtype=np.float32, count=len(extra))]
            )
        return cls.summed(cols, vals)

    @classmethod
    def summed(cls, cols: np.ndarray, vals: np.ndarray) -> UserRow:
        """The row of ``cols``/``vals`` with repeated columns summed."""
        if len(cols) > 1 and not (np.diff(cols) > 0).all():
            cols, inverse = np.unique(cols, return_inverse=True)
            vals = np.bincount(inverse, weights=vals, minlength=len(cols))
        return cls(cols.astype(np.int32, copy=False), vals.astype(np.float32, copy=False))

    def csr(self, n_items: int) -> sp.csr_matrix:
        """The row as a 1 × ``n_items`` CSR matrix."""
        indptr = np.array([0, len(self.cols)], dtype=np.int32)
        return sp.csr_matrix((self.vals, self.cols, indptr), shape=(1, n_items), copy=False)

    def signed(self, negatives: UserRow, negative_weight: float, binary: bool) -> UserRow:
        """:func:`signed_rows` of one row: ``self − negative_weight × negatives``."""
        pos = np.ones_like(self.vals) if binary else self.vals
        if not len(negatives.cols) or negative_weight == 0:
            return UserRow(self.cols, pos)
        neg = np.ones_like(negatives.vals) if binary else negatives.vals
        return UserRow.summed(
            np.concatenate([self.cols, negatives.cols]),
            np.concatenate([pos, np.float32(-negative_weight) * neg]),
        )


def _sparse(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    m = m.tocsr()
    return {
        f"{prefix}.data": m.data,
        f"{prefix}.indices": m.indices,
        f"{prefix}.indptr": m.indptr,
        f"{prefix}.shape": np.asarray(m.shape, dtype=np.int64),
    }


def _unsparse(prefix: str, arrays: dict[str, np.ndarray]) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
        shape=(int(arrays[f"{prefix}.shape"][0]), int(arrays[f"{prefix}.shape"][1])),
    )
    m.sort_indices()  # a served user's row is then used as stored (UserRow.of)
    return m


def _item_arrays(data: Dataset) -> dict[str, np.ndarray]:
    f = data.items
    assert f is not None
    text = np.asarray(f.text, dtype=str)
    return {
        **_sparse("items.tags", f.tags),
        "items.tag_names": f.tag_names,
        "items.text": text,
        "items.authors": f.authors,
        "items.author_names": f.author_names,
        "items.sources": f.sources,
        "items.source_names": f.source_names,
        "items.published_at": f.published_at,
        "items.recommendable": f.recommendable,
    }


def _load_items(arrays: dict[str, np.ndarray]) -> Any:
    from tastemaker.models.data import ItemFeatures

    if "items.text" not in arrays:
        return None
    return ItemFeatures(
        tags=_unsparse("items.tags", arrays),
        tag_names=arrays["items.tag_names"],
        text=[str(t) for t in arrays["items.text"]],
        authors=arrays["items.authors"],
        author_names=arrays["items.author_names"],
        sources=arrays["items.sources"],
        source_names=arrays["items.source_names"],
        published_at=arrays["items.published_at"],
        recommendable=arrays["items.recommendable"],
    )
