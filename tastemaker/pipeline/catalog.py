"""The catalog as the serving pipeline reads it: one row per item, columns as arrays.

Rules, diversity and explanations test hundreds of candidates per request; looking each item up
in the store would cost a round trip per request. The catalog is read once at start, kept
current by item upserts and deletions (:meth:`ServingCatalog.put`/:meth:`discard`), and swapped
whole, never edited in place, so a request always sees one consistent version.

Examples
--------
>>> from tastemaker.catalog.items import Item
>>> cat = ServingCatalog.from_items([
...     Item(id="a", title="A", tags=["Tech > Phones"], author="Ann"),
...     Item(id="b", title="B", tags=["Sport"], recommendable=False),
... ])
>>> cat.matches(cat.index(["a", "b"]), tags=["Tech"]).tolist()
[True, False]
>>> cat.recommendable[cat.index(["b"])].tolist()
[False]
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from tastemaker.catalog.items import Item
from tastemaker.catalog.tags import tag_ancestors
from tastemaker.storage.types import to_micros

DENSE_TAG_NODES = 512
"""Up to this many distinct tag nodes the catalog keeps its item × node matrix dense."""

NO_TIME = -1
"""``published_at``/``expires_at`` of an item without one."""


@dataclass(frozen=True)
class ItemRow:
    """One item's serving metadata."""

    id: str
    title: str
    tags: tuple[str, ...]
    nodes: frozenset[str]
    """The tags and all their ancestors: what a subtree filter and tag diversity compare."""
    author: str | None
    source: str | None
    published_at: int
    expires_at: int
    recommendable: bool
    properties: dict[str, Any]

    @classmethod
    def of(cls, item: Item) -> ItemRow:
        nodes = frozenset(node for tag in item.tags for node in tag_ancestors(tag))
        return cls(
            id=item.id,
            title=item.title,
            tags=tuple(item.tags),
            nodes=nodes,
            author=item.author,
            source=item.source,
            published_at=NO_TIME if item.published_at is None else to_micros(item.published_at),
            expires_at=NO_TIME if item.expires_at is None else to_micros(item.expires_at),
            recommendable=item.recommendable,
            properties=dict(item.properties),
        )


class ServingCatalog:
    """An immutable snapshot of the catalog with per-item arrays.

    Attributes
    ----------
    ids : list[str]
        Item ids by row.
    rows : list[ItemRow]
        Item metadata by row.
    published_at, expires_at : numpy.ndarray
        Microseconds since the epoch, ``NO_TIME`` when unknown.
    recommendable : numpy.ndarray
        The items' recommendable flags.
    """

    def __init__(self, rows: Sequence[ItemRow]) -> None:
        self.rows = list(rows)
        self.ids = [r.id for r in self.rows]
        self.id_array = np.array(self.ids, dtype=object)
        """The ids as an object array: a request selects hundreds by row at once."""
        self._index = {r.id: i for i, r in enumerate(self.rows)}
        self.published_at = np.array([r.published_at for r in self.rows], dtype=np.int64)
        self.expires_at = np.array([r.expires_at for r in self.rows], dtype=np.int64)
        self.recommendable = np.array([r.recommendable for r in self.rows], dtype=bool)
        self._nodes: np.ndarray | sp.csr_matrix | None = None
        self._id_order: np.ndarray | None = None

    def tag_similarity(self, rows: np.ndarray) -> np.ndarray:
        """Pairwise Jaccard similarity of the tag trees of ``rows`` (see
        :mod:`tastemaker.pipeline.diversity`)."""
        nodes = self._tag_nodes()
        m = nodes[rows]
        if isinstance(m, np.ndarray):
            inter = (m @ m.T).astype(np.float64)
            sizes = m.sum(axis=1, dtype=np.float64)
        else:
            inter = np.asarray((m @ m.T).toarray(), dtype=np.float64)
            sizes = np.asarray(m.sum(axis=1)).ravel()
        union = sizes[:, None] + sizes[None, :] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, inter / union, 0.0)

    def _tag_nodes(self) -> np.ndarray | sp.csr_matrix:
        """Items × tag nodes (tags and their ancestors), 0/1: dense while the tree is small
        (a request's row selection and product are then plain numpy), sparse beyond."""
        if self._nodes is None:
            vocab: dict[str, int] = {}
            r_, c_ = [], []
            for r, item in enumerate(self.rows):
                for t in item.nodes:
                    r_.append(r)
                    c_.append(vocab.setdefault(t, len(vocab)))
            m = sp.csr_matrix(
                (np.ones(len(r_), dtype=np.float32), (r_, c_)),
                shape=(len(self.rows), max(len(vocab), 1)),
            )
            self._nodes = m.toarray() if m.shape[1] <= DENSE_TAG_NODES else m
        return self._nodes

    def id_order(self) -> np.ndarray:
        """Each row's position in the sorted item ids: ties broken "by id" with integers."""
        if self._id_order is None:
            ranks = np.empty(len(self.ids), dtype=np.int64)
            ranks[np.argsort(np.array(self.ids, dtype=object), kind="stable")] = np.arange(
                len(self.ids)
            )
            self._id_order = ranks
        return self._id_order

    @classmethod
    def from_items(cls, items: Iterable[Item]) -> ServingCatalog:
        return cls([ItemRow.of(i) for i in items])

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def index(self, item_ids: Iterable[str]) -> np.ndarray:
        """Rows of ``item_ids``; ``-1`` for items not in the catalog."""
        get = self._index.get
        return np.fromiter((get(i, -1) for i in item_ids), dtype=np.int64)

    def row(self, item_id: str) -> ItemRow | None:
        i = self._index.get(item_id)
        return None if i is None else self.rows[i]

    def matches(
        self,
        rows: np.ndarray,
        *,
        tags: Sequence[str] = (),
        authors: Sequence[str] = (),
        sources: Sequence[str] = (),
        properties: dict[str, list[Any]] | None = None,
    ) -> np.ndarray:
        """Which of ``rows`` match every given criterion (tag subtrees, authors, sources,
        property values); a criterion not given matches everything."""
        out = np.ones(len(rows), dtype=bool)
        wanted_tags = set(tags)
        author_set, source_set = set(authors), set(sources)
        props = list((properties or {}).items())
        for n, r in enumerate(rows.tolist()):
            out[n] = self._matches(self.rows[r], wanted_tags, author_set, source_set, props)
        return out

    @staticmethod
    def _matches(
        item: ItemRow,
        tags: set[str],
        authors: set[str],
        sources: set[str],
        properties: list[tuple[str, list[Any]]],
    ) -> bool:
        if tags and tags.isdisjoint(item.nodes):
            return False
        if authors and item.author not in authors:
            return False
        if sources and item.source not in sources:
            return False
        return all(item.properties.get(name) in values for name, values in properties)

    # --- versions ------------------------------------------------------------------------

    def with_items(self, items: Iterable[Item]) -> ServingCatalog:
        """A new catalog with ``items`` added or replaced."""
        rows = list(self.rows)
        index = dict(self._index)
        for item in items:
            row = ItemRow.of(item)
            at = index.get(item.id)
            if at is None:
                index[item.id] = len(rows)
                rows.append(row)
            else:
                rows[at] = row
        return ServingCatalog(rows)

    def without(self, item_id: str) -> ServingCatalog:
        """A new catalog without ``item_id``."""
        if item_id not in self._index:
            return self
        return ServingCatalog([r for r in self.rows if r.id != item_id])


class LiveCatalog:
    """The current :class:`ServingCatalog`, replaced atomically on every change."""

    def __init__(self, catalog: ServingCatalog | None = None) -> None:
        self.current = catalog or ServingCatalog([])
        self._lock = threading.Lock()

    def put(self, items: Iterable[Item]) -> None:
        with self._lock:
            self.current = self.current.with_items(items)

    def discard(self, item_id: str) -> None:
        with self._lock:
            self.current = self.current.without(item_id)
