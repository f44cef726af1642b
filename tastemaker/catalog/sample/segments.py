"""The planted taste segments of the sample audience.

Each segment differs in what it reads (top-level category mix), how much (sessions per user and
pages per session), on what (device mix), from where (channel mix), when (hours of day, weekends)
and how (dwell time and so scroll depth; like, share, rating and purchase propensities). The
differences are large on purpose: a clustering over simple per-user features (share of reading
per category, device, activity) recovers the segments with an adjusted Rand index above 0.9.
"""

from __future__ import annotations

from dataclasses import dataclass

DEVICES = ("mobile", "desktop", "tablet")
GEOS: tuple[tuple[str, float], ...] = (
    ("DE-NW", 0.21),
    ("DE-BY", 0.17),
    ("DE-BW", 0.14),
    ("DE-BE", 0.12),
    ("DE-HE", 0.09),
    ("DE-NI", 0.09),
    ("DE-HH", 0.06),
    ("DE-SN", 0.06),
    ("AT-9", 0.03),
    ("CH-ZH", 0.03),
)
"""ISO 3166-2 regions of the (German-speaking) audience with their shares."""


@dataclass(frozen=True)
class Segment:
    """One planted segment.

    ``share`` is the segment's share of the users. ``categories`` weighs the top-level
    categories a member reads (normalized on use). ``sessions`` is the mean of a heavy-tailed
    number of sessions per user, ``pages`` the mean of a geometric number of page views per
    session. ``devices`` and ``channels`` weigh the primary device and each session's channel.
    ``hours`` lists local peaks of activity as ``(hour, width, weight)``; ``weekend`` weighs a
    weekend day against a weekday. ``dwell_median`` is in seconds; the rates are chances per
    page view (``purchase_rate`` per item added to the cart); ``explore`` is the share of page
    views picked from what is popular regardless of taste.
    """

    name: str
    share: float
    categories: dict[str, float]
    sessions: float
    pages: float
    devices: dict[str, float]
    channels: dict[str, float]
    hours: tuple[tuple[float, float, float], ...]
    weekend: float
    dwell_median: float
    like_rate: float
    share_rate: float
    rating_rate: float
    cart_rate: float
    purchase_rate: float
    explore: float
    premium_rate: float
    ages: dict[str, float]


SEGMENTS: tuple[Segment, ...] = (
    Segment(
        name="Tech Enthusiasts",
        share=0.20,
        categories={
            "Technology": 0.76,
            "News": 0.07,
            "Shop": 0.07,
            "Culture": 0.05,
            "Sports": 0.025,
            "Lifestyle": 0.025,
        },
        sessions=2.2,
        pages=3.0,
        devices={"desktop": 0.70, "mobile": 0.22, "tablet": 0.08},
        channels={"web": 0.55, "app": 0.30, "social": 0.10, "email": 0.05},
        hours=((20.5, 1.8, 0.7), (13.0, 1.5, 0.3)),
        weekend=1.1,
        dwell_median=95.0,
        like_rate=0.12,
        share_rate=0.05,
        rating_rate=0.04,
        cart_rate=0.06,
        purchase_rate=0.35,
        explore=0.06,
        premium_rate=0.30,
        ages={"18-24": 0.22, "25-34": 0.38, "35-44": 0.24, "45-54": 0.10, "55-64": 0.06},
    ),
    Segment(
        name="Sports Fans",
        share=0.22,
        categories={
            "Sports": 0.78,
            "News": 0.09,
            "Technology": 0.05,
            "Culture": 0.03,
            "Lifestyle": 0.03,
            "Shop": 0.02,
        },
        sessions=2.4,
        pages=2.4,
        devices={"mobile": 0.82, "desktop": 0.10, "tablet": 0.08},
        channels={"app": 0.56, "web": 0.28, "social": 0.12, "email": 0.04},
        hours=((21.0, 1.2, 0.6), (17.5, 1.5, 0.4)),
        weekend=2.2,
        dwell_median=45.0,
        like_rate=0.16,
        share_rate=0.09,
        rating_rate=0.02,
        cart_rate=0.03,
        purchase_rate=0.25,
        explore=0.06,
        premium_rate=0.15,
        ages={"18-24": 0.25, "25-34": 0.30, "35-44": 0.22, "45-54": 0.14, "55-64": 0.09},
    ),
    Segment(
        name="News Junkies",
        share=0.20,
        categories={
            "News": 0.76,
            "Technology": 0.07,
            "Sports": 0.07,
            "Culture": 0.06,
            "Lifestyle": 0.04,
        },
        sessions=3.4,
        pages=3.6,
        devices={"desktop": 0.55, "mobile": 0.35, "tablet": 0.10},
        channels={"web": 0.50, "email": 0.32, "app": 0.14, "social": 0.04},
        hours=((7.0, 1.0, 0.45), (12.5, 1.0, 0.25), (19.0, 1.5, 0.30)),
        weekend=0.7,
        dwell_median=70.0,
        like_rate=0.04,
        share_rate=0.06,
        rating_rate=0.01,
        cart_rate=0.02,
        purchase_rate=0.20,
        explore=0.05,
        premium_rate=0.45,
        ages={"25-34": 0.12, "35-44": 0.22, "45-54": 0.26, "55-64": 0.24, "65+": 0.16},
    ),
    Segment(
        name="Lifestyle Browsers",
        share=0.23,
        categories={
            "Lifestyle": 0.62,
            "Culture": 0.22,
            "Shop": 0.07,
            "News": 0.05,
            "Technology": 0.02,
            "Sports": 0.02,
        },
        sessions=1.6,
        pages=2.2,
        devices={"mobile": 0.45, "tablet": 0.45, "desktop": 0.10},
        channels={"social": 0.46, "web": 0.28, "app": 0.16, "email": 0.10},
        hours=((21.5, 1.5, 0.5), (12.0, 1.5, 0.3), (16.0, 2.0, 0.2)),
        weekend=1.6,
        dwell_median=120.0,
        like_rate=0.22,
        share_rate=0.13,
        rating_rate=0.05,
        cart_rate=0.05,
        purchase_rate=0.30,
        explore=0.08,
        premium_rate=0.10,
        ages={"18-24": 0.20, "25-34": 0.32, "35-44": 0.24, "45-54": 0.14, "55-64": 0.10},
    ),
    Segment(
        name="Deal Hunters",
        share=0.15,
        categories={
            "Shop": 0.72,
            "Technology": 0.13,
            "Lifestyle": 0.07,
            "News": 0.04,
            "Sports": 0.02,
            "Culture": 0.02,
        },
        sessions=1.8,
        pages=3.0,
        devices={"mobile": 0.55, "desktop": 0.40, "tablet": 0.05},
        channels={"email": 0.40, "web": 0.40, "app": 0.14, "social": 0.06},
        hours=((22.0, 1.5, 0.55), (13.0, 1.2, 0.25), (9.0, 1.2, 0.20)),
        weekend=1.3,
        dwell_median=32.0,
        like_rate=0.05,
        share_rate=0.03,
        rating_rate=0.06,
        cart_rate=0.38,
        purchase_rate=0.55,
        explore=0.05,
        premium_rate=0.05,
        ages={"18-24": 0.15, "25-34": 0.30, "35-44": 0.28, "45-54": 0.17, "55-64": 0.10},
    ),
)


def segment_names() -> tuple[str, ...]:
    """The names of the planted segments, in a fixed order."""
    return tuple(s.name for s in SEGMENTS)
