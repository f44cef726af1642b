"""What profiles need to know about items: tags (with their ancestors), author and source.

The index is built once from the catalog (``store.snapshot.items()``) and kept current by
:meth:`ItemIndex.put` when items are upserted. Each item's tags are expanded once, here, so a
profile update costs one dictionary lookup and a loop over a handful of ``(tag, share)`` pairs.

Examples
--------
>>> from tastemaker.catalog.items import Item
>>> index = ItemIndex.from_items([Item(id="a1", title="Pixel", tags=["Tech > Phones > Android"],
...                                    author="Ann", source="Wire")])
>>> index.get("a1").tags
(('Tech > Phones > Android', 1.0), ('Tech > Phones', 0.5), ('Tech', 0.25))
>>> index.get("a1").author, "zz" in index
('Ann', False)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tastemaker.catalog.items import Item
from tastemaker.catalog.tags import tag_ancestors
from tastemaker.storage.base import DataStore


def expand_tags(tags: Iterable[str], parent_decay: float) -> tuple[tuple[str, float], ...]:
    """Each tag with share 1 and its ancestors with ``parent_decay`` per level up.

    A tag reached in several ways (an item tagged ``A > B`` and ``A > C`` reaches ``A`` twice)
    takes its largest share once: an interaction with one item never counts a tag twice.

    Examples
    --------
    >>> expand_tags(["A > B", "A > C > D"], 0.5)
    (('A > B', 1.0), ('A', 0.5), ('A > C > D', 1.0), ('A > C', 0.5))
    >>> expand_tags(["A > B"], 0.0)
    (('A > B', 1.0),)
    """
    shares: dict[str, float] = {}
    for tag in tags:
        share = 1.0
        for node in reversed(tag_ancestors(tag)):
            if share <= 0.0:
                break
            if shares.get(node, 0.0) < share:
                shares[node] = share
            share *= parent_decay
    return tuple(shares.items())


@dataclass(frozen=True, slots=True)
class ItemMeta:
    """One item as profiles see it.

    Attributes
    ----------
    tags
        ``(tag path, share)`` pairs: the item's own tags with share 1, their ancestors with less.
    author, source
        The item's author and source, if any.
    """

    tags: tuple[tuple[str, float], ...]
    author: str | None
    source: str | None


class ItemIndex:
    """Item id → :class:`ItemMeta`, safe to read while another thread updates it.

    Parameters
    ----------
    parent_decay
        Share of an interaction a tag's parent receives, per level up
        (``ProfileSettings.tag_parent_decay``).
    """

    def __init__(self, parent_decay: float = 0.5) -> None:
        if not 0.0 <= parent_decay <= 1.0:
            raise ValueError("parent_decay must lie in [0, 1]")
        self.parent_decay = parent_decay
        self._items: dict[str, ItemMeta] = {}

    @classmethod
    def from_items(cls, items: Iterable[Item], parent_decay: float = 0.5) -> ItemIndex:
        """An index of ``items``."""
        index = cls(parent_decay)
        index.put(items)
        return index

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, parent_decay: float = 0.5) -> ItemIndex:
        """An index of a catalog frame as ``store.snapshot.items()`` returns it (indexed by item
        id, with ``tags``, ``author`` and ``source`` columns)."""
        index = cls(parent_decay)
        index._items = index._from_frame(frame)
        return index

    def refresh(self, store: DataStore) -> int:
        """Re-read the whole catalog from ``store``; returns the number of items indexed.

        The new mapping replaces the old one at once, so readers never see a partial index.
        """
        self._items = self._from_frame(store.snapshot.items())
        return len(self._items)

    def _from_frame(self, frame: pd.DataFrame) -> dict[str, ItemMeta]:
        ids = [str(i) for i in frame.index]
        return {
            item_id: self._meta(tags, author, source)
            for item_id, tags, author, source in zip(
                ids,
                frame["tags"].tolist(),
                frame["author"].tolist(),
                frame["source"].tolist(),
                strict=True,
            )
        }

    def _meta(self, tags: Sequence[str] | None, author: Any, source: Any) -> ItemMeta:
        return ItemMeta(
            tags=expand_tags([str(t) for t in tags or ()], self.parent_decay),
            author=author if isinstance(author, str) and author else None,
            source=source if isinstance(source, str) and source else None,
        )

    def put(self, items: Iterable[Item]) -> None:
        """Add or replace items (call after they were upserted)."""
        for item in items:
            self._items[item.id] = self._meta(item.tags, item.author, item.source)

    def discard(self, item_id: str) -> None:
        """Forget an item (after it was deleted); unknown ids are ignored."""
        self._items.pop(item_id, None)

    def get(self, item_id: str) -> ItemMeta | None:
        """The item's metadata, or ``None`` if the index does not know it."""
        return self._items.get(item_id)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __len__(self) -> int:
        return len(self._items)
