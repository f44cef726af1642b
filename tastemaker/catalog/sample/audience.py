"""The sample audience: users drawn from the planted segments.

Besides the :class:`~tastemaker.catalog.users.User` objects, :func:`make_audience` returns each
user's hidden taste (category shares, favourite leaves), primary device and number of sessions,
which drive the event simulation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from tastemaker.catalog.sample.draws import Picker
from tastemaker.catalog.sample.segments import GEOS, SEGMENTS, Segment
from tastemaker.catalog.sample.taxonomy import CATEGORIES, SHOP, Leaf, all_leaves
from tastemaker.catalog.users import Consent, Preferences, Purpose, User, UserTraits

TASTE_CONCENTRATION = 60.0
"""Dirichlet concentration of a user's category shares around their segment's mix."""
FAVOURITE_LEAVES = 3
"""Leaves (drawn by the user's category shares) each user reads more of than of the rest."""
SESSIONS_SIGMA = 0.8
"""Log-normal spread of sessions per user: most users come a few times, a few come daily."""
MIN_SESSIONS = 3
"""Everyone visits at least this often, so every user's taste shows in their events."""
MAX_SESSIONS = 400


@dataclass(frozen=True)
class Audience:
    """The generated users and, aligned with them, what the simulation needs."""

    users: list[User]
    segment: npt.NDArray[np.int64]
    taste: npt.NDArray[np.float64]
    """Shape (users, categories): the share of reading each category gets."""
    favourites: npt.NDArray[np.int64]
    """Shape (users, :data:`FAVOURITE_LEAVES`): indices of favourite leaves (may repeat)."""
    device: list[str]
    sessions: npt.NDArray[np.int64]


def _quotas(n: int, shares: Sequence[float]) -> list[int]:
    """Split ``n`` by ``shares`` exactly (largest remainder), so segment sizes are stable."""
    raw = np.asarray(shares) / sum(shares) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - int(counts.sum())]:
        counts[i] += 1
    return [int(c) for c in counts]


def _consent(p: Picker, granted: float, denied: float, at: datetime) -> Consent | None:
    u = p.uniform()
    if u < granted:
        return Consent(granted=True, at=at)
    if u < granted + denied:
        return Consent(granted=False, at=at)
    return None


def _preferences(
    p: Picker,
    favourites: list[Leaf],
    top_category: str,
    authors: Mapping[str, tuple[str, ...]],
) -> Preferences:
    tags: list[str] = []
    if p.chance(0.45):
        for leaf in favourites[: 1 + int(p.uniform() * len(favourites))]:
            tags.append(leaf.parent_tag if p.chance(0.3) else leaf.tag)
    chosen: list[str] = []
    desk = [a for a, desks in authors.items() if top_category in desks]
    if desk and p.chance(0.2):
        for _ in range(1 + int(p.chance(0.4))):
            name = p.pick(desk)
            if name not in chosen:
                chosen.append(name)
    return Preferences(tags=list(dict.fromkeys(tags)), authors=chosen)


def _user(
    p: Picker,
    index: int,
    seg: Segment,
    device: str,
    preferences: Preferences,
    consent_at: datetime,
) -> User:
    consent: dict[Purpose, Consent] = {}
    personalization = _consent(p, 0.90, 0.06, consent_at)
    analytics = _consent(p, 0.86, 0.09, consent_at)
    if personalization is not None:
        consent[Purpose.PERSONALIZATION] = personalization
    if analytics is not None:
        consent[Purpose.ANALYTICS] = analytics
    newsletter = p.chance(min(0.95, 0.15 + 2.0 * seg.channels.get("email", 0.0)))
    return User(
        id=f"user-{index + 1:05d}",
        traits=UserTraits(
            device=device,
            geo=p.weighted(GEOS),
            age_band=p.weighted(seg.ages),
            attributes={
                "subscription": "premium" if p.chance(seg.premium_rate) else "free",
                "newsletter": "subscribed" if newsletter else "none",
            },
        ),
        preferences=preferences,
        consent=consent,
    )


def make_audience(
    rng: np.random.Generator,
    n_users: int,
    start: datetime,
    authors: Mapping[str, tuple[str, ...]],
    activity: float,
) -> Audience:
    """Generate ``n_users`` users in fixed segment proportions, in shuffled order."""
    p = Picker(rng)
    leaves = all_leaves()
    cat_names = [c.name for c in CATEGORIES]
    leaves_of = [[j for j, leaf in enumerate(leaves) if leaf.category == c] for c in cat_names]
    quotas = _quotas(n_users, [s.share for s in SEGMENTS])
    segment = np.repeat(np.arange(len(SEGMENTS)), quotas)
    rng.shuffle(segment)

    mix = np.array([[s.categories.get(c, 0.0) for c in cat_names] for s in SEGMENTS])
    mix = mix / mix.sum(axis=1, keepdims=True)
    # A small floor keeps every category possible for every user (exploration, drift).
    taste = np.array([rng.dirichlet(TASTE_CONCENTRATION * mix[s] + 0.05) for s in segment])

    favourite_leaves = np.zeros((n_users, FAVOURITE_LEAVES), dtype=np.int64)
    users: list[User] = []
    devices: list[str] = []
    sessions = np.empty(n_users, dtype=np.int64)
    for u in range(n_users):
        seg = SEGMENTS[int(segment[u])]
        favourites: list[Leaf] = []
        taste_cdf = np.cumsum(taste[u])
        for k in range(FAVOURITE_LEAVES):
            j = p.pick(leaves_of[p.index(taste_cdf)])
            favourite_leaves[u, k] = j
            if leaves[j] not in favourites:
                favourites.append(leaves[j])
        mean = seg.sessions * activity
        draw = np.exp(np.log(mean) - SESSIONS_SIGMA**2 / 2 + SESSIONS_SIGMA * rng.standard_normal())
        sessions[u] = int(np.clip(np.rint(draw), MIN_SESSIONS, MAX_SESSIONS))
        device = p.weighted(seg.devices)
        devices.append(device)
        top = max(
            (c for c in cat_names if c != SHOP), key=lambda c: float(taste[u, cat_names.index(c)])
        )
        consent_at = start - timedelta(seconds=int(p.uniform() * 400 * 86_400))
        prefs = _preferences(p, favourites, top, authors)
        users.append(_user(p, u, seg, device, prefs, consent_at))
    return Audience(
        users=users,
        segment=segment.astype(np.int64),
        taste=taste,
        favourites=favourite_leaves,
        device=devices,
        sessions=sessions,
    )
