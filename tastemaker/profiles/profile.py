"""The online state of one user, updated in constant time per event.

A :class:`Profile` is keyed by the user key (the store's pseudonym, never the external id) and
consumes :class:`~tastemaker.profiles.rules.ProfileEvent` records through :meth:`Profile.update`.
The work per event is constant, bounded by the item's tag count: a few counters, the session
state, and one decayed-score update per tag (ancestors included), author and source.

What is order-independent and what is not
-----------------------------------------
Counts, sums, first/last times, active days, device and channel counts and the decayed
affinities give the same result in any arrival order (affinities up to floating-point rounding;
see :mod:`tastemaker.profiles.decay`). Sessions, the session frequency and the recent items
follow the arrival order: a late event inside the current session, or up to one gap before it,
extends it; a late event further back is counted everywhere except in the session statistics.
Events that arrive in time order — and every rebuild, which sorts — give exact sessions.

Examples
--------
>>> from tastemaker.profiles.item_index import ItemMeta
>>> from tastemaker.profiles.rules import MINUTE, ProfileEvent, ProfileRules
>>> p = Profile("k1", ProfileRules.default())
>>> phone = ItemMeta(tags=(("Tech > Phones", 1.0), ("Tech", 0.5)), author="Ann", source=None)
>>> for i, (kind, minute) in enumerate([("impression", 0), ("click", 1), ("view", 45)]):
...     _ = p.update(ProfileEvent(f"e{i}", "a1", kind, None, minute * MINUTE), phone)
>>> p.sessions, p.ctr, p.counts["view"]
(2, 1.0, 1)
>>> p.update(ProfileEvent("e1", "a1", "click", None, MINUTE), phone)   # a retry: ignored
False
>>> [(tag, round(score, 3)) for tag, score in p.top_affinities("tags", now=45 * MINUTE)]
[('Tech > Phones', 1.999), ('Tech', 1.0)]
"""

from __future__ import annotations

from collections.abc import Mapping
from math import exp2
from typing import Any, Final, Literal

from tastemaker.catalog.users import Preferences
from tastemaker.profiles.decay import DecayedScores
from tastemaker.profiles.engagement import engagement_score
from tastemaker.profiles.item_index import ItemMeta, expand_tags
from tastemaker.profiles.rules import (
    CLICK,
    DAY,
    DWELL,
    IMPRESSION,
    MINUTE,
    PURCHASE,
    SCROLL,
    UNKNOWN,
    ProfileEvent,
    ProfileRules,
)

AffinityKind = Literal["tags", "authors", "sources"]
_KINDS: Final = ("tags", "authors", "sources")
FORMAT_VERSION: Final = 1
"""Version of :meth:`Profile.to_dict`'s layout."""


class Profile:
    """The online state of one user.

    Parameters
    ----------
    key
        The user key (``store.snapshot.user_key(external_id)``).
    rules
        The deployment's profile rules (:meth:`ProfileRules.from_settings`).

    Attributes
    ----------
    counts : dict[str, int]
        Events per type.
    first_ts, last_ts : int or None
        Time of the earliest and the latest event, microseconds.
    sessions : int
        Sessions: runs of events without a gap longer than ``rules.session_gap``.
    session_micros : int
        Summed session durations (last minus first event of each session).
    dwell_sum, dwell_count, scroll_sum, scroll_count : float, int
        Sums and counts of the ``dwell`` and ``scroll`` event values.
    purchase_amount : float
        Summed values of ``purchase`` events.
    devices, channels : dict[str, int]
        Events per device (``"unknown"`` when the event named none) and per channel.
    tags, authors, sources : DecayedScores
        Time-decayed affinities, weighted by the feedback policy (negative feedback subtracts).
        A tag also feeds its ancestors with ``rules.tag_parent_decay`` per level.
    segment : str or None
        The segment the user was assigned to (set by segmentation).

    Notes
    -----
    The state is kept in flat dictionaries of strings and numbers (ordered dictionaries also
    serve as bounded sets): Python's garbage collector does not track those, so a process
    holding many profiles does not pay for them on every full collection.
    """

    __slots__ = (
        "_days",
        "_frequency",
        "_frequency_ref",
        "_ids",
        "_prior",
        "_recent",
        "authors",
        "channels",
        "counts",
        "devices",
        "dwell_count",
        "dwell_sum",
        "first_ts",
        "key",
        "last_ts",
        "purchase_amount",
        "rules",
        "scroll_count",
        "scroll_sum",
        "segment",
        "session_last",
        "session_micros",
        "session_start",
        "sessions",
        "sources",
        "tags",
    )

    def __init__(self, key: str, rules: ProfileRules) -> None:
        self.key = key
        self.rules = rules
        self.counts: dict[str, int] = {}
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.sessions = 0
        self.session_micros = 0
        self.session_start: int | None = None
        self.session_last: int | None = None
        self._frequency = 0.0
        self._frequency_ref = 0
        self._days: dict[int, None] = {}
        self.dwell_sum = 0.0
        self.dwell_count = 0
        self.scroll_sum = 0.0
        self.scroll_count = 0
        self.purchase_amount = 0.0
        self.devices: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self.tags = DecayedScores(rules.half_life)
        self.authors = DecayedScores(rules.half_life)
        self.sources = DecayedScores(rules.half_life)
        self._prior: tuple[dict[str, float], dict[str, float], dict[str, float]] = ({}, {}, {})
        self._recent: dict[str, None] = {}
        self._ids: dict[str, None] = {}
        self.segment: str | None = None

    # ---------------------------------------------------------------------------------------
    # Updates

    def update(self, event: ProfileEvent, item: ItemMeta | None = None) -> bool:
        """Fold one event into the profile.

        Parameters
        ----------
        event
            The event.
        item
            The event's item as the :class:`~tastemaker.profiles.item_index.ItemIndex` knows
            it; without it the event counts everywhere but in the affinities.

        Returns
        -------
        bool
            ``False`` if the event's id was among the profile's recent event ids (a retry, not
            counted again), else ``True``.
        """
        event_id = event.event_id
        if event_id is not None and self.rules.recent_event_ids:
            ids = self._ids
            if event_id in ids:
                return False
            ids[event_id] = None
            if len(ids) > self.rules.recent_event_ids:
                del ids[next(iter(ids))]
        t = event.ts
        kind = event.type
        counts = self.counts
        counts[kind] = counts.get(kind, 0) + 1
        if self.first_ts is None or t < self.first_ts:
            self.first_ts = t
        if self.last_ts is None or t > self.last_ts:
            self.last_ts = t
        self._session(t)
        self._days[t // DAY] = None
        device = event.device or UNKNOWN
        self.devices[device] = self.devices.get(device, 0) + 1
        channel = event.channel or UNKNOWN
        self.channels[channel] = self.channels.get(channel, 0) + 1
        value = event.value
        if value is not None:
            if kind == DWELL:
                self.dwell_sum += value
                self.dwell_count += 1
            elif kind == SCROLL:
                self.scroll_sum += value
                self.scroll_count += 1
            elif kind == PURCHASE:
                self.purchase_amount += value
        item_id = event.item_id
        if item_id is not None and kind != IMPRESSION and self.rules.recent_items:
            recent = self._recent
            recent.pop(item_id, None)  # re-inserted as the newest
            recent[item_id] = None
            if len(recent) > self.rules.recent_items:
                del recent[next(iter(recent))]
        if item is not None:
            weight = self.rules.weight(kind, value)
            if weight:
                for tag, share in item.tags:
                    self.tags.add(tag, weight * share, t)
                if item.author is not None:
                    self.authors.add(item.author, weight, t)
                if item.source is not None:
                    self.sources.add(item.source, weight, t)
        return True

    def _session(self, t: int) -> None:
        start, last = self.session_start, self.session_last
        gap = self.rules.session_gap
        if start is None or last is None or t > last + gap:
            self.sessions += 1
            self.session_start = self.session_last = t
            # The decayed session count, as in DecayedScores (no session starts later than t).
            if self.sessions == 1:
                self._frequency = 1.0
            else:
                decay = exp2((self._frequency_ref - t) / self.rules.half_life)
                self._frequency = self._frequency * decay + 1.0
            self._frequency_ref = t
        elif t >= last:
            self.session_micros += t - last
            self.session_last = t
        elif t < start and t >= start - gap:
            self.session_micros += start - t
            self.session_start = t
        # else: inside the current session, or a late event too far back to place (see above)

    def apply_preferences(self, preferences: Preferences | None) -> None:
        """Fold the user's explicit choices in as a non-decaying prior, replacing the previous
        one: each chosen tag (and its ancestors, decayed per level), author and source adds
        ``rules.preference_weight`` to the affinity read at any time."""
        w = self.rules.preference_weight
        if preferences is None or w == 0:
            self._prior = ({}, {}, {})
            return
        tags = expand_tags(preferences.tags, self.rules.tag_parent_decay)
        self._prior = (
            {tag: w * share for tag, share in tags},
            dict.fromkeys(preferences.authors, w),
            dict.fromkeys(preferences.sources, w),
        )

    @property
    def prior(self) -> dict[AffinityKind, dict[str, float]]:
        """The non-decaying affinities from the user's explicit preferences, per kind."""
        tags, authors, sources = self._prior
        return {"tags": tags, "authors": authors, "sources": sources}

    # ---------------------------------------------------------------------------------------
    # Reading

    @property
    def events(self) -> int:
        """Events of every type."""
        return sum(self.counts.values())

    @property
    def active_days(self) -> int:
        """UTC days with at least one event."""
        return len(self._days)

    @property
    def recent_items(self) -> list[str]:
        """The latest distinct items the user acted on (impressions excluded), newest last."""
        return list(self._recent)

    @property
    def actions(self) -> int:
        """Events other than impressions."""
        return self.events - self.counts.get(IMPRESSION, 0)

    @property
    def impressions(self) -> int:
        return self.counts.get(IMPRESSION, 0)

    @property
    def clicks(self) -> int:
        return self.counts.get(CLICK, 0)

    @property
    def purchases(self) -> int:
        return self.counts.get(PURCHASE, 0)

    @property
    def ctr(self) -> float | None:
        """Clicks over impressions (``None`` without impressions; clicks on items that were not
        shown through an impression can take it above 1)."""
        shown = self.impressions
        return self.clicks / shown if shown else None

    @property
    def avg_session_minutes(self) -> float | None:
        return self.session_micros / self.sessions / MINUTE if self.sessions else None

    @property
    def avg_dwell_seconds(self) -> float | None:
        return self.dwell_sum / self.dwell_count if self.dwell_count else None

    @property
    def avg_scroll_depth(self) -> float | None:
        return self.scroll_sum / self.scroll_count if self.scroll_count else None

    def recency_days(self, now: int) -> float | None:
        """Days from the latest event to ``now`` (microseconds); ``None`` without events."""
        return None if self.last_ts is None else (now - self.last_ts) / DAY

    def frequency(self, now: int) -> float:
        """Sessions, each weighted ``2^(−age/half-life)`` at ``now``."""
        if not self.sessions:
            return 0.0
        age = max(0, now - self._frequency_ref)
        return self._frequency * exp2(-age / self.rules.half_life)

    def engagement(self, now: int) -> float:
        """The engagement score at ``now`` (see :mod:`tastemaker.profiles.engagement`)."""
        return engagement_score(
            self.recency_days(now),
            self.frequency(now),
            self.avg_dwell_seconds,
            self.avg_scroll_depth,
            self.purchases,
            self.rules.recency_half_life / DAY,
        )

    def _scores(self, kind: AffinityKind) -> DecayedScores:
        scores: DecayedScores = getattr(self, kind)
        return scores

    def affinities(self, kind: AffinityKind, now: int) -> dict[str, float]:
        """Every ``tags``, ``authors`` or ``sources`` affinity at ``now``, prior included."""
        values = self._scores(kind).values_at(now)
        for key, extra in self._prior[_KINDS.index(kind)].items():
            values[key] = values.get(key, 0.0) + extra
        return values

    def top_affinities(self, kind: AffinityKind, now: int, n: int = 10) -> list[tuple[str, float]]:
        """The ``n`` strongest positive affinities of a kind at ``now``, strongest first."""
        return self._scores(kind).top(n, now, self._prior[_KINDS.index(kind)])

    # ---------------------------------------------------------------------------------------
    # Serialization

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-able data (for a cache such as Redis)."""
        return {
            "version": FORMAT_VERSION,
            "key": self.key,
            "counts": dict(self.counts),
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "sessions": self.sessions,
            "session_micros": self.session_micros,
            "session_start": self.session_start,
            "session_last": self.session_last,
            "frequency": [self._frequency, self._frequency_ref],
            "active_days": sorted(self._days),
            "dwell": [self.dwell_sum, self.dwell_count],
            "scroll": [self.scroll_sum, self.scroll_count],
            "purchase_amount": self.purchase_amount,
            "devices": dict(self.devices),
            "channels": dict(self.channels),
            "tags": self.tags.to_json(),
            "authors": self.authors.to_json(),
            "sources": self.sources.to_json(),
            "prior": {k: dict(v) for k, v in self.prior.items()},
            "recent_items": list(self._recent),
            "event_ids": list(self._ids),
            "segment": self.segment,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], rules: ProfileRules) -> Profile:
        """The inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If ``data`` was written in another layout version.
        """
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"profile data of version {data.get('version')!r} cannot be read; "
                f"this version reads {FORMAT_VERSION} (rebuild the profiles from the events)"
            )
        p = cls(str(data["key"]), rules)
        p.counts = {str(k): int(v) for k, v in data["counts"].items()}
        p.first_ts, p.last_ts = data["first_ts"], data["last_ts"]
        p.sessions, p.session_micros = int(data["sessions"]), int(data["session_micros"])
        p.session_start, p.session_last = data["session_start"], data["session_last"]
        p._frequency, p._frequency_ref = float(data["frequency"][0]), int(data["frequency"][1])
        p._days = dict.fromkeys(int(d) for d in data["active_days"])
        p.dwell_sum, p.dwell_count = float(data["dwell"][0]), int(data["dwell"][1])
        p.scroll_sum, p.scroll_count = float(data["scroll"][0]), int(data["scroll"][1])
        p.purchase_amount = float(data["purchase_amount"])
        p.devices = {str(k): int(v) for k, v in data["devices"].items()}
        p.channels = {str(k): int(v) for k, v in data["channels"].items()}
        p.tags = DecayedScores.from_json(data["tags"], rules.half_life)
        p.authors = DecayedScores.from_json(data["authors"], rules.half_life)
        p.sources = DecayedScores.from_json(data["sources"], rules.half_life)
        prior = data["prior"]
        tags, authors, sources = ({str(a): float(b) for a, b in prior[k].items()} for k in _KINDS)
        p._prior = (tags, authors, sources)
        recent = list(data["recent_items"])
        p._recent = dict.fromkeys(recent[-rules.recent_items :] if rules.recent_items else [])
        ids = list(data["event_ids"])
        p._ids = dict.fromkeys(ids[-rules.recent_event_ids :] if rules.recent_event_ids else [])
        p.segment = data["segment"]
        return p

    def copy(self) -> Profile:
        """An independent copy (what readers get, so updates do not change it under them)."""
        return Profile.from_dict(self.to_dict(), self.rules)

    def __repr__(self) -> str:
        return f"Profile(key={self.key!r}, events={self.events}, sessions={self.sessions})"
