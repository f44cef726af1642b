"""What a user can be shown or will pick at a given moment: weighted item pools.

An item's weight at time ``t`` is its base popularity (Zipf inside its category) times its
recency (halving every ``half_life_days`` of its category, plus a small evergreen floor), and zero
before publication and close to expiry. A user's pool first picks a category by the user's
category shares and then an item inside it by weight, boosted on the user's favourite leaves:
picking the category first keeps the user's category mix exact even when one hit item dominates
its category and has already been read.
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
import numpy.typing as npt

from tastemaker.catalog.sample.catalog import DAY_MS, Catalog
from tastemaker.catalog.sample.draws import Picker

RECENCY_FLOOR = 0.03
"""Old items keep this fraction of their popularity (evergreen traffic from search)."""
EXPIRY_MARGIN_MS = 6 * 3_600_000
"""Items expiring within this margin are no longer shown, so no session outlives them."""
FAVOURITE_BOOST = 4.0
"""How much more a user reads of a favourite leaf than of another leaf of the same category."""
_QUICK_TRIES = 4

Floats = npt.NDArray[np.float64]


class Pool:
    """Items weighted for drawing: a category by ``category_weights``, then an item by weight.

    ``weights`` is indexed like the catalog; ``order`` lists the item indices grouped by
    category and ``bounds[c]:bounds[c + 1]`` is category ``c``'s slice of it.
    """

    def __init__(
        self,
        weights: Floats,
        category_weights: Floats | None,
        order: npt.NDArray[np.int64],
        bounds: npt.NDArray[np.int64],
    ) -> None:
        self._order = order
        self._bounds = bounds
        self._cdf = np.cumsum(weights[order])
        edges = np.concatenate(([0.0], self._cdf))[bounds]
        mass = np.diff(edges)
        self._base = edges[:-1]
        self._mass = mass
        if category_weights is None:
            category_weights = mass
        self._categories = np.cumsum(np.where(mass > 0, category_weights, 0.0))

    @property
    def empty(self) -> bool:
        return bool(self._categories[-1] <= 0)

    def draw(self, p: Picker, exclude: Set[int] = frozenset()) -> int | None:
        """One item index, never one in ``exclude``; ``None`` if nothing is left to draw."""
        categories = self._categories
        while categories[-1] > 0:
            u = p.uniform() * categories[-1]
            c = min(int(np.searchsorted(categories, u, "right")), len(self._mass) - 1)
            item = self._draw_in(c, p, exclude)
            if item is not None:
                return item
            # Everything of this category was excluded: draw among the other categories.
            weights = np.diff(categories, prepend=0.0)
            weights[c] = 0.0
            categories = np.cumsum(weights)
        return None

    def _draw_in(self, c: int, p: Picker, exclude: Set[int]) -> int | None:
        lo, hi = int(self._bounds[c]), int(self._bounds[c + 1])
        for _ in range(_QUICK_TRIES):
            x = self._base[c] + p.uniform() * self._mass[c]
            pos = min(int(np.searchsorted(self._cdf, x, "right")), hi - 1)
            item = int(self._order[pos])
            if item not in exclude:
                return item
        # A few hits dominate the category and were excluded: draw again without them.
        members = self._order[lo:hi]
        w = np.diff(self._cdf[lo:hi], prepend=self._base[c])
        w[np.isin(members, list(exclude))] = 0.0
        total = float(w.sum())
        if total <= 0:
            return None
        pos = int(np.searchsorted(np.cumsum(w), p.uniform() * total, "right"))
        return int(members[min(pos, len(members) - 1)])


class ItemPools:
    """Builds the pools of a moment for a user from the catalog's columns."""

    def __init__(self, catalog: Catalog, n_categories: int) -> None:
        self._c = catalog
        self._order = np.argsort(catalog.category, kind="stable").astype(np.int64)
        self._bounds = np.searchsorted(
            catalog.category[self._order], np.arange(n_categories + 1)
        ).astype(np.int64)

    def weights(self, t_ms: int) -> Floats:
        """Every item's weight at ``t_ms`` (milliseconds into the window)."""
        c = self._c
        alive = (c.published_ms <= t_ms) & (c.expires_ms > t_ms + EXPIRY_MARGIN_MS)
        age_days = (t_ms - c.published_ms) / DAY_MS
        recency = RECENCY_FLOOR + np.exp2(-np.maximum(age_days, 0.0) / c.half_life_days)
        return np.asarray(c.popularity * recency * alive, dtype=np.float64)

    def at(
        self, t_ms: int, taste: Floats, favourites: npt.NDArray[np.int64]
    ) -> tuple[Pool, Pool, Pool]:
        """Pools at ``t_ms``: popular (what placements show everybody), the user's pick among
        recommendable items, and the user's pick among all items (direct visits)."""
        any_item = self.weights(t_ms)
        recommendable = any_item * self._c.recommendable
        boost = np.where(np.isin(self._c.leaf, favourites), FAVOURITE_BOOST, 1.0)
        return (
            Pool(recommendable, None, self._order, self._bounds),
            Pool(recommendable * boost, taste, self._order, self._bounds),
            Pool(any_item * boost, taste, self._order, self._bounds),
        )
