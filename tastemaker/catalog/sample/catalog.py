"""The sample catalog: articles under the tag tree and products in the shop.

Besides the :class:`~tastemaker.catalog.items.Item` objects, :func:`make_catalog` returns the
columns the event simulation needs (category, publication time, base popularity …) as arrays
indexed like the item list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from tastemaker.catalog.items import Item
from tastemaker.catalog.sample.draws import Picker
from tastemaker.catalog.sample.taxonomy import (
    BRANDS,
    CATEGORIES,
    FIRST_NAMES,
    LAST_NAMES,
    PRICE_MEDIANS,
    SHOP,
    SHOP_SOURCE,
    SOURCES,
    Category,
    Leaf,
    all_leaves,
)

DAY_MS = 86_400_000
NEVER = np.iinfo(np.int64).max
ZIPF_EXPONENT = 1.05
"""Exponent of the base popularity inside a category: a few hits, a long tail."""

_ARTICLE_FORMATS: tuple[tuple[str, float, float], ...] = (
    ("article", 0.78, 650.0),
    ("video", 0.11, 180.0),
    ("gallery", 0.11, 240.0),
)
"""(format, share, median word count) of articles."""


@dataclass(frozen=True)
class Catalog:
    """The generated items and, aligned with them, the columns the simulation uses.

    Times are milliseconds since the start of the sample window; ``expires_ms`` is
    :data:`NEVER` for items that do not expire; ``price`` is NaN for articles.
    """

    items: list[Item]
    category: npt.NDArray[np.int64]
    leaf: npt.NDArray[np.int64]
    published_ms: npt.NDArray[np.int64]
    expires_ms: npt.NDArray[np.int64]
    popularity: npt.NDArray[np.float64]
    half_life_days: npt.NDArray[np.float64]
    recommendable: npt.NDArray[np.bool_]
    price: npt.NDArray[np.float64]
    word_count: npt.NDArray[np.int64]
    pages: list[str]
    authors: dict[str, tuple[str, ...]]


@dataclass
class _Draft:
    """An item's fields before it gets its id and times."""

    title: str
    sentences: list[str]
    words: int
    source: str
    author: str | None = None
    properties: dict[str, object] = field(default_factory=dict)
    recommendable: bool = True
    lifetime_ms: int | None = None
    price: float = float("nan")


def _title_case(words: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in words.split())


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article_title(p: Picker, c: Category, leaf: Leaf) -> str:
    a, k, n, n2, v = (
        p.pick(c.adjectives),
        p.pick(leaf.keywords),
        p.pick(c.nouns),
        p.pick(c.nouns),
        p.pick(c.verbs),
    )
    templates = (
        f"{a} {k} {n} {v} the {n2}",
        f"{k}: the {a} {n} {v} the {n2}",
        f"how the {a} {n} {v} {k}",
        f"why the {k} {n} {v} the {a} {n2}",
        f"{n} {v} the {a} {k} {n2}",
    )
    return _sentence(p.pick(templates))


def _article_sentence(p: Picker, c: Category, leaf: Leaf) -> str:
    a, k, n, n2, n3, v = (
        p.pick(c.adjectives),
        p.pick(leaf.keywords),
        p.pick(c.nouns),
        p.pick(c.nouns),
        p.pick(c.nouns),
        p.pick(c.verbs),
    )
    templates = (
        f"the {a} {n} {v} the {n2} as the {k} {n3} comes into focus.",
        f"{k} observers say the {n} {v} the {a} {n2}.",
        f"it is the most {a} {n} since the {n2} {v} the {k} {n3}.",
        f"readers who follow {k} expect the {a} {n} to matter for the {n2}.",
        f"the {n} around {k} remains {a}, while the {n2} {v} the {n3}.",
        f"meanwhile the {k} {n} {v} the {a} {n2}.",
    )
    return _sentence(p.pick(templates))


def _product_sentence(p: Picker, c: Category, leaf: Leaf, brand: str) -> str:
    a, a2, k, n, v = (
        p.pick(c.adjectives),
        p.pick(c.adjectives),
        p.pick(leaf.keywords),
        p.pick(c.nouns),
        p.pick(c.verbs),
    )
    templates = (
        f"the {a} {k} from {brand} {v} everyday use.",
        f"this {k} comes as a {a} {n} with free returns.",
        f"reviewers call the {k} {a} and {a2}.",
        f"part of the {a} {n} collection by {brand}, it {v} any {k} setup.",
        f"the {k} {v} the {a} {leaf.subcategory.lower()} you already own.",
    )
    return _sentence(p.pick(templates))


def _article(
    p: Picker, rng: np.random.Generator, c: Category, leaf: Leaf, authors: list[str]
) -> _Draft:
    fmt, median_words = p.weighted([((f, words), share) for f, share, words in _ARTICLE_FORMATS])
    lifetime_ms: int | None = None
    if c.name == "News" and p.chance(0.04):
        # Live blogs are taken down two to four days after they start.
        fmt, median_words = "live", 1500.0
        lifetime_ms = int((2 + 2 * p.uniform()) * DAY_MS)
    words = int(np.clip(median_words * np.exp(0.45 * rng.standard_normal()), 60, 6000))
    properties: dict[str, object] = {"word_count": words, "format": fmt, "language": "en"}
    # Sponsored content is published but never recommended.
    sponsored = p.chance(0.02)
    if sponsored:
        properties["sponsored"] = True
    # Prolific authors write more: the j-th author of a desk gets weight 1/(j+1).
    author = p.weighted([(a, 1.0 / (j + 1)) for j, a in enumerate(authors)])
    return _Draft(
        title=_article_title(p, c, leaf),
        sentences=[_article_sentence(p, c, leaf) for _ in range(3 + int(p.uniform() * 4))],
        words=words,
        source=p.weighted(SOURCES),
        author=author,
        properties=properties,
        recommendable=not sponsored,
        lifetime_ms=lifetime_ms,
    )


def _product(p: Picker, rng: np.random.Generator, c: Category, leaf: Leaf) -> _Draft:
    brand = p.pick(BRANDS)
    # Prices end in .99, log-normally spread around the sub-category's median.
    median = PRICE_MEDIANS[leaf.subcategory]
    price = max(float(np.floor(median * np.exp(0.6 * rng.standard_normal()))), 4.0) + 0.99
    in_stock = not p.chance(0.05)
    words = int(np.clip(120 * np.exp(0.3 * rng.standard_normal()), 40, 400))
    properties: dict[str, object] = {
        "price": price,
        "currency": "EUR",
        "brand": brand,
        "in_stock": in_stock,
        "word_count": words,
    }
    lifetime_ms: int | None = None
    if p.chance(0.08):
        # Deals end after two to four weeks.
        properties["deal"] = True
        lifetime_ms = int(14 + 14 * p.uniform()) * DAY_MS
    title = f"{brand} {_title_case(p.pick(c.adjectives))} {_title_case(p.pick(leaf.keywords))}"
    if p.chance(0.5):
        title += f" {_title_case(p.pick(c.nouns))}"
    return _Draft(
        title=title,
        sentences=[_product_sentence(p, c, leaf, brand) for _ in range(2 + int(p.uniform() * 3))],
        words=words,
        source=SHOP_SOURCE,
        properties=properties,
        recommendable=in_stock,
        lifetime_ms=lifetime_ms,
        price=price,
    )


def _authors(p: Picker, n_items: int) -> dict[str, tuple[str, ...]]:
    """Author name → the top-level categories they write for (one or two, never the shop)."""
    desks = [c.name for c in CATEGORIES if c.name != SHOP]
    n_authors = min(max(n_items // 80, 2 * len(desks)), 48)
    names = [f"{first} {last}" for last in LAST_NAMES for first in FIRST_NAMES]
    chosen: list[str] = []
    while len(chosen) < n_authors:
        name = p.pick(names)
        if name not in chosen:
            chosen.append(name)
    out: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(chosen):
        primary = desks[i % len(desks)]
        if p.chance(0.4):
            out[name] = (primary, p.pick([d for d in desks if d != primary]))
        else:
            out[name] = (primary,)
    return out


def _leaf_counts(rng: np.random.Generator, n_items: int, leaves: list[Leaf]) -> list[int]:
    """Items per leaf: at least one each, the rest by category share with some jitter."""
    share = {c.name: c.share / len(c.leaves()) for c in CATEGORIES}
    weights = np.array([share[leaf.category] for leaf in leaves])
    weights *= rng.gamma(8.0, 1 / 8.0, len(leaves))
    extra = rng.multinomial(n_items - len(leaves), weights / weights.sum())
    return [1 + int(x) for x in extra]


def _publication_ms(rng: np.random.Generator, n: int, days: int) -> npt.NDArray[np.int64]:
    """Publication times spread evenly over the window, in the newsroom's hours (05–21 UTC)."""
    day = rng.integers(0, days, n)
    hour = rng.uniform(5.0, 21.0, n)
    return np.sort((day * DAY_MS + hour * 3_600_000).astype(np.int64))


def make_catalog(rng: np.random.Generator, n_items: int, start: datetime, days: int) -> Catalog:
    """Generate ``n_items`` items published over the ``days`` after ``start``.

    Ids follow publication order: ``article-00001`` is the oldest article, ``product-00001``
    the oldest product.
    """
    p = Picker(rng)
    leaves = all_leaves()
    if n_items < len(leaves):
        raise ValueError(f"the sample catalog needs at least {len(leaves)} items (one per leaf)")
    by_name = {c.name: c for c in CATEGORIES}
    cat_index = {c.name: i for i, c in enumerate(CATEGORIES)}
    leaf_of = np.repeat(np.arange(len(leaves), dtype=np.int64), _leaf_counts(rng, n_items, leaves))
    rng.shuffle(leaf_of)
    published = _publication_ms(rng, n_items, days)
    category = np.array([cat_index[leaves[i].category] for i in leaf_of], dtype=np.int64)
    popularity = np.empty(n_items)
    for ci in range(len(CATEGORIES)):
        members = np.flatnonzero(category == ci)
        popularity[members] = (rng.permutation(len(members)) + 1.0) ** -ZIPF_EXPONENT

    authors = _authors(p, n_items)
    desk = {c.name: [a for a, desks in authors.items() if c.name in desks] for c in CATEGORIES}
    items: list[Item] = []
    drafts: list[_Draft] = []
    pages: list[str] = []
    counters = {"article": 0, "product": 0}
    for i in range(n_items):
        leaf = leaves[int(leaf_of[i])]
        c = by_name[leaf.category]
        kind = "product" if c.name == SHOP else "article"
        d = (
            _product(p, rng, c, leaf)
            if kind == "product"
            else _article(p, rng, c, leaf, desk[c.name])
        )
        counters[kind] += 1
        item_id = f"{kind}-{counters[kind]:05d}"
        tags = [leaf.tag]
        if p.chance(0.12):
            tags.append(p.pick([x for x in c.leaves() if x.subcategory == leaf.subcategory]).tag)
        pub = start + timedelta(milliseconds=int(published[i]))
        items.append(
            Item(
                id=item_id,
                title=d.title,
                summary=d.sentences[0],
                text=" ".join(d.sentences),
                tags=tags,
                author=d.author,
                source=d.source,
                published_at=pub,
                expires_at=None
                if d.lifetime_ms is None
                else pub + timedelta(milliseconds=d.lifetime_ms),
                properties=d.properties,
                recommendable=d.recommendable,
            )
        )
        drafts.append(d)
        pages.append(f"/{c.slug}/{item_id}")
    return Catalog(
        items=items,
        category=category,
        leaf=leaf_of,
        published_ms=published,
        expires_ms=np.array(
            [
                NEVER if d.lifetime_ms is None else published[i] + d.lifetime_ms
                for i, d in enumerate(drafts)
            ],
            dtype=np.int64,
        ),
        popularity=popularity,
        half_life_days=np.array([CATEGORIES[int(ci)].half_life_days for ci in category]),
        recommendable=np.array([d.recommendable for d in drafts], dtype=bool),
        price=np.array([d.price for d in drafts]),
        word_count=np.array([d.words for d in drafts], dtype=np.int64),
        pages=pages,
        authors=authors,
    )
