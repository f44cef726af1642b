"""Diversity by maximal marginal relevance (Carbonell & Goldstein, 1998).

Each next position takes the candidate maximizing
``(1 - λ) · relevance - λ · max similarity to the items already placed``, with relevance the
ranking score scaled to [0, 1] and similarity the Jaccard overlap of the items' tag trees (an
item tagged ``Tech > Phones`` shares ``Tech`` with one tagged ``Tech > Laptops``) or the cosine
of their content embeddings.

Examples
--------
>>> import numpy as np
>>> sim = np.array([[1, .9, 0], [.9, 1, 0], [0, 0, 1]])
>>> mmr(np.array([1.0, 0.9, 0.6]), sim, strength=0.0, n=3)
[0, 1, 2]
>>> mmr(np.array([1.0, 0.9, 0.6]), sim, strength=0.6, n=3)   # 1 is almost a copy of 0
[0, 2, 1]
"""

from __future__ import annotations

import numpy as np


def mmr(relevance: np.ndarray, similarity: np.ndarray, strength: float, n: int) -> list[int]:
    """Indices of ``n`` items in MMR order; ``strength`` 0 keeps the relevance order."""
    count = len(relevance)
    n = min(n, count)
    if count == 0:
        return []
    rel = relevance.astype(np.float64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones(count)
    chosen: list[int] = []
    closest = np.zeros(count)  # max similarity of each candidate to the chosen ones
    free = np.ones(count, dtype=bool)
    for _ in range(n):
        value = (1 - strength) * rel - strength * closest
        value[~free] = -np.inf
        tied = np.flatnonzero(value == value.max())  # e.g. all at strength 1: relevance decides
        best = int(tied[np.argmax(rel[tied])])
        chosen.append(best)
        free[best] = False
        closest = np.maximum(closest, similarity[best])
    return chosen
