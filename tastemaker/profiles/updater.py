"""The online profile updater: every stored event reaches its user's profile at once.

:class:`ProfileUpdater` keeps profiles in process, in a least-recently-used map bounded by
``ProfileSettings.capacity``. The API calls :meth:`ProfileUpdater.apply` with each batch right
after the store committed it.

New and missing profiles
    After :meth:`ProfileUpdater.rebuild` the updater knows every user that had stored events, so
    a user it has never seen is new: the profile starts empty, without a read of the store (the
    common case on a busy site, and it keeps ingestion fast). A user whose profile was evicted,
    or any user when no rebuild ran (``rebuild_on_start = false``), is restored from the stored
    events (the ``history_limit`` newest) and explicit preferences first, at the cost of two
    reads of the store.

Retries
    The store answers a batch with counts, not with which events were new, so ``apply`` takes
    the whole batch and each profile skips event ids it has seen among its latest
    ``ProfileSettings.recent_event_ids``. A retry of an event older than that is counted twice.

Threads
    One lock guards the map and the profiles; reading the store (restoring profiles, resolving
    unknown items) happens outside it. Readers get copies (:meth:`get`, :meth:`profile`).

Processes
    The profiles live in one process. Several API workers each keep their own and each sees only
    the events it ingested after its rebuild (events another process stores, e.g. ``tastemaker
    import`` into a running deployment, arrive with the next restart); run one worker, or share
    the profiles through Redis when it lands. Items are different: one the index does not know
    is looked up in the store when an event needs its tags (``LOOKUPS_PER_BATCH`` per batch at
    most; again after ``MISSING_ITEM_TTL`` seconds if it was not there), so items imported by
    another process reach the affinities within minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from tastemaker.catalog.events import Event
from tastemaker.catalog.users import Preferences
from tastemaker.config import Settings
from tastemaker.profiles.item_index import ItemIndex
from tastemaker.profiles.profile import Profile
from tastemaker.profiles.rebuild import store_profiles
from tastemaker.profiles.rules import ProfileEvent, ProfileRules
from tastemaker.storage.base import DataStore
from tastemaker.storage.types import to_micros

log = logging.getLogger(__name__)

Assign = Callable[[Profile], str | None]
"""Segment assignment: called with a profile after it changed; its result becomes
``profile.segment``."""

MISSING_ITEM_TTL = 300.0
"""Seconds an item id the catalog did not know is not looked up again."""
LOOKUPS_PER_BATCH = 64
"""Items unknown to the index :meth:`ProfileUpdater.apply` looks up in the store per batch."""
_MAX_MISSING = 100_000


class ProfileUpdater:
    """Online profiles of the users of one store.

    Parameters
    ----------
    settings
        The deployment's settings (``settings.profiles`` and the feedback policy).
    store
        The durable store: user keys, stored events and preferences to restore profiles from,
        items the index does not know yet.
    index
        Item metadata; a new, empty index when not given (fill it with :meth:`rebuild` or
        ``index.refresh(store)``).

    Attributes
    ----------
    assign : Callable[[Profile], str | None] or None
        Segment assignment, set by segmentation (preferably through :meth:`set_assign`, which
        also assigns the profiles already in memory): called under the updater's lock once per
        profile and batch, after the batch's events were applied, for every profile after a
        rebuild, and when a profile is restored or its preferences change; keep it cheap. An
        exception is logged and leaves the segment as it was.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from tastemaker.catalog.events import Event
    >>> from tastemaker.config import Settings
    >>> from tastemaker.storage import open_store
    >>> settings = Settings(database_url="sqlite://", secret_keys=["k" * 32])
    >>> store = open_store(settings)
    >>> updater = ProfileUpdater(settings, store)
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> batch = [Event(event_id="e1", user_id="alice", item_id="a1", type="view")]
    >>> updater.apply(batch, now), updater.apply(batch, now)      # the retry changes nothing
    (1, 0)
    >>> updater.get(store.snapshot.user_key("alice")).counts
    {'view': 1}
    >>> store.close()
    """

    def __init__(
        self, settings: Settings, store: DataStore, index: ItemIndex | None = None
    ) -> None:
        self.rules = ProfileRules.from_settings(settings)
        self.store = store
        self.index = index if index is not None else ItemIndex(settings.profiles.tag_parent_decay)
        self.capacity = settings.profiles.capacity
        self.history_limit = settings.profiles.history_limit
        self.assign: Assign | None = None
        self._profiles: OrderedDict[str, Profile] = OrderedDict()
        self._lock = threading.RLock()
        self._keys: dict[str, str] = {}
        self._missing_items: dict[str, float] = {}
        # After a rebuild: hashes of the user keys that ever had a profile here (a profile whose
        # key is absent is new and needs no restore). About 60 bytes per user.
        self._complete = False
        self._known: set[int] = set()

    # ---------------------------------------------------------------------------------------
    # Writing

    def user_key(self, user_id: str) -> str:
        """The user key of an external id (cached: pseudonymizing costs an HMAC)."""
        key = self._keys.get(user_id)
        if key is None:
            if len(self._keys) >= self.capacity:
                self._keys.clear()
            key = self._keys[user_id] = self.store.snapshot.user_key(user_id)
        return key

    def apply(self, events: Sequence[Event], received: datetime) -> int:
        """Fold a stored batch into the profiles.

        Parameters
        ----------
        events
            The events exactly as the store accepted them (retried ones included).
        received
            When the batch was received: the time of events without a timestamp.

        Returns
        -------
        int
            Events applied; retries recognized by their id are not counted.
        """
        if not events:
            return 0
        fallback = to_micros(received)
        groups: dict[str, list[ProfileEvent]] = {}
        users: dict[str, str] = {}
        keys = self._keys
        make = ProfileEvent._make  # the hot loop of ingestion: a thousand events per batch
        for e in events:
            key = keys.get(e.user_id) or self.user_key(e.user_id)
            ts = fallback if e.timestamp is None else to_micros(e.timestamp)
            event = make((e.event_id, e.item_id, e.type, e.value, ts, e.channel, e.context.device))
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
                users[key] = e.user_id
            group.append(event)
        self._resolve_items((ev for group in groups.values() for ev in group), LOOKUPS_PER_BATCH)
        with self._lock:
            missing = [k for k in groups if k not in self._profiles]
        restored = {k: self._load(users[k], k) for k in missing}
        get = self.index.get
        applied = 0
        with self._lock:
            for key, group in groups.items():
                profile = self._profiles.get(key)
                seen: set[str] = set()
                if profile is None:
                    profile, seen = restored.get(key) or self._load(users[key], key)
                    self._insert(profile)
                else:
                    self._profiles.move_to_end(key)
                for event in group:
                    if event.event_id in seen:
                        continue  # already replayed from the store
                    item = None if event.item_id is None else get(event.item_id)
                    applied += profile.update(event, item)
                if self.assign is not None:
                    self._assign(profile)
            self._evict()
        return applied

    def apply_preferences(self, user_id: str, preferences: Preferences | None) -> None:
        """Replace the explicit-preference prior of a user's profile (call after the user record
        changed). A profile not in memory is left alone (it reads the preferences when it is
        restored), unless the user is new: then an empty profile with the prior is created."""
        key = self.user_key(user_id)
        with self._lock:
            profile = self._profiles.get(key)
            if profile is None:
                if not self._complete or hash(key) in self._known:
                    return
                profile = self._insert(Profile(key, self.rules))
                self._evict()
            profile.apply_preferences(preferences)
            self._assign(profile)

    def set_assign(self, assign: Assign | None) -> None:
        """Install (or remove) the segment assignment and assign every profile in memory."""
        with self._lock:
            self.assign = assign
            for profile in self._profiles.values():
                profile.segment = None
                self._assign(profile)

    def forget(self, user_id: str) -> bool:
        """Drop a user's profile (after the user was erased); ``False`` if none was in memory."""
        key = self.user_key(user_id)
        with self._lock:
            self._keys.pop(user_id, None)
            self._known.discard(hash(key))
            return self._profiles.pop(key, None) is not None

    def reload(self, user_id: str) -> Profile:
        """Restore a user's profile from the store now (after the stored history changed
        other than by events, e.g. an anonymous session was merged into it)."""
        key = self.user_key(user_id)
        with self._lock:
            self._profiles.pop(key, None)
            if self._complete:
                self._known.add(hash(key))
        return self.profile(user_id)

    def rebuild(self, store: DataStore | None = None) -> int:
        """Re-read the catalog and rebuild every profile from the stored events.

        Uses the same update as :meth:`apply`. When the store holds more users than
        ``capacity``, the most recently active ones are kept. Returns the number of profiles
        now in memory.

        Meant for start-up: the new profiles replace the old ones at the end, so events applied
        while the store is being read may be missing until the next rebuild.
        """
        store = store if store is not None else self.store
        started = time.perf_counter()
        self.index.refresh(store)
        profiles = store_profiles(store, self.rules, self.index)
        ordered = sorted(profiles.values(), key=lambda p: p.last_ts or 0)[-self.capacity :]
        for profile in ordered:
            self._assign(profile)
        with self._lock:
            self._profiles = OrderedDict((p.key, p) for p in ordered)
            self._known = {hash(key) for key in profiles}
            self._complete = True
            self._missing_items.clear()
        log.debug(
            "rebuilt %d profiles over %d items in %.2f s",
            len(ordered),
            len(self.index),
            time.perf_counter() - started,
        )
        return len(ordered)

    # ---------------------------------------------------------------------------------------
    # Reading

    def get(self, user_key: str) -> Profile | None:
        """A copy of the profile in memory under ``user_key``, or ``None``."""
        with self._lock:
            profile = self._profiles.get(user_key)
            return None if profile is None else profile.copy()

    def profile(self, user_id: str, preferences: Preferences | None = None) -> Profile:
        """A copy of a user's profile, restored from the store if it is not in memory.

        ``preferences``, when given (e.g. just read with the user record), replace the prior
        first, so the result reflects the user's current choices.
        """
        key = self.user_key(user_id)
        with self._lock:
            present = key in self._profiles
        restored = None if present else self._load(user_id, key)
        with self._lock:
            profile = self._profiles.get(key)
            if profile is None:
                profile = self._insert((restored or self._load(user_id, key))[0])
                self._evict()
            else:
                self._profiles.move_to_end(key)
            if preferences is not None:
                profile.apply_preferences(preferences)
            if preferences is not None or restored is not None:
                self._assign(profile)
            return profile.copy()

    def snapshot(self) -> list[Profile]:
        """Copies of every profile in memory (for offline work such as fitting segments)."""
        with self._lock:
            return [p.copy() for p in self._profiles.values()]

    def __iter__(self) -> Iterator[str]:
        """The user keys of the profiles in memory (as of the call), least recently used
        first."""
        with self._lock:
            return iter(list(self._profiles))

    def __len__(self) -> int:
        return len(self._profiles)

    def __contains__(self, user_key: object) -> bool:
        return user_key in self._profiles

    # ---------------------------------------------------------------------------------------
    # Internals

    def _assign(self, profile: Profile) -> None:
        if self.assign is None:
            return
        try:
            profile.segment = self.assign(profile)
        except Exception:
            # A failing segment model must not fail ingestion: keep the previous segment.
            log.exception("segment assignment failed for a profile; its segment is unchanged")

    def _evict(self) -> None:
        while len(self._profiles) > self.capacity:
            self._profiles.popitem(last=False)

    def _insert(self, profile: Profile) -> Profile:
        self._profiles[profile.key] = profile
        if self._complete:
            self._known.add(hash(profile.key))
        return profile

    def _load(self, user_id: str, key: str) -> tuple[Profile, set[str]]:
        """A profile for a user not in memory, and the ids of the stored events replayed."""
        profile = Profile(key, self.rules)
        seen: set[str] = set()
        if self._complete and hash(key) not in self._known:
            return profile, seen  # a new user: nothing stored to restore
        record = self.store.users.get(user_id)
        if record is None:
            return profile, seen
        profile.apply_preferences(record.preferences)
        if self.history_limit:
            history = self.store.events.for_user(user_id, limit=self.history_limit)
            events = [
                ProfileEvent(
                    e.event_id,
                    e.item_id,
                    e.type,
                    e.value,
                    to_micros(e.received_at if e.timestamp is None else e.timestamp),
                    e.channel,
                    e.context.device,
                )
                for e in reversed(history)  # newest first → oldest first
            ]
            self._resolve_items(events, None)
            get = self.index.get
            for event in events:
                seen.add(event.event_id or "")
                profile.update(event, None if event.item_id is None else get(event.item_id))
        return profile, seen

    def _resolve_items(self, events: Iterable[ProfileEvent], limit: int | None) -> None:
        """Look up items the index does not know (added by another process since it was
        built), for the events whose affinities need them: at most ``limit`` reads of the store,
        so a burst of events on unknown items does not stall ingestion."""
        index, weight = self.index, self.rules.weight
        unknown = {
            e.item_id
            for e in events
            if e.item_id is not None and e.item_id not in index and weight(e.type, e.value)
        }
        if not unknown:
            return
        now = time.monotonic()
        wanted = [i for i in unknown if self._missing_items.get(i, 0.0) <= now]
        if limit is not None:
            wanted = wanted[:limit]  # the rest are tried with a later batch
        if not wanted:
            return
        found = self.store.items.get_many(wanted)  # one round trip for all of them
        index.put(found)
        for record in found:
            self._missing_items.pop(record.id, None)
        known = {r.id for r in found}
        for item_id in wanted:
            if item_id not in known:
                if len(self._missing_items) >= _MAX_MISSING:
                    self._missing_items.clear()
                self._missing_items[item_id] = now + MISSING_ITEM_TTL
