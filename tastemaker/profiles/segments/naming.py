"""Human-readable names and descriptions from what distinguishes a segment.

Everything here reads *z-scores*: how far a segment's mean of a feature lies from the mean over
all users, in standard deviations of that feature (unscaled features, so the numbers mean what
the columns say). A name combines at most two descriptors:

1. **Topic** — the ``tag_share:<tag>`` with the highest z, if z ≥ :data:`TOPIC_Z`: "Tech
   Readers", "Sports Fans", "Shoppers" (:data:`TOPIC_NOUNS`; other tags give "<Tag> Readers").
2. **Buying** — ``purchase_rate`` z ≥ :data:`TRAIT_Z`: the noun becomes "<Topic> Buyers", or
   "Deal Hunters" for a shop topic, or "Buyers" without a topic.
3. **Activity** — ``events`` (else ``engagement``) z ≥ :data:`TRAIT_Z`: "Loyal"; z ≤ −TRAIT_Z:
   "Casual".
4. **Device** — the ``device_share:<device>`` with the highest z ≥ :data:`TRAIT_Z`: "Mobile",
   "Desktop", "Tablet" ….

A topic or buying noun is one descriptor and takes the strongest of activity and device as its
adjective ("Loyal Tech Readers", "Mobile Sports Fans"); a noun-only name without an adjective
is "Frequent Buyers" for buyers. Without either noun the name is "Browsers" with up to two
adjectives, activity first ("Casual Mobile Browsers"), or "Mainstream Browsers" when nothing
stands out. Equal names get a numeric suffix, the largest segment keeping the plain name.

Examples
--------
>>> segment_name({"tag_share:Technology": 2.1, "events": 0.9, "device_share:desktop": 0.8})
'Loyal Tech Readers'
>>> segment_name({"tag_share:Shop": 1.8, "purchase_rate": 1.2})
'Deal Hunters'
>>> segment_name({"events": -1.1, "device_share:mobile": 0.9})
'Casual Mobile Browsers'
>>> unique_names(["Sports Fans", "Sports Fans", "Shoppers"], [10, 30, 5])
['Sports Fans 2', 'Sports Fans', 'Shoppers']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

TOPIC_Z: Final = 0.5
"""Minimum z of the top tag share for a segment to be named after its topic."""
TRAIT_Z: Final = 0.75
"""Minimum |z| of a behaviour (activity, device, buying) to appear in a name."""
DESCRIBE_Z: Final = 0.5
"""Minimum |z| of a feature to appear in a description."""
DESCRIBE_RATIO: Final = 0.25
"""Minimum relative difference from the overall mean for a feature to appear in a description:
a feature with little spread can reach a high z with a difference nobody would notice
(14% of events being clicks against 13%)."""

TOPIC_NOUNS: Final[Mapping[str, str]] = {
    "technology": "Tech Readers",
    "tech": "Tech Readers",
    "science": "Science Readers",
    "sports": "Sports Fans",
    "sport": "Sports Fans",
    "news": "News Readers",
    "politics": "Politics Readers",
    "business": "Business Readers",
    "finance": "Finance Readers",
    "lifestyle": "Lifestyle Readers",
    "culture": "Culture Lovers",
    "music": "Music Fans",
    "movies": "Movie Fans",
    "film": "Film Fans",
    "gaming": "Gamers",
    "games": "Gamers",
    "travel": "Travellers",
    "food": "Foodies",
    "shop": "Shoppers",
    "shopping": "Shoppers",
    "store": "Shoppers",
    "deals": "Shoppers",
}
"""Noun phrase for a top-level tag (lower case); others become "<Tag> Readers"."""
SHOP_TOPICS: Final = frozenset({"shop", "shopping", "store", "deals", "products"})
"""Tags whose buyers are "Deal Hunters"."""
_SHORT: Final[Mapping[str, str]] = {"technology": "Tech", "sports": "Sports"}

TAG: Final = "tag_share:"
DEVICE: Final = "device_share:"
TYPE: Final = "type_share:"
CHANNEL: Final = "channel_share:"
ACTIVITY_FEATURES: Final = ("events", "engagement", "events_per_active_day")
PURCHASE: Final = "purchase_rate"


def _z(z: Mapping[str, float], feature: str) -> float:
    value = z.get(feature, 0.0)
    return 0.0 if value is None or math.isnan(value) else float(value)


def _strongest(z: Mapping[str, float], prefix: str, minimum: float) -> tuple[str, float] | None:
    best = max(
        ((f[len(prefix) :], _z(z, f)) for f in z if f.startswith(prefix)),
        key=lambda p: p[1],
        default=None,
    )
    return best if best is not None and best[1] >= minimum else None


def _topic_noun(tag: str, buying: bool) -> str:
    key = tag.strip().lower()
    if buying:
        return "Deal Hunters" if key in SHOP_TOPICS else f"{_SHORT.get(key, tag)} Buyers"
    return TOPIC_NOUNS.get(key, f"{tag} Readers")


def segment_name(z: Mapping[str, float]) -> str:
    """A name for a segment from its z-scores per feature (rules in the module docstring)."""
    topic = _strongest(z, TAG, TOPIC_Z)
    buying = _z(z, PURCHASE) >= TRAIT_Z
    adjectives: list[tuple[float, str]] = []
    activity = next((f for f in ACTIVITY_FEATURES if f in z), None)
    if activity is not None:
        a = _z(z, activity)
        if a >= TRAIT_Z:
            adjectives.append((a, "Loyal"))
        elif a <= -TRAIT_Z:
            adjectives.append((-a, "Casual"))
    device = _strongest(z, DEVICE, TRAIT_Z)
    if device is not None:
        adjectives.append((device[1], device[0].strip().title()))
    if topic is not None or buying:
        noun = _topic_noun(topic[0], buying) if topic is not None else "Buyers"
        if adjectives:
            return f"{max(adjectives)[1]} {noun}"
        return "Frequent Buyers" if noun == "Buyers" else noun
    if not adjectives:
        return "Mainstream Browsers"
    # Activity first, then device: "Casual Mobile Browsers".
    return " ".join(word for _, word in adjectives[:2]) + " Browsers"


def unique_names(names: Sequence[str], sizes: Sequence[int]) -> list[str]:
    """Names made unique by suffixes 2, 3 … in order of decreasing segment size."""
    out = list(names)
    taken: set[str] = set()
    for i in sorted(range(len(names)), key=lambda i: (-sizes[i], i)):
        candidate, n = names[i], 1
        while candidate in taken:
            n += 1
            candidate = f"{names[i]} {n}"
        out[i] = candidate
        taken.add(candidate)
    return out


def feature_label(feature: str) -> str:
    """What a feature column measures, in words.

    >>> feature_label("tag_share:Technology"), feature_label("avg_dwell_seconds")
    ('reading about Technology', 'time on an item')
    """
    for prefix, text in (
        (TAG, "reading about {}"),
        (DEVICE, "use of {}"),
        (CHANNEL, "visits from {}"),
        (TYPE, "{} events"),
    ):
        if feature.startswith(prefix):
            return text.format(feature[len(prefix) :])
    return {
        "events": "activity",
        "events_per_active_day": "events per active day",
        "sessions": "sessions",
        "avg_session_minutes": "session length",
        "avg_dwell_seconds": "time on an item",
        "avg_scroll_depth": "scroll depth",
        "ctr": "click-through rate",
        "purchase_rate": "purchases",
        "recency_days": "days since the last visit",
        "engagement": "engagement",
    }.get(feature, feature.replace("_", " "))


def format_value(feature: str, value: float | None) -> str:
    """A feature's value in its natural unit.

    >>> format_value("tag_share:News", 0.634), format_value("events", 3.0)
    ('63%', '19 events')
    >>> format_value("avg_dwell_seconds", 81.24), format_value("sessions", 3.456)
    ('81 s', '3.46')
    """
    if value is None or math.isnan(value):
        return "n/a"
    if ":" in feature or feature in ("ctr", PURCHASE):
        return f"{value:.0%}" if abs(value) >= 0.01 or value == 0 else f"{value:.1%}"
    if feature in ("events", "engagement"):
        # Stored as log1p(count): show the count a typical member has.
        return f"{math.expm1(value):.0f} {'events' if feature == 'events' else 'points'}"
    if feature == "avg_dwell_seconds":
        return f"{value:.0f} s"
    if feature == "avg_scroll_depth":
        return f"{value:.0f}%"
    if feature == "avg_session_minutes":
        return f"{value:.1f} min"
    if feature == "recency_days":
        return f"{value:.0f} days"
    return f"{value:.3g}"


def _noticeable(mean: float | None, overall: float | None) -> bool:
    if mean is None or overall is None:
        return False
    if overall == 0:
        return mean != 0
    return abs(mean - overall) >= DESCRIBE_RATIO * abs(overall)


def describe(
    z: Mapping[str, float],
    means: Mapping[str, float | None],
    overall: Mapping[str, float | None],
    limit: int = 3,
) -> str:
    """A sentence naming the features that set a segment apart most, with the numbers.

    >>> text = describe({"tag_share:News": 2.0, "ctr": -0.7, "sessions": 0.1},
    ...                 {"tag_share:News": 0.7, "ctr": 0.2, "sessions": 3},
    ...                 {"tag_share:News": 0.2, "ctr": 0.3, "sessions": 3})
    >>> print(*text.split("; "), sep="\\n")
    Reading about News far above average (70% vs 20% overall)
    click-through rate below average (20% vs 30%).
    """
    ranked = sorted(
        (f for f in z if abs(_z(z, f)) >= DESCRIBE_Z and _noticeable(means.get(f), overall.get(f))),
        key=lambda f: (-abs(_z(z, f)), f),
    )[:limit]
    if not ranked:
        return "Close to the average user in every feature."
    parts = []
    for n, f in enumerate(ranked):
        value = _z(z, f)
        degree = "above average" if value > 0 else "below average"
        if abs(value) >= 1.5:
            degree = "far " + degree
        vs = " overall" if n == 0 else ""
        numbers = f"{format_value(f, means.get(f))} vs {format_value(f, overall.get(f))}{vs}"
        parts.append(f"{feature_label(f)} {degree} ({numbers})")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."
