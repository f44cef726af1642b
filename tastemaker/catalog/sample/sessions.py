"""The event simulation: each user's sessions, page by page.

A session starts at a plausible local hour on some day of the window, on one device and from one
channel. Each page view is reached through a placement (impressions, then a click) or, for social
traffic, by landing on the article directly. Reading produces view, scroll, dwell and sometimes
like, dislike, share or rating events; product pages can lead to add_to_cart and purchase. Items
come from the pools of :mod:`tastemaker.catalog.sample.pools` at the session's start; a user
does not read the same item twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tastemaker.catalog.sample.audience import Audience
from tastemaker.catalog.sample.catalog import DAY_MS, Catalog
from tastemaker.catalog.sample.draws import Picker
from tastemaker.catalog.sample.pools import ItemPools, Pool
from tastemaker.catalog.sample.segments import DEVICES, SEGMENTS, Segment

LOCAL_OFFSET_MS = 2 * 3_600_000
"""The audience lives in Central European (summer) time: local hours are UTC + 2."""
WARMUP_DAYS = 2
"""Sessions start after the first days of the window, so there is something to read."""
PRIMARY_DEVICE = 0.85
"""Share of a user's sessions on their primary device."""
FINAL_IMPRESSIONS = 0.75
"""Chance that a session ends on a recommendation list the user did not click."""
PERSONAL_SLOTS = 0.5
"""Share of a list's other slots filled to the user's taste; the rest shows what is popular."""

_ENTRY = {
    "web": ("homepage", "/"),
    "app": ("app-feed", "/app/feed"),
    "email": ("email-digest", "/email/daily-digest"),
}


class RawEvent(NamedTuple):
    """One simulated event before it gets its id; ``t`` is milliseconds into the window."""

    t: int
    user: int
    order: int
    type: str
    item: int
    value: float | None
    channel: str
    device: str
    page: str | None
    placement: str | None
    position: int | None
    session_id: str
    properties: dict[str, object] | None


def _hour_cdf(seg: Segment) -> npt.NDArray[np.float64]:
    """Cumulative weights of the 96 quarter hours of a local day for a segment."""
    h = np.arange(96) / 4.0
    w = np.full(96, 0.01)
    for peak, width, weight in seg.hours:
        d = np.abs(h - peak)
        d = np.minimum(d, 24.0 - d)
        w += weight * np.exp(-0.5 * (d / width) ** 2)
    # Hardly anyone reads between 1 and 5 in the morning.
    w[4:20] *= 0.1
    return np.cumsum(w)


def _day_cdf(seg: Segment, start: datetime, days: int) -> npt.NDArray[np.float64]:
    w = np.array(
        [
            0.0
            if d < WARMUP_DAYS
            else (seg.weekend if (start + timedelta(days=d)).weekday() >= 5 else 1.0)
            for d in range(days)
        ]
    )
    return np.cumsum(w)


@dataclass
class _Session:
    user: int
    seg: Segment
    session_id: str
    channel: str
    device: str
    popular: Pool
    personal: Pool
    order: int = 0


class Simulator:
    """Turns a catalog and an audience into events (see the module docstring)."""

    def __init__(
        self,
        rng: np.random.Generator,
        catalog: Catalog,
        audience: Audience,
        start: datetime,
        days: int,
    ) -> None:
        self.rng = rng
        self.p = Picker(rng)
        self.catalog = catalog
        self.audience = audience
        self.end_ms = days * DAY_MS
        self.hours = [_hour_cdf(s) for s in SEGMENTS]
        self.days = [_day_cdf(s, start, days) for s in SEGMENTS]
        self.pools = ItemPools(catalog, audience.taste.shape[1])
        self.raw: list[RawEvent] = []
        self.seen: set[int] = set()

    def _emit(
        self,
        s: _Session,
        t: int,
        kind: str,
        item: int,
        value: float | None = None,
        page: str | None = None,
        placement: str | None = None,
        position: int | None = None,
        properties: dict[str, object] | None = None,
    ) -> None:
        s.order += 1
        self.raw.append(
            RawEvent(
                t,
                s.user,
                s.order,
                kind,
                item,
                value,
                s.channel,
                s.device,
                page,
                placement,
                position,
                s.session_id,
                properties,
            )
        )

    def _impressions(
        self, s: _Session, t: int, target: int | None, placement: str, page: str
    ) -> int | None:
        """Show a list at ``t``; return the target's position (``None`` without a target)."""
        k = 2 + int(self.p.uniform() * 2)
        shown: list[int] = []
        excluded = set() if target is None else {target}
        while len(shown) < k - (target is not None):
            pool = s.personal if self.p.chance(PERSONAL_SLOTS) else s.popular
            item = pool.draw(self.p, excluded)
            if item is None:
                break
            shown.append(item)
            excluded.add(item)
        position: int | None = None
        if target is not None:
            # Clicked items sit near the top of the list.
            position = min(int(self.rng.geometric(0.55)) - 1, len(shown))
            shown.insert(position, target)
        for pos, item in enumerate(shown):
            self._emit(s, t, "impression", item, page=page, placement=placement, position=pos)
        return position

    def _read(self, s: _Session, t: int, item: int, in_taste: bool) -> int:
        """The events of reading one item from ``t`` (its view); return the last event's time."""
        c, p, seg = self.catalog, self.p, s.seg
        page = c.pages[item]
        is_product = not np.isnan(c.price[item])
        words = float(c.word_count[item])
        # Longer texts hold readers a little longer; what is not to one's taste is left soon.
        median = seg.dwell_median * (0.8 if is_product else (words / 650.0) ** 0.35)
        if not in_taste:
            median *= 0.35
        dwell = float(np.clip(median * np.exp(0.7 * self.rng.standard_normal()), 1.0, 1800.0))
        dwell = round(dwell, 1)
        dwell_ms = int(dwell * 1000)
        self._emit(s, t, "view", item, page=page)
        read_fraction = min(1.0, dwell / max(20.0, words / 4.0))
        if p.chance(0.9):
            depth = 100.0 * min(1.0, 0.08 + 0.92 * read_fraction * (0.8 + 0.3 * p.uniform()))
            self._emit(s, t + int(0.7 * dwell_ms), "scroll", item, float(round(depth)), page=page)
        carted = 0
        if is_product and p.chance(seg.cart_rate * (1.0 if in_taste else 0.3)):
            carted = 2 if p.chance(0.15) else 1
            self._emit(s, t + int(0.75 * dwell_ms), "add_to_cart", item, float(carted), page=page)
        # Reading to the end makes a like likelier; off-taste items draw most of the dislikes.
        like = seg.like_rate * ((1.5 if read_fraction > 0.7 else 0.7) if in_taste else 0.2)
        u = p.uniform()
        if u < like:
            self._emit(s, t + int(0.85 * dwell_ms), "like", item, page=page)
        elif u < like + (0.01 if in_taste else 0.10):
            self._emit(s, t + int(0.85 * dwell_ms), "dislike", item, page=page)
        if p.chance(seg.share_rate * (1.0 if in_taste else 0.2)):
            self._emit(s, t + int(0.9 * dwell_ms), "share", item, page=page)
        if p.chance(seg.rating_rate):
            mean, sd = (4.1, 0.8) if in_taste else (2.2, 1.0)
            stars = float(np.clip(np.rint(mean + sd * self.rng.standard_normal()), 0, 5))
            self._emit(s, t + int(0.95 * dwell_ms), "rating", item, stars, page=page)
        t += dwell_ms
        self._emit(s, t, "dwell", item, dwell, page=page)
        if carted and p.chance(seg.purchase_rate):
            t += int((20 + 160 * p.uniform()) * 1000)
            amount = round(float(c.price[item]) * carted, 2)
            properties: dict[str, object] = {"currency": "EUR", "quantity": carted}
            self._emit(s, t, "purchase", item, amount, page="/checkout", properties=properties)
        return t

    def _session(self, user: int, number: int, t0: int) -> None:
        a, p = self.audience, self.p
        seg = SEGMENTS[int(a.segment[user])]
        device = a.device[user] if p.chance(PRIMARY_DEVICE) else p.pick(DEVICES)
        channel = p.weighted(seg.channels)
        if channel == "app" and device == "desktop":
            channel = "web"
        popular, personal, direct = self.pools.at(t0, a.taste[user], a.favourites[user])
        if popular.empty or direct.empty:
            return
        session_id = f"{a.users[user].id}.s{number:03d}"
        s = _Session(user, seg, session_id, channel, device, popular, personal)
        top = set(np.argsort(-a.taste[user])[:2].tolist())
        t = t0
        previous: int | None = None
        for j in range(int(self.rng.geometric(1.0 / seg.pages))):
            landing = j == 0 and channel == "social"
            pool = popular if p.chance(seg.explore) else (direct if landing else personal)
            item = pool.draw(p, self.seen)
            if item is None:
                break
            self.seen.add(item)
            # An item is to the user's taste if it is from one of their two main categories.
            in_taste = int(self.catalog.category[item]) in top
            if landing:
                t = self._read(s, t, item, in_taste)
            else:
                if previous is None:
                    placement, page = _ENTRY[channel]
                else:
                    placement = "app-article-bottom" if channel == "app" else "article-bottom"
                    page = self.catalog.pages[previous]
                position = self._impressions(s, t, item, placement, page)
                delay = 1.0 + min(60.0, 3.0 * np.exp(0.8 * self.rng.standard_normal()))
                if channel == "email" and previous is None:
                    delay += 30.0 * p.uniform()
                t_click = t + int(delay * 1000)
                self._emit(
                    s, t_click, "click", item, page=page, placement=placement, position=position
                )
                t = self._read(s, t_click + 300 + int(1200 * p.uniform()), item, in_taste)
            previous = item
            t += 1000 + int(5000 * p.uniform())
        if previous is not None and p.chance(FINAL_IMPRESSIONS):
            placement = "app-article-bottom" if channel == "app" else "article-bottom"
            self._impressions(s, t, None, placement, self.catalog.pages[previous])

    def run(self) -> list[RawEvent]:
        """Simulate every user's sessions; events after the window's end are cut off."""
        a, p = self.audience, self.p
        for user in range(len(a.users)):
            seg_index = int(a.segment[user])
            starts = sorted(
                p.index(self.days[seg_index]) * DAY_MS
                + int((p.index(self.hours[seg_index]) + p.uniform()) * 900_000)
                - LOCAL_OFFSET_MS
                for _ in range(int(a.sessions[user]))
            )
            self.seen = set()
            for number, t0 in enumerate(starts, start=1):
                if 0 <= t0 < self.end_ms:
                    self._session(user, number, t0)
        return [r for r in self.raw if r.t <= self.end_ms]
